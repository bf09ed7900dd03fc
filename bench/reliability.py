"""Section 10, reliability: corrupted and crafted files (byte noise, structured faults, pickles that run a command) through the loaders and the CLI."""
from __future__ import annotations
import contextlib, io, json, os, shutil, tempfile, time, zipfile
import multiprocessing as mp
from pathlib import Path
import numpy as np, pandas as pd, torch
import faiss
from .common import _jpeg_tree

class _Evil:
    "Unpickling this runs `touch marker`: a stand-in for a crafted file."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (os.system, (f'touch {self.marker}',))

def byte_mutant(data:bytes, rng)->bytes:
    "One corrupted copy of `data`: truncated, bits flipped, a run overwritten, junk appended, or the tail zeroed."
    b, kind = bytearray(data), int(rng.integers(5)); j = int(rng.integers(max(1, len(b))))
    if kind == 0: return bytes(b[:j])
    if kind == 1:
        for _ in range(int(rng.integers(1, 9))): i = int(rng.integers(len(b))); b[i] ^= 1 << int(rng.integers(8))
    elif kind == 2: L = int(rng.integers(1, 64)); b[j:j + L] = rng.bytes(L)
    elif kind == 3: b += rng.bytes(int(rng.integers(1, 256)))
    else: b[j:] = bytes(len(b) - j)
    return bytes(b)

_ODD = [None, -1, 0, 'x', [1, 2], {}, 1e308, 2**40, True, '../../etc/passwd', 'hf-hub:someone/x']

def _json_of(a:np.ndarray):
    "(the JSON an array holds, how to write it back) or None."
    try:
        if a.dtype == np.uint8: return json.loads(a.tobytes().decode()), lambda v: np.frombuffer(json.dumps(v).encode(), np.uint8)
        if a.dtype.kind == 'U' and a.ndim == 0: return json.loads(str(a)), lambda v: np.array(json.dumps(v))
    except (ValueError, UnicodeDecodeError): return None

def json_mutant(v, rng):
    "`v` (parsed JSON) with one field deleted or given an odd value, or the whole value replaced."
    if isinstance(v, dict) and v and rng.random() < .9:
        v = dict(v); k = list(v)[int(rng.integers(len(v)))]
        if rng.random() < .3: v.pop(k)
        else: v[k] = _ODD[int(rng.integers(len(_ODD)))]
        return v
    if isinstance(v, list) and v and rng.random() < .7:
        v = list(v); i = int(rng.integers(len(v))); v[i] = json_mutant(v[i], rng) if isinstance(v[i], (dict, list)) else _ODD[int(rng.integers(len(_ODD)))]; return v
    return _ODD[int(rng.integers(len(_ODD)))]

def npz_mutant(arrays:dict, rng, marker)->bytes:
    "An `.npz` whose arrays are changed in structure: a member dropped or swapped, a dtype / size / value changed, a JSON field made odd, a pickled object, or compression."
    d, keys, kind = dict(arrays), list(arrays), int(rng.integers(8)); k = keys[int(rng.integers(len(keys)))]
    if kind == 0: d.pop(k)
    elif kind == 1 and len(keys) > 1: a, b = rng.choice(keys, 2, replace=False); d[a], d[b] = d[b], d[a]
    elif kind == 2: d[k] = np.asarray(d[k]).astype(str(rng.choice(['int8', 'float16', 'int64', 'float64'])), copy=True) if d[k].dtype.kind != 'U' else np.array(3)
    elif kind == 3: f = np.asarray(d[k]).reshape(-1); d[k] = f[:max(0, f.size - int(rng.integers(1, 5)))]
    elif kind == 4: d[k] = np.array([_Evil(marker)], dtype=object)
    elif kind == 5:
        js = [(kk, _json_of(np.asarray(v))) for kk, v in d.items()]; js = [(kk, j) for kk, j in js if j is not None]
        if js: kk, (v, back) = js[int(rng.integers(len(js)))]; d[kk] = back(json_mutant(v, rng))
    elif kind == 6:
        fl = [kk for kk, v in d.items() if np.asarray(v).dtype.kind == 'f' and np.asarray(v).size]
        if fl: a = np.array(d[fl[0]], copy=True); a.reshape(-1)[rng.integers(a.size, size=3)] = rng.choice([np.nan, np.inf, -np.inf]); d[fl[0]] = a
    buf = io.BytesIO(); (np.savez_compressed if kind == 7 else np.savez)(buf, **d); return buf.getvalue()

CLEAR = (FileNotFoundError, ValueError, RuntimeError, OSError)  # what the CLI turns into a one-line error (exit 2)

def _child(conn, make, loader, cases, marker):
    import faiss; torch.set_num_threads(1); faiss.omp_set_num_threads(1)  # OpenMP thread pools do not survive fork
    for i in cases:
        p = None
        try: p = make(i); r = loader(p); r = r if isinstance(r, tuple) and len(r) == 2 and r[0] in OUTCOMES else ('loaded', '')  # a loader may judge its case itself (`cli_case`)
        except CLEAR as e: r = ('refused', str(e)[:300]) if p is not None and str(p) in str(e) else ('unclear', f'{type(e).__name__}: {str(e)[:300]}')
        except BaseException as e: r = ('traceback', f'{"" if p is not None else "making the case: "}{type(e).__name__}: {str(e)[:300]}')
        if os.path.exists(marker): r = ('code_run', r[1]); os.remove(marker)
        conn.send(r)

