"""Section 4, kNN search: the library default against faiss Flat / IVF / HNSW, scikit-learn and numpy, on Gaussian, rendered and matched vectors."""
from __future__ import annotations
import time
from pathlib import Path
import numpy as np, pandas as pd
import faiss
from .common import _timed, clustered_vectors

def _interleaved(opts:list, n_queries:int, truth:np.ndarray, rounds:int=16, budget:float=1.)->list:
    "Rows of queries/s and recall@1 for every option's `search`: each runs once untimed (thread pools, caches; its result gives the recall), then all are timed in up to `rounds` rounds, one option after the other in a new random order each round, each keeping its fastest run: a drift of the machine's speed reaches every option alike. A round runs an option for `budget`/`rounds` seconds (at least once); an option that has run `budget` seconds sits out the rest."
    found, best, spent = [o['search']() for o in opts], [float('inf')]*len(opts), [0.]*len(opts); rng = np.random.default_rng(0)
    for _ in range(rounds):
        for i in rng.permutation(len(opts)):  # a new order each round: no option always follows the same one
            if spent[i] < budget: b, s = _timed_best(opts[i]['search'], budget/rounds); best[i], spent[i] = min(best[i], b), spent[i] + s
    return [dict({k: v for k, v in o.items() if k not in ('search', 'every')}, qps=n_queries/best[i], recall1=float((np.asarray(found[i]).ravel() == truth).mean()))
            for i, o in enumerate(opts)]

def _timed_best(f, budget:float)->tuple:
    "(the fastest of repeated runs of f (at least one) in `budget` seconds, the seconds they took)."
    best, spent = float('inf'), 0.
    while spent < budget:
        t = time.perf_counter(); f(); s = time.perf_counter() - t; best, spent = min(best, s), spent + s
    return best, spent

def knn_search(n:int, dim:int=512, n_queries:int=1000, seed:int=0,
               data:tuple|None=None, # (references, queries) to search instead of clustered Gaussian vectors
               vectors:str='gaussian', # what the vectors are, for the tables
               rounds:int=16, # timing rounds over all options
               budget:float=2., # seconds of timed runs per option, over all rounds
               n_time:int=1000, # queries timed (the first ones); the approximate options' recall is measured on all of them
               race_pairs:int=64 # pairs of rounds of `race` between the default and each option whose recall@1 reads 0.99 or more at 0.8 of its speed or more
              )->pd.DataFrame:
    "Build time, queries/s, recall@1 and bytes/vector of each search option at `n` references, and of the library default."
    from sklearn.neighbors import NearestNeighbors
    from retailklip.knn import KNNClassifier, race
    x, qa = data if data is not None else clustered_vectors(n, dim, n_queries, seed); opts = []
    x, qa = x/np.linalg.norm(x, axis=1, keepdims=True), qa/np.linalg.norm(qa, axis=1, keepdims=True); n, dim = x.shape; q = qa[:n_time]
    def add(method, setting, build_s, search, bytes_per_vector, approx=True):  # search: queries -> rows found
        opts.append(dict(method=method, setting=setting, build_s=build_s, search=lambda: search(q), every=(lambda: search(qa)) if approx else None, bytes_per_vector=bytes_per_vector))
    flat, tb = _timed(lambda: (lambda i: (i.add(x), i)[1])(faiss.IndexFlatIP(dim)))
    add('faiss Flat', 'exact', tb, lambda q: flat.search(q, 1)[1], 4*dim, approx=False)
    # the library default, exactly as `KNNClassifier()` builds it (index kind by size, calibrated nprobe / efSearch)
    knn, tb = _timed(lambda: KNNClassifier(dim).fit(x, np.arange(n)))
    b = knn.built; kind = b['kind']; setting = f"auto: {kind}" + (f" nlist={b['nlist']} nprobe={b['nprobe']}" if kind == 'ivf' else f" M=32 efSearch={b['ef']}" if kind == 'hnsw' else '')
    own = lambda: (setattr(knn.index, 'nprobe', b['nprobe']) if kind == 'ivf' else setattr(knn.index.hnsw, 'efSearch', b['ef']) if kind == 'hnsw' else None)
    add('retailklip default', setting, tb, lambda q: (own(), knn.search(q, 1)[1])[1], 4*dim + {'ivf': 8, 'hnsw': 2*32*4}.get(kind, 0))
    # the faiss rows of the kind the default kept search its index (the same structure at each setting); the other kind is built here
    ivf, tb = (knn.index, tb) if kind == 'ivf' else _timed(lambda: KNNClassifier(dim, 'ivf', nprobe=1).fit(x, np.arange(n)).index)
    for p in (1, 2, 4, 8, 16, 32, 64):
        if p <= ivf.nlist: add('faiss IVF', f'nlist={ivf.nlist} nprobe={p}', tb, lambda q, p=p: (setattr(ivf, 'nprobe', p), ivf.search(q, 1)[1])[1], 4*dim + 8)
    def build_hnsw():
        i = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT); i.add(x); return i
    hnsw, tb = (knn.index, b['considered']['hnsw_build_s']) if kind == 'hnsw' else _timed(build_hnsw)
    for ef in (16, 32, 64, 128, 256):
        add('faiss HNSW', f'M=32 efSearch={ef}', tb, lambda q, ef=ef: (setattr(hnsw.hnsw, 'efSearch', ef), hnsw.search(q, 1)[1])[1], 4*dim + 2*32*4)
    nn_, tb = _timed(lambda: NearestNeighbors(n_neighbors=1, algorithm='brute', metric='cosine').fit(x))
    add('sklearn brute', 'cosine', tb, lambda q: nn_.kneighbors(q)[1], 4*dim, approx=False)
    def np_search(q):
        return np.concatenate([np.argpartition(-(q[i:i+256] @ x.T), 0, axis=1)[:, 0] for i in range(0, len(q), 256)])
    add('numpy matmul', 'argpartition', 0., np_search, 4*dim, approx=False)
    truth = flat.search(q, 1)[1][:, 0]; rows = _interleaved(opts, len(q), truth, rounds, budget)
    every = flat.search(qa, 1)[1][:, 0]  # exact answers to all queries: the approximate options' recall is measured on all of them
    for r, o in zip(rows, opts):
        r['recall_queries'] = len(q)
        if o['every'] is not None: r['recall1'], r['recall_queries'] = float((np.asarray(o['every']()).ravel() == every).mean()), len(qa)
    df = pd.DataFrame(rows).assign(n=n, vectors=vectors)
    df['library_default'] = df.method == 'retailklip default'; i_d = int(np.flatnonzero(df.library_default)[0])
    df['default_over'] = np.nan  # the default's speed over an option, by `race` (run back to back), for those that could beat it
    for i in np.flatnonzero((df.recall1 >= .99) & ~df.library_default & (df.qps >= .8*df.qps[i_d])):
        df.loc[i, 'default_over'] = race(opts[i_d]['search'], opts[i]['search'], race_pairs)[0]
    return df

