"""Section 13, indexes larger than memory: `index_from_shards` within a memory budget, build and query in fresh processes."""
from __future__ import annotations
import json, os, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
import faiss
from .common import _timed
from .knn import MatchedVectors

_INDEX_STEP = r'''
import json, sys, time, numpy as np
from retailklip.knn import KNNClassifier
from retailklip.shards import index_from_shards
a = json.loads(sys.argv[1]); t = time.perf_counter(); out = {}
if a['do'] == 'build':
    k = index_from_shards(a['shards'], max_memory=a['budget']); out['build_s'] = time.perf_counter() - t; k.save(a['index']); out['built'] = k.built
elif a['do'] == 'query':
    k = KNNClassifier.load(a['index']); q = np.load(a['queries']); out['load_s'] = time.perf_counter() - t
    k.search(q[:10], 10); t = time.perf_counter(); I = k.search(q, 10)[1]; out['qps'] = len(q)/(time.perf_counter() - t); np.save(a['result'], I)
out['peak_mb'] = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])/1024  # this program's peak (ru_maxrss also counts the parent's, copied at fork)
print(json.dumps(out))
'''

def _index_step(**a)->dict:
    "Run one step of `big_index` (build, query, or only the imports) in a fresh Python process: its JSON line, with the process's peak RSS."
    p = subprocess.run([sys.executable, '-c', _INDEX_STEP, json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in a.items()})], capture_output=True, text=True)
    if p.returncode: raise RuntimeError(f"index step {a['do']} failed: {(p.stderr.strip().splitlines() or [p.returncode])[-1]}")
    return json.loads(p.stdout.strip().splitlines()[-1])

def _recall(I:np.ndarray, truth:np.ndarray)->tuple: # (recall@1, recall@k)
    return float((I[:, 0] == truth[:, 0]).mean()), float(np.mean([len(set(a) & set(b))/truth.shape[1] for a, b in zip(I, truth)]))

def big_index(real:tuple, # (embeddings, products) that the library's model made of rendered images: the statistics to match
              n:int=10_000_000, n_subset:int=1_000_000, dim:int=512, budget:str='3G', subset_budget:str='1G',
              n_queries:int=1000, shard_size:int=10_000, work=None)->dict:
    "Index `n` x `dim` drawn vectors from shards within `budget`, build and query in fresh processes (peak RSS); recall@1/@10 and queries/s against exact search on the first `n_subset`."
    from retailklip.shards import write_shards, SHARDS_META, shard_files
    from retailklip.core import parse_size
    gen = MatchedVectors(*real, dim=dim)
    with tempfile.TemporaryDirectory(dir=work) as d:
        d = Path(d); t = time.perf_counter()
        write_shards(d/'vec', (gen.shard(i, shard_size) for i in range(n//shard_size)), fingerprint='drawn', model='matched')
        write_s = time.perf_counter() - t
        sub = d/'sub'; (sub/'img_emb').mkdir(parents=True); (sub/'metadata').mkdir()
        for i in range(n_subset//shard_size):
            for f in shard_files(d/'vec', i): (sub/f.parent.name/f.name).symlink_to(f)
        meta = json.loads((d/'vec'/SHARDS_META).read_text()); (sub/SHARDS_META).write_text(json.dumps(dict(meta, n=n_subset)))
        q = gen.draw(np.random.default_rng(1).choice(n_subset//gen.per, n_queries, replace=False), key=10**9); np.save(d/'q.npy', q)
        flat = faiss.IndexFlatIP(dim)
        for i in range(n_subset//shard_size): flat.add(np.load(shard_files(sub, i)[0]))
        truth, ts = _timed(lambda: flat.search(q, 10)[1], warmup=True); del flat
        base = _index_step(do='imports')['peak_mb']
        rows = [dict(n=n_subset, index='exact (faiss Flat, in memory)', qps=n_queries/ts, recall1=1., recall10=1.)]
        for size, folder, b in ((n_subset, sub, subset_budget), (n, d/'vec', budget)):
            bld = _index_step(do='build', shards=folder, budget=b, index=d/f'i{size}.rk')
            qry = _index_step(do='query', index=d/f'i{size}.rk', queries=d/'q.npy', result=d/f'r{size}.npy')
            r1, r10 = _recall(np.load(d/f'r{size}.npy'), truth) if size == n_subset else (None, None)
            bt, peak = bld['built'], max(bld['peak_mb'], qry['peak_mb'])
            rows.append(dict(n=size, index=f"IVF-PQ nlist={bt['nlist']} m={bt['m']} nprobe={bt['nprobe']}, re-score {bt['rerank']}", qps=qry['qps'],
                             recall1=r1, recall10=r10, budget_mb=parse_size(b)/2**20, build_peak_mb=bld['peak_mb'], query_peak_mb=qry['peak_mb'],
                             index_mb=peak - base, build_s=bld['build_s'], index_file_mb=os.path.getsize(d/f'i{size}.rk')/2**20,
                             within_budget=bool((peak - base)*2**20 <= parse_size(b))))
    return dict(vectors=n, dim=dim, vectors_gib=n*dim*4/2**30, write_s=write_s, imports_peak_mb=base, rows=rows,
                met=all(r.get('within_budget', True) for r in rows) and rows[1]['recall1'] >= .95)