def run_cases(make, loader, n:int, marker, timeout:float=60.)->list:
    "Build case i with `make(i)` and hand it to `loader` (which may return its own (outcome, message)), in forked children; a child that dies or hangs is counted and replaced. [(outcome, message)]."
    out, ctx, k = [], mp.get_context('fork'), 0
    while k < n:
        a, b = ctx.Pipe(False); pr = ctx.Process(target=_child, args=(b, make, loader, range(k, n), marker)); pr.start(); b.close()
        while k < n:
            if not a.poll(timeout): out.append(('hang', '')); k += 1; break
            try: out.append(a.recv())
            except EOFError: out.append(('crash', '')); k += 1; break
            k += 1
        pr.kill(); pr.join(); a.close()
    return out

def _run_folder_case(good:Path, work:Path, marker, seed:int):
    "Case i: a copy of run folder `good` with config.json or model.pt corrupted, or model.pt replaced by a crafted pickle or wrong shapes."
    def make(i):
        rng, p = np.random.default_rng([seed, i]), work/'case_run'; shutil.rmtree(p, ignore_errors=True); shutil.copytree(good, p)
        kind = i % 4
        if kind == 0: (p/'config.json').write_bytes(byte_mutant((p/'config.json').read_bytes(), rng))
        elif kind == 1: (p/'config.json').write_text(json.dumps(json_mutant(json.loads((p/'config.json').read_text()), rng)))
        elif kind == 2: (p/'model.pt').write_bytes(byte_mutant((p/'model.pt').read_bytes(), rng))
        elif rng.random() < .5: torch.save({'state_dict': {'visual.proj': _Evil(marker)}}, p/'model.pt')
        else:
            sd = torch.load(good/'model.pt', weights_only=True)['state_dict']; k = list(sd)[int(rng.integers(len(sd)))]
            sd[k] = sd[k].reshape(-1)[:1]; torch.save({'state_dict': sd}, p/'model.pt')
        return p
    return make

def _npz_case(good:Path, work:Path, marker, seed:int):
    "Case i: a copy of array file `good`, byte-level corrupted (odd i) or changed in structure (even i)."
    data, arrays = good.read_bytes(), dict(np.load(good))
    def make(i):
        rng, p = np.random.default_rng([seed, i]), work/f'case{good.suffix}'
        p.write_bytes(byte_mutant(data, rng) if i % 2 else npz_mutant(arrays, rng, marker)); return p
    return make

OUTCOMES = ('refused', 'loaded', 'changed', 'unclear', 'traceback', 'crash', 'hang', 'code_run', 'unloadable', 'different')  # the first three keep the promise

def reliability(n:int=500, # corrupted copies of each kind of file (byte-level and array-level, through the loaders)
                seed:int=0, timeout:float=60., work:str|Path|None=None,
                structured:int=0 # cases of each structured format (`STRUCTURED`, through the CLI); 0: none
               )->dict:
    "Fuzz the product index, retrieval index and run folder loaders with `n` corrupted or crafted files each, and the structured formats with `structured` cases each through the CLI; count the outcomes."
    from retailklip.knn import KNNClassifier
    from retailklip.retrieval import RetrievalIndex
    from retailklip.train import save_run, load_run
    from retailklip.backbone import load_backbone
    res = {}
    with tempfile.TemporaryDirectory(dir=work) as d:
        d = Path(d); marker = d/'code_ran'; R = np.random.default_rng(seed).normal(size=(200, 32)).astype(np.float32)
        R /= np.linalg.norm(R, axis=1, keepdims=True)
        KNNClassifier(32, 'flat', fingerprint='abc', model='m').fit(R, [f'p{i//4}' for i in range(200)], meta=[dict(path=f'{i}.jpg') for i in range(200)]).save(d/'good.rk')
        RetrievalIndex(32, 'clip', 'abc', dict(model='rk-vit-mini')).add(torch.from_numpy(R[:, None]), [f'{i}.jpg' for i in range(200)]).save(d/'good.npz')
        save_run(load_backbone('rk-vit-tiny'), d/'good_run')
        runs = [('product index', _npz_case(d/'good.rk', d, marker, seed), KNNClassifier.load, n),
                ('retrieval index', _npz_case(d/'good.npz', d, marker, seed), RetrievalIndex.load, n),
                ('run folder', _run_folder_case(d/'good_run', d, marker, seed), load_run, n)]
        if structured:
            fx = fuzz_fixtures(d/'fx', seed + 5)
            runs += [(name, maker(fx, d, marker, seed), cli_case, structured) for name, maker in STRUCTURED.items()]
        for name, make, loader, m in runs:
            t = time.time(); out = run_cases(make, loader, m, marker, timeout); kinds = [o for o, _ in out]
            res[name] = dict(cases=m, **{k: kinds.count(k) for k in OUTCOMES}, seconds=time.time() - t,
                             examples={o: msg for o, msg in out[::-1] if o != 'loaded'},  # one message per outcome
                             faults=[f'{o}: {msg}' for o, msg in out if o in OUTCOMES[3:]][:20])
    return dict(files=res, met=all(sum(r[k] for k in OUTCOMES[3:]) == 0 for r in res.values()))