def reaches(df:pd.DataFrame, min_recall:float=.99)->pd.Series:
    "Whether each row's recall@1 `clears` `min_recall` (by one standard error over its `recall_queries`; the point estimate where the table has no such column): the rule `KNNClassifier` calibrates by."
    from retailklip.knn import clears
    return clears(df.recall1, df['recall_queries'] if 'recall_queries' in df else np.inf, min_recall)

def best_per_method(df:pd.DataFrame, min_recall:float=.99)->pd.DataFrame:
    "Per size and method, the fastest setting whose recall@1 `reaches` `min_recall`."
    df = df if 'vectors' in df else df.assign(vectors='gaussian'); ok = df[reaches(df, min_recall)].drop(columns='default_over', errors='ignore')
    return ok.loc[ok.groupby(['vectors', 'n', 'method']).qps.idxmax()].sort_values(['vectors', 'n', 'qps'], ascending=[False, True, False]).reset_index(drop=True)

def paired_speed(d, o)->float:
    "Speed of the default's row `d` over row `o`: o's `default_over` (the default and o raced, `race`) where measured, else the ratio of their queries/s."
    v = o.get('default_over', np.nan); return float(d.qps/o.qps if v is None or np.isnan(v) else v)

def default_verdict(df:pd.DataFrame, min_recall:float=.99)->pd.DataFrame:
    "Per size: the other option whose recall `reaches` `min_recall` that the library default is slowest against (`paired_speed`), the default's speed and recall, and whether the default reaches that recall at 0.95 of that option's speed or more; `met_point` judges by the point estimates of recall instead."
    rows, df = [], df if 'vectors' in df else df.assign(vectors='gaussian')
    for (v, n), g in df.groupby(['vectors', 'n'], sort=False):
        d, others = g[g.library_default].iloc[0], g[~g.library_default]
        speed = others.apply(lambda o: paired_speed(d, o), axis=1)
        ok, ok_point = reaches(others, min_recall), others.recall1 >= min_recall
        top = others.loc[speed[ok].idxmin()]
        rows.append(dict(vectors=v, n=n, fastest=f"{top.method} ({top.setting})", fastest_qps=top.qps, default=d.setting,
                         default_qps=d.qps, default_recall1=d.recall1, **({'recall_queries': int(d.recall_queries)} if 'recall_queries' in g else {}), default_over_fastest=speed[ok].min(),
                         met=bool(reaches(g[g.library_default], min_recall).iloc[0] and speed[ok].min() >= .95),
                         met_point=bool(d.recall1 >= min_recall and speed[ok_point].min() >= .95)))
    return pd.DataFrame(rows)

_WORLDS = {}

def _render(item):
    "Render one chunk of `rendered_embeddings` (in a worker process; the world is built once per worker)."
    from retailklip.synth import make_world
    key, rows, root = item
    if key not in _WORLDS: _WORLDS.clear(); _WORLDS[key] = make_world(key[2], heldout_frac=0., seed=key[0], size=key[1], mean_shelf=10.)
    for i, sku, view, k in rows:
        p = Path(root)/sku/f'{view}_{k:03d}.jpg'
        if not p.exists(): p.parent.mkdir(parents=True, exist_ok=True); _WORLDS[key].image(i).save(p, quality=90)
    return len(rows)