def _npz_raw(path)->dict:
    "The raw `.npy` bytes of each member of an `.npz`, by array name."
    with zipfile.ZipFile(path) as zf: return {i.filename[:-4]: zf.read(i) for i in zf.infolist()}

def _npz_bytes(members:dict)->bytes:
    "An uncompressed `.npz` of raw `.npy` members, each with its CRC computed afresh (so that a change reaches the parser)."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_STORED) as zf:
        for k, b in members.items(): zf.writestr(k + '.npy', b)
    return buf.getvalue()

def _npy(a)->bytes:
    "`a` as `.npy` bytes."
    b = io.BytesIO(); np.save(b, a, allow_pickle=isinstance(a, np.ndarray) and a.dtype.hasobject); return b.getvalue()

def header_mutant(raw:bytes, rng)->bytes:
    "`.npy` bytes with one character of the header changed: a quote made '#' (what numpy's parser chokes on), one bit flipped, or a digit of the shape changed."
    end = 10 + int.from_bytes(raw[8:10], 'little') if raw[6:7] == b'\x01' else 12 + int.from_bytes(raw[8:12], 'little')
    b, kind = bytearray(raw), int(rng.integers(3))
    spots = {0: [i for i in range(10, end) if b[i] == ord("'")], 2: [i for i in range(b.find(b'shape'), end) if chr(b[i]).isdigit()]}.get(kind) or list(range(10, end))
    i = int(rng.choice(spots))
    if kind == 0: b[i] = ord('#')
    elif kind == 1: b[i] ^= 1 << int(rng.integers(8))
    else: b[i] = ord(str(int(rng.integers(10))))
    return bytes(b)

_WRONG = {int: ['7', 7.5, True, None, [7], {}], float: ['0.5', True, None, [0.5], {}], str: [7, True, None, ['x'], {}, 2.5],
          bool: [1, 'true', None], list: ['x', 7, {}, None], dict: [[], 'x', 7, None], type(None): ['x', 7, [], {}, True]}

def _leaves(v, path=()):
    "(container, key, path) of every field and list item (the first three of a list) of parsed JSON `v`, at any depth."
    items = v.items() if isinstance(v, dict) else enumerate(v[:3]) if isinstance(v, list) else ()
    for k, x in items:
        yield v, k, path + (k,)
        yield from _leaves(x, path + (k,))

def json_field_mutant(v, rng)->tuple: # (changed copy, what was changed, whether only a value changed)
    "`v` (parsed JSON) with one field or list item at any depth changed: a value of another type, the field deleted, or a bit of its key flipped (a check can see these), or a number or text changed to another of its kind (a value: it may change answers)."
    v = json.loads(json.dumps(v)); spots = list(_leaves(v))
    if not spots: return _WRONG[type(v)][int(rng.integers(len(_WRONG[type(v)])))] if type(v) in _WRONG else None, 'whole', False
    c, k, path = spots[int(rng.integers(len(spots)))]; x, name = c[k], '.'.join(map(str, path)); kind = int(rng.integers(4))
    if kind == 1 and isinstance(c, dict): c.pop(k); return v, f'{name} deleted', False
    if kind == 2 and isinstance(c, dict) and k:
        b = bytearray(k.encode()); b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(7)); c[b.decode('latin-1')] = c.pop(k)
        return v, f'{name}: a bit of its key flipped', False
    if kind == 3 and type(x) in (int, float, str, bool):
        if isinstance(x, bool): c[k] = not x
        elif isinstance(x, int): c[k] = [x + 1, x - 1, 0, -1, 2*x, 10**12][int(rng.integers(6))]
        elif isinstance(x, float): c[k] = [1.5*x, -x, 0., 2., 1e308][int(rng.integers(5))]
        else: c[k] = ['', x + 'x', x[:-1], '../' + x][int(rng.integers(4))]
        return v, f'{name} = {repr(c[k])[:30]}', True
    w = _WRONG[type(x)]; c[k] = w[int(rng.integers(len(w)))]
    return v, f'{name} = {repr(c[k])[:30]} (a {type(x).__name__} before)', False

def _ivf_spots(ix)->list: # (list number, size) of the non-empty lists
    il = faiss.downcast_InvertedLists(faiss.extract_index_ivf(ix).invlists); return [(l, il.list_size(l)) for l in range(il.nlist) if il.list_size(l)]

def faiss_mutant(blob:bytes, x:np.ndarray, rng)->tuple: # (blob, what)
    "A crafted version of a serialised faiss index over the unit vectors `x`: wrapped in an id map past the references, another metric, another kind, a vector short, ids outside the references / twice / swapped, codes or stored vectors changed, HNSW links or entry point outside the graph."
    ix = faiss.deserialize_index(np.frombuffer(blob, np.uint8)); n, d = ix.ntotal, ix.d; name = type(ix).__name__
    x = x if x is not None and len(x) == n else np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    x = np.ascontiguousarray(x/np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12), dtype=np.float32)
    ivf = 'IVF' in name; hnsw = 'HNSW' in name
    kinds = ['idmap', 'l2', 'short', 'other'] + (['past', 'negative', 'twice', 'swap', 'codes'] if ivf else ['vector']) + (['link', 'entry'] if hnsw else [])
    kind = kinds[int(rng.integers(len(kinds)))]; out = ix
    if kind == 'idmap': out = faiss.IndexIDMap(faiss.IndexFlatIP(d)); out.add_with_ids(x, np.arange(n) + n)
    elif kind == 'l2': out = faiss.IndexFlatL2(d); out.add(x)
    elif kind == 'short': out = faiss.IndexFlatIP(d); out.add(x[:-1])
    elif kind == 'other':
        if ivf or hnsw: out = faiss.IndexFlatIP(d); out.add(x)
        else: out = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, 1, faiss.METRIC_INNER_PRODUCT); out.train(x); out.add(x)
    elif ivf:
        il = faiss.downcast_InvertedLists(faiss.extract_index_ivf(ix).invlists); spots = _ivf_spots(ix); l, m = spots[int(rng.integers(len(spots)))]
        ids = faiss.rev_swig_ptr(il.get_ids(l), m); j = int(rng.integers(m))
        if kind == 'past': ids[j] = n + int(rng.integers(1, 1000))
        elif kind == 'negative': ids[j] = -int(rng.integers(2, 1000))
        elif kind == 'twice': l2, m2 = spots[int(rng.integers(len(spots)))]; ids[j] = faiss.rev_swig_ptr(il.get_ids(l2), m2)[int(rng.integers(m2))]
        elif kind == 'swap':
            l2, m2 = spots[int(rng.integers(len(spots)))]; ids2 = faiss.rev_swig_ptr(il.get_ids(l2), m2); j2 = int(rng.integers(m2))
            if (l2, j2) == (l, j): j2 = (j + 1) % m if m > 1 else j
            ids[j], ids2[j2] = int(ids2[j2]), int(ids[j])
        else: c = faiss.rev_swig_ptr(il.get_codes(l), m*il.code_size); c[j*il.code_size:(j + 1)*il.code_size] = rng.integers(0, 256, il.code_size, dtype=np.uint8)
    elif kind == 'vector':
        st = faiss.downcast_index(ix.storage) if hnsw else ix; faiss.rev_swig_ptr(st.get_xb(), n*d)[int(rng.integers(n*d))] += .5
    elif kind == 'link': nb = faiss.rev_swig_ptr(ix.hnsw.neighbors.data(), ix.hnsw.neighbors.size()); nb[int(rng.integers(len(nb)))] = n + 7
    elif kind == 'entry': ix.hnsw.entry_point = n + 3
    return faiss.serialize_index(out).tobytes(), f'faiss {name}: {kind}'

def _cli_run(argv:list)->tuple: # (exit code, stdout, stderr)
    "`retailklip ARGV` in this process, its output captured: what a user's shell would see."
    from retailklip.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()

def _predictions(index)->list:
    "What a product index answers: its size, products and the top product of fixed queries (its own first vectors, nudged)."
    from retailklip.knn import KNNClassifier
    k = KNNClassifier.load(index); q = k.vectors(np.arange(min(len(k), 24))) + .05
    return [len(k), k.products, k.predict(q)['product'].tolist()]

def count_mutant(raw:bytes, count:int=10**12)->bytes:
    "`.npy` bytes whose header claims `count` rows over the same data."
    f = io.BytesIO(raw); v = np.lib.format.read_magic(f); shape, fortran, dtype = np.lib.format.read_array_header_1_0(f) if v == (1, 0) else np.lib.format.read_array_header_2_0(f)
    h = io.BytesIO(); np.lib.format.write_array_header_1_0(h, dict(descr=np.lib.format.dtype_to_descr(dtype), fortran_order=fortran, shape=(count,) + tuple(shape[1:])))
    return h.getvalue() + raw[f.tell():]

def member_mutant(raw:dict, rng, marker)->bytes:
    "An `.npz` of raw members with its member list changed: one dropped, one more, one compressed, or one a pickled object."
    raw, k = dict(raw), list(raw)[int(rng.integers(len(raw)))]; kind = int(rng.integers(4))
    if kind == 0: raw.pop(k)
    elif kind == 1: raw['extra'] = _npy(np.zeros(3, np.float32))
    elif kind == 3: raw[k] = _npy(np.array([_Evil(marker)], dtype=object))
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, 'w', zipfile.ZIP_STORED) as zf:
            for n, b in raw.items(): zf.writestr(n + '.npy', b, zipfile.ZIP_DEFLATED if n == k else zipfile.ZIP_STORED)
        return buf.getvalue()
    return _npz_bytes(raw)