def rendered_embeddings(n:int=100_000, # images (about 12 per product)
                        work:str|Path='.', # folder for the images, the run and the shards (kept: a second call reuses them)
                        size:int=64, seed:int=5, progress:bool=False)->tuple: # (embeddings (n, D), products)
    "Embeddings that the shipped mini-CLIP makes of `n` rendered product images, through `embed_to_shards`."
    from retailklip.synth import parallel_map, make_world
    from retailklip.shards import embed_to_shards, read_shards
    from retailklip.backbone import DEFAULT_MODEL, load_backbone
    from retailklip.train import save_run
    work = Path(work); root, run = work/f'images_{n}', work/'run'; key = (seed, size, n//10 + 1)
    im = make_world(key[2], heldout_frac=0., seed=seed, size=size, mean_shelf=10.).images.head(n)
    rows = list(zip(im.index, im.sku, im.view, im.k))
    parallel_map(_render, [(key, rows[i:i + 2000], str(root)) for i in range(0, len(rows), 2000)], progress=progress)
    if not (run/'config.json').exists(): save_run(load_backbone(*DEFAULT_MODEL), run)
    embed_to_shards(run, root, work/f'emb_{n}', engine='local', progress=progress)
    e, md = read_shards(work/f'emb_{n}'); return e, md['product'].to_numpy()

def rendered_knn_sets(e:np.ndarray, products, sizes=(10_000, 100_000), n_queries:int=1000, seed:int=0)->dict:
    "size -> (references, queries): the images of the first products (seeded order), `size` of them references and the queries (at most a fifth of the size) drawn uniformly among them."
    codes = pd.factorize(np.asarray(products))[0]; rng = np.random.default_rng(seed)
    rank = np.argsort(rng.permutation(codes.max() + 1)); order = np.argsort(rank[codes], kind='stable')
    out = {}
    for n in sizes:
        nq = min(n_queries, n//5); pool = order[:n + nq]; qi = np.sort(rng.choice(pool, nq, replace=False))  # queries spread over the whole set, as a store's are
        out[n] = (e[np.sort(pool[~np.isin(pool, qi)])], e[qi])
    return out

class MatchedVectors:
    "Vectors drawn to match real embeddings: product centres with the real centres' mean and covariance, images around them with the real within-product covariance, in `dim` dimensions (a random orthonormal embedding of the real space plus isotropic noise at the smallest real variance; a random projection to fewer)."
    def __init__(self, e:np.ndarray, products, dim:int|None=None, per_product:int=12, seed:int=0):
        e = e/np.linalg.norm(e, axis=1, keepdims=True); d0 = e.shape[1]; dim = dim or d0
        codes = pd.factorize(np.asarray(products))[0]; cnt = np.bincount(codes)
        M = np.zeros((cnt.size, d0)); np.add.at(M, codes, e); M /= cnt[:, None]; R = e - M[codes]
        self.mu, cw = M.mean(0), np.cov(R.T)
        self.Lb, self.Lw = np.linalg.cholesky(np.cov((M - self.mu).T) + 1e-9*np.eye(d0)), np.linalg.cholesky(cw + 1e-9*np.eye(d0))
        self.tail = float(np.linalg.eigvalsh(cw).min().clip(0))**.5 if dim > d0 else 0.
        Q = np.linalg.qr(np.random.default_rng(seed).standard_normal((max(dim, d0), min(dim, d0))))[0]
        self.P = Q if dim >= d0 else Q.T  # (dim, d0): an orthonormal embedding (dim > d0) or projection (dim < d0)
        self.dim, self.per, self.seed = dim, per_product, seed
    def draw(self, products:np.ndarray, key:int)->np.ndarray:
        "One image of each product number (float32 unit rows); a product's centre depends only on its number and the seed."
        z = np.stack([np.random.default_rng([self.seed, 1, int(p)]).standard_normal(len(self.mu)) for p in products])
        rng = np.random.default_rng([self.seed, 2, key]); c = self.mu + z @ self.Lb.T
        x = (c + rng.standard_normal(c.shape) @ self.Lw.T) @ self.P.T
        if self.tail: x += self.tail*rng.standard_normal((len(products), self.dim))
        return (x/np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    def shard(self, i:int, size:int)->tuple:
        "Shard `i`: (`size` vectors, table of path and product), `per_product` images per product."
        p = i*(size//self.per) + np.arange(size)//self.per
        return self.draw(p, i), pd.DataFrame(dict(path=[f'v{i}_{j}' for j in range(size)], product=[f'p{v}' for v in p]))
    def sets(self, n:int, n_queries:int=1000, shard_size:int=10_000)->tuple:
        "(n references, queries of products among them)."
        x = np.concatenate([self.shard(i, min(shard_size, n - i*shard_size))[0] for i in range(-(-n//shard_size))])
        q = self.draw(np.random.default_rng(self.seed).choice(n//self.per, n_queries, replace=False), key=10**9)
        return x, q