def _fifo(p:Path):
    "Replace file `p` by a FIFO (a reader that opens it without care waits for ever)."
    p.unlink(missing_ok=True); os.mkfifo(p)

def _rk_case(fx:dict, work:Path, marker, seed:int):
    "Case i of the product index: one of its kinds (flat, ivf, hnsw, ivfpq) with one structured fault (a header character, an info field, a crafted faiss index, references, vectors, bytes, a FIFO), through `classify` (read) or `remove` (read and write)."
    kinds = list(fx['rk'])
    def make(i):
        rng, kind, p = np.random.default_rng([seed, 1, i]), kinds[i % len(kinds)], work/'case.rk'; _drop(p)
        raw, m, value = _npz_raw(fx['rk'][kind]), int(rng.integers(9)), False
        x = np.load(fx['rk'][kind])['emb']
        if m == 0: k = list(raw)[int(rng.integers(len(raw)))]; raw[k] = header_mutant(raw[k], rng); what = f'{k} header'
        elif m == 1:
            info, what, value = json_field_mutant(json.loads(np.load(io.BytesIO(raw['info'])).tobytes()), rng)
            raw['info'] = _npy(np.frombuffer(json.dumps(info).encode(), np.uint8)); what = f'info: {what}'
        elif m == 2: b, what = faiss_mutant(np.load(io.BytesIO(raw['faiss'])).tobytes(), x, rng); raw['faiss'] = _npy(np.frombuffer(b, np.uint8))
        elif m == 3 and np.load(io.BytesIO(raw['refs'])).dtype == np.uint8:  # references as JSON records (products with paths)
            recs, what, value = json_field_mutant(json.loads(np.load(io.BytesIO(raw['refs'])).tobytes()), rng)
            raw['refs'] = _npy(np.frombuffer(json.dumps(recs).encode(), np.uint8)); what = f'refs: {what}'
        elif m == 3:
            r = np.load(io.BytesIO(raw['refs'])).copy(); j = int(rng.integers(4)); what = ['refs: a code past the names', 'refs: a code below 0', 'refs: a row short', 'refs: float64'][j]
            if j == 0: r[int(rng.integers(len(r)))] = r.max() + 3
            elif j == 1: r[int(rng.integers(len(r)))] = -1
            raw['refs'] = _npy(r[:-1] if j == 2 else r.astype(np.float64) if j == 3 else r)
        elif m == 4:
            e = x.copy(); j = int(rng.integers(4)); what = ['emb x 1e30', 'emb: a NaN', 'emb: a value changed', 'emb: float64'][j]
            if j == 0: e *= 1e30
            elif j == 1: e[int(rng.integers(len(e))), 0] = np.nan
            elif j == 2: r = int(rng.integers(len(e))); e[r] += .01; e[r] /= np.linalg.norm(e[r]); value = kind == 'ivfpq'  # IVF-PQ keeps codes: its embeddings are the data
            raw['emb'] = _npy(e.astype(np.float64) if j == 3 else e)
        if m <= 4: p.write_bytes(_npz_bytes(raw))
        elif m == 5: p.write_bytes(byte_mutant(fx['rk'][kind].read_bytes(), rng)); what = 'bytes'
        elif m == 6: p.write_bytes(member_mutant(raw, rng, marker)); what = 'members'
        elif m == 7: k = ['emb', 'refs', 'faiss'][int(rng.integers(3))]; raw[k] = count_mutant(raw[k]); p.write_bytes(_npz_bytes(raw)); what = f'{k}: a count of 10^12'
        else: _fifo(p); what = 'a FIFO'
        read = i % 2 == 0
        argv = ['classify', '--index', p, '--run', fx['run'], '--top-k', 3, *fx['images']] if read else ['remove', '--index', p, '--products', fx['drop']]
        return dict(path=p, argv=argv, value=value, what=f'{kind}: {what}', key=(kind, read),
                    answer=(lambda out: out) if read else (lambda out: _predictions(p)), good=lambda: shutil.copy(fx['rk'][kind], p))
    return make

def _npz_case_structured(fx:dict, work:Path, marker, seed:int):
    "Case i of the retrieval index (plain, or compressed: IVF-PQ codes re-scored from shards) with one structured fault, through `search`."
    kinds = list(fx['npz'])
    def make(i):
        rng, kind, p = np.random.default_rng([seed, 2, i]), kinds[i % len(kinds)], work/'case.npz'; _drop(p)
        good = fx['npz'][kind]; raw, m, value = _npz_raw(good), int(rng.integers(9)), False
        if m == 0: k = list(raw)[int(rng.integers(len(raw)))]; raw[k] = header_mutant(raw[k], rng); what = f'{k} header'
        elif m == 1:
            meta, what, value = json_field_mutant(json.loads(str(np.load(io.BytesIO(raw['meta'])))), rng)
            raw['meta'] = _npy(np.array(json.dumps(meta))); what = f'meta: {what}'
        elif m == 2 and 'faiss' in raw:
            b, what = faiss_mutant(np.load(io.BytesIO(raw['faiss'])).tobytes(), None, rng); raw['faiss'] = _npy(np.frombuffer(b, np.uint8))
        elif m == 2:
            e = np.load(io.BytesIO(raw['emb'])).copy(); j = int(rng.integers(4)); what = ['emb x 1e30', 'emb: a NaN', 'emb: a vector nudged', 'emb: float64'][j]
            if j == 0: e *= 1e30
            elif j == 1: e[int(rng.integers(len(e))), 0] = np.nan
            elif j == 2: r = int(rng.integers(len(e))); e[r] += .01; e[r] /= np.linalg.norm(e[r]); value = True  # the vectors are the data: a nudge is a value
            raw['emb'] = _npy(e.astype(np.float64) if j == 3 else e)
        elif m == 3:
            o = np.load(io.BytesIO(raw['owner'])).copy(); j = int(rng.integers(4)); what = ['owner past the images', 'owner below 0', 'owner a row short', 'owner int32'][j]
            if j == 0: o[int(rng.integers(len(o)))] = o.max() + 5
            elif j == 1: o[int(rng.integers(len(o)))] = -2
            raw['owner'] = _npy(o[:-1] if j == 2 else o.astype(np.int32) if j == 3 else o)
        elif m == 4 and 'info' in raw:
            info, what, value = json_field_mutant(json.loads(np.load(io.BytesIO(raw['info'])).tobytes()), rng)
            raw['info'] = _npy(np.frombuffer(json.dumps(info).encode(), np.uint8)); what = f'info: {what}'
        elif m == 4: k = list(raw)[int(rng.integers(len(raw)))]; raw[k] = count_mutant(raw[k]); what = f'{k}: a count of 10^12'
        if m <= 4: p.write_bytes(_npz_bytes(raw))
        elif m == 5: p.write_bytes(byte_mutant(good.read_bytes(), rng)); what = 'bytes'
        elif m == 6: p.write_bytes(member_mutant(raw, rng, marker)); what = 'members'
        elif m == 7: k = list(raw)[int(rng.integers(len(raw)))]; raw[k] = count_mutant(raw[k]); p.write_bytes(_npz_bytes(raw)); what = f'{k}: a count of 10^12'
        else: _fifo(p); what = 'a FIFO'
        return dict(path=p, argv=['search', '--index', p, 'red can', '-k', 5], value=value, what=f'{kind}: {what}', key=('npz', kind),
                    answer=lambda out: out, good=lambda: shutil.copy(good, p))
    return make

def _shards_case(fx:dict, work:Path, marker, seed:int):
    "Case i of an embedding shards folder (embed.json, img_emb/*.npy, metadata/*.parquet) with one structured fault, through `index --from-embeddings`, exact or within `--max-memory` (IVF-PQ): the index it writes must load and answer as the untouched folder's."
    from retailklip.shards import shard_files
    def make(i):
        rng, p, out = np.random.default_rng([seed, 3, i]), work/'case_shards', work/'out.rk'
        shutil.rmtree(p, ignore_errors=True); shutil.copytree(fx['shards'], p); out.unlink(missing_ok=True)
        meta = json.loads((p/'embed.json').read_text()); n_sh = -(-meta['n']//meta['shard_size'])
        j = int(rng.integers(n_sh)); npy, pq = p/'img_emb'/f'img_emb_{j}.npy', p/'metadata'/f'metadata_{j}.parquet'
        m, value = int(rng.integers(10)), False
        if m == 0: meta, what, value = json_field_mutant(meta, rng); (p/'embed.json').write_text(json.dumps(meta)); what = f'embed.json: {what}'
        elif m == 1: (p/'embed.json').write_bytes(byte_mutant((p/'embed.json').read_bytes(), rng)); what = 'embed.json bytes'
        elif m == 2: npy.write_bytes(header_mutant(npy.read_bytes(), rng)); what = f'{npy.name} header'
        elif m == 3:
            b = bytearray(npy.read_bytes()); h = len(b) - np.load(npy).nbytes
            for _ in range(int(rng.integers(1, 4))): q = int(rng.integers(h, len(b))); b[q] ^= 1 << int(rng.integers(8))
            npy.write_bytes(b); what, value = f'{npy.name}: bits of vectors flipped', True
        elif m == 4:
            v = np.load(npy); k = int(rng.integers(7)); what = f'{npy.name}: ' + ['x 1e30', 'a NaN', 'a vector nudged', 'float64', 'Fortran order', 'a row short', 'cut short'][k]
            if k == 0: v = v*1e30
            elif k == 1: v = v.copy(); v[int(rng.integers(len(v))), 0] = np.nan
            elif k == 2: v = v.copy(); r = int(rng.integers(len(v))); v[r] += .01; v[r] /= np.linalg.norm(v[r]); value = True
            elif k == 3: v = v.astype(np.float64)
            elif k == 4: v = np.asfortranarray(v)
            elif k == 5: v = v[:-1]
            if k == 6: npy.write_bytes(npy.read_bytes()[:-int(rng.integers(1, 200))])
            else: np.save(npy, v)
        elif m == 5:
            t = pd.read_parquet(pq); k = int(rng.integers(6)); what = f'{pq.name}: ' + ['a row short', 'a product missing', 'no product column', 'paths as numbers', 'products as numbers', 'bytes'][k]
            if k == 0: t = t.iloc[:-1]
            elif k == 1: t = t.assign(product=[None] + t['product'].tolist()[1:])
            elif k == 2: t = t.drop(columns='product')
            elif k == 3: t = t.assign(path=np.arange(len(t)))
            elif k == 4: t = t.assign(product=np.arange(len(t)))
            if k == 5: pq.write_bytes(byte_mutant(pq.read_bytes(), rng)); value = True  # parquet pages carry no checksum: a flipped byte of a name is a value
            else: t.to_parquet(pq, index=False)
        elif m == 6:
            k = int(rng.integers(3)); what = ['a shard more than embed.json counts', 'a shard missing its vectors', 'a shard missing its metadata'][k]
            if k == 0: a, b = shard_files(p, n_sh - 1); c, e = shard_files(p, n_sh); shutil.copy(a, c); shutil.copy(b, e)
            else: (npy if k == 1 else pq).unlink()
        elif m == 7:
            k = int(rng.integers(4)); what = ['embed.json: n = 10^12', 'embed.json: shard_size 1', 'embed.json: n a shard smaller', 'embed.json: n a shard larger'][k]
            meta = dict(meta, **[dict(n=10**12), dict(shard_size=1), dict(n=max(0, meta['n'] - meta['shard_size'])), dict(n=meta['n'] + meta['shard_size'])][k])
            (p/'embed.json').write_text(json.dumps(meta))
        elif m == 8: f = [npy, pq, p/'embed.json'][int(rng.integers(3))]; _fifo(f); what = f'{f.name} a FIFO'
        else: np.save(npy, np.array([_Evil(marker)], dtype=object), allow_pickle=True); what = f'{npy.name}: a pickled object'
        budget = i % 2 == 1
        argv = ['index', '--from-embeddings', p, '--out', out, '--overwrite'] + (['--max-memory', fx['budget']] if budget else [])
        def good(): shutil.rmtree(p, ignore_errors=True); shutil.copytree(fx['shards'], p); out.unlink(missing_ok=True)
        return dict(path=p, argv=argv, value=value, what=what, key=('shards', budget), answer=lambda o: _predictions(out), good=good)
    return make

def _run_case_structured(fx:dict, work:Path, marker, seed:int, kind:str):
    "Case i of a run folder ('for': a FOR run, read by `search` through the index that records it; 'finetune': a RetailKLIP run, read by `classify --run`) with one structured fault in config.json, the weights or the head."
    def make(i):
        rng = np.random.default_rng([seed, 4 if kind == 'for' else 5, i])
        good, p = (fx['for_good'], fx['for_case']) if kind == 'for' else (fx['run'], work/'case_run')
        shutil.rmtree(p, ignore_errors=True); shutil.copytree(good, p); cfg = p/'config.json'
        files = ['model.pt'] + (['head.pt'] if kind == 'for' else [])
        m, value = int(rng.integers(6)), False
        if m == 0: c, what, value = json_field_mutant(json.loads(cfg.read_text()), rng); cfg.write_text(json.dumps(c)); what = f'config.json: {what}'
        elif m == 1: cfg.write_bytes(byte_mutant(cfg.read_bytes(), rng)); what = 'config.json bytes'
        elif m in (2, 3):
            f = p/files[int(rng.integers(len(files)))]; k = int(rng.integers(4)); what = f'{f.name}: ' + ['bytes', 'a pickled object', 'not a dict', 'a tensor of another shape'][k]
            if k == 0: f.write_bytes(byte_mutant(f.read_bytes(), rng))
            elif k == 1: torch.save({'state_dict': {'x': _Evil(marker)}}, f)
            elif k == 2: torch.save([torch.zeros(2)], f)
            else:
                sd = torch.load(f, weights_only=True); t = sd['state_dict']; name = list(t)[int(rng.integers(len(t)))]
                t[name] = t[name].reshape(-1)[:max(1, t[name].numel() - 1)].clone(); torch.save(sd, f)
        elif m == 4: f = [cfg, *(p/x for x in files)][int(rng.integers(1 + len(files)))]; _fifo(f); what = f'{f.name} a FIFO'
        else: f = p/files[int(rng.integers(len(files)))]; f.unlink(); what = f'{f.name} missing'
        argv = ['search', '--index', fx['for_index'], 'red can', '-k', 5] if kind == 'for' else ['classify', '--index', fx['rk']['flat'], '--run', p, '--top-k', 3, *fx['images']]
        def restore(): shutil.rmtree(p, ignore_errors=True); shutil.copytree(good, p)
        return dict(path=p, argv=argv, value=value, what=what, key=('run', kind), answer=lambda out: out, good=restore)
    return make

_EXPECTED = {}  # (format, variant) -> what the untouched case answers, per process

def _aside(p:Path)->Path:
    "Move case `p` (a file, FIFO or folder) out of the way; the new place."
    a = p.with_name(p.name + '.aside'); _drop(a)
    if os.path.lexists(p): os.rename(p, a)
    return a

def _drop(p:Path):
    "Remove a file, FIFO, link or folder tree, if there."
    if p.is_dir() and not p.is_symlink(): shutil.rmtree(p, ignore_errors=True)
    elif os.path.lexists(p): p.unlink()

def cli_case(case:dict)->tuple: # (outcome, message)
    "Run one structured case (from a `make` of the structured formats) through the CLI and judge it: `refused` (exit 2, one line naming the case), `loaded` (exit 0, the answers of the untouched case), `changed` (exit 0, other answers after a change of a value no check can see), `unclear` (exit 2, a line that does not name the case), `unloadable` (exit 0, and what it wrote does not load), `different` (exit 0, other answers after a change a check could see)."
    p, key = case['path'], case['key']
    if key not in _EXPECTED:  # the untouched case through the same command, once per process
        a = _aside(p); case['good']()
        code, out, err = _cli_run(case['argv']); _EXPECTED[key] = (code, case['answer'](out) if code == 0 else err[-300:])
        _drop(p); os.rename(a, p)
    code, out, err = _cli_run(case['argv']); last = (err.strip().splitlines() or [''])[-1]
    msg = f"{case['what']}: {last[:240]}"
    if code == 2: return ('refused' if str(p) in last and ': error: ' in last else 'unclear', msg)
    if code != 0: return ('traceback', f"{case['what']}: exit {code}: {err[-240:]}")
    try: got = case['answer'](out)
    except (ValueError, OSError, RuntimeError) as e: return ('unloadable', f"{case['what']}: {str(e)[:240]}")
    want = _EXPECTED[key]
    if want[0] != 0: return ('unclear', f"the untouched case failed: {want[1]}")
    return ('loaded' if got == want[1] else 'changed' if case['value'] else 'different', case['what'])

def fuzz_fixtures(d:Path, seed:int=5)->dict:
    "The untouched files the structured fuzzer starts from, made with the library's smallest model: a run, 72 reference JPEGs, product indexes of each kind, a shards folder, plain and compressed retrieval indexes, a FOR run and an index that records it."
    from retailklip.backbone import load_backbone
    from retailklip.train import save_run
    from retailklip.synth import make_world
    from retailklip.api import Recognizer, ImageSearch
    from retailklip.shards import embed_to_shards, exact_index_bytes
    from retailklip.decoder import SumClipHead, ForConfig, save_for_run
    bb = load_backbone('rk-vit-tiny'); save_run(bb, d/'run'); refs = _jpeg_tree(make_world(12, heldout_frac=0., seed=seed, size=32), 72, d/'refs')
    rec, rk = Recognizer.from_run(d/'run'), {}
    for kind in ('flat', 'ivf', 'hnsw', 'ivfpq'): rk[kind] = rec.index(d/'refs', kind).save(d/f'good_{kind}.rk')
    embed_to_shards(d/'run', d/'refs', d/'shards', shard_size=16, engine='local', precision='fp32')
    budget = exact_index_bytes(len(refs), bb.embed_dim)//4  # within it, an IVF-PQ index re-scored from the shards
    ImageSearch.from_run(d/'run', 'clip').add_images([d/'refs']).save(d/'good_plain.npz')
    c = ImageSearch.from_run(d/'run', 'clip').add_embeddings(d/'shards', max_memory=budget); assert c.index.compressed; c.save(d/'good_compressed.npz')
    save_for_run(bb, SumClipHead(bb.model.visual, 4), d/'good_for', ForConfig(steps=1, n_queries=4), ['can', 'box'])
    shutil.copytree(d/'good_for', d/'case_for'); ImageSearch.from_run(d/'case_for', 'for').add_images([d/'refs']).save(d/'for.npz')
    return dict(run=d/'run', rk=rk, npz=dict(plain=d/'good_plain.npz', compressed=d/'good_compressed.npz'), shards=d/'shards', budget=budget,
                for_good=d/'good_for', for_case=d/'case_for', for_index=d/'for.npz', images=sorted(refs.path)[:2], drop=sorted(refs['product'])[0])

STRUCTURED = {'product index (.rk)': lambda fx, w, mk, s: _rk_case(fx, w, mk, s), 'retrieval index (.npz)': lambda fx, w, mk, s: _npz_case_structured(fx, w, mk, s),
              'embedding shards': lambda fx, w, mk, s: _shards_case(fx, w, mk, s), 'FOR run folder': lambda fx, w, mk, s: _run_case_structured(fx, w, mk, s, 'for'),
              'finetune run folder': lambda fx, w, mk, s: _run_case_structured(fx, w, mk, s, 'finetune')}  # format -> its case maker
