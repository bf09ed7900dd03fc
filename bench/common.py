"""What several sections share: the machine, timing, JPEG trees and clustered vectors."""
from __future__ import annotations
import os, platform, time
from pathlib import Path
import numpy as np, pandas as pd, torch
import faiss

def machine_info()->dict:
    "CPU model, cores, library versions and CUDA device of this machine."
    import open_clip, sklearn
    cpu = platform.processor() or ''
    try: cpu = next(l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name'))
    except (OSError, StopIteration): pass
    return dict(cpu=cpu, cores=os.cpu_count(), torch_threads=torch.get_num_threads(), python=platform.python_version(),
                torch=torch.__version__, faiss=faiss.__version__, open_clip=open_clip.__version__, sklearn=sklearn.__version__,
                cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)

def matmul_peak_gflops(n:int=2048, reps:int=5, device:str='cpu', dtype=torch.float32)->float:
    "GFLOP/s of a large matmul in `dtype` on `device`: the practical peak the model throughput is compared with."
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype); a @ b
    if device == 'cuda': torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps): a @ b
    if device == 'cuda': torch.cuda.synchronize()
    return 2*n**3*reps/(time.perf_counter() - t)/1e9

def model_gflops(bb)->float:
    "GFLOPs of one image through the vision tower (torch's FlopCounterMode, 2 FLOPs per multiply-add)."
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.zeros(1, 3, bb.image_size, bb.image_size, device=next(bb.model.parameters()).device)
    with FlopCounterMode(display=False) as fc, torch.no_grad(): bb.model.encode_image(x)
    return fc.get_total_flops()/1e9

def _jpeg_tree(w, n:int, root:str|Path)->pd.DataFrame: # path, product
    "The first `n` images of the synthetic world `w` as JPEG files (quality 90), `root/<sku>/<number>.jpg`."
    rows = []
    for k, r in enumerate(w.images.head(n).itertuples()):
        p = Path(root)/r.sku/f'{k:05d}.jpg'; p.parent.mkdir(parents=True, exist_ok=True); w.image(int(r.Index)).save(p, quality=90)
        rows.append((str(p), r.sku))
    return pd.DataFrame(rows, columns=['path', 'product'])

def best_rate(f, n:int, runs:int=2)->float:
    "Items per second of `f()` (which handles `n` items): the fastest of `runs` runs, so that a moment of noise on a shared machine counts against neither side of a comparison."
    best = float('inf')
    for _ in range(runs): t = time.perf_counter(); f(); best = min(best, time.perf_counter() - t)
    return n/best

def clustered_vectors(n:int, dim:int=512, n_queries:int=1000, seed:int=0)->tuple:
    "(references (n, dim), queries (n_queries, dim)): L2-normalised points around n/50 (at most 5000) random centres."
    rng = np.random.default_rng(seed); c = rng.standard_normal((max(2, min(5000, n//50)), dim)).astype(np.float32)
    def draw(m):
        x = c[rng.integers(0, len(c), m)] + 0.35*rng.standard_normal((m, dim)).astype(np.float32)
        return x/np.linalg.norm(x, axis=1, keepdims=True)
    return draw(n), draw(n_queries)

def _timed(f, warmup:bool=False, budget:float=1.):
    "(result, seconds) of f(); with `warmup`, f runs once untimed first (thread pools, caches), then is timed repeatedly (at most 50 times, until `budget` seconds are spent) and the fastest run counts."
    if not warmup: t = time.perf_counter(); r = f(); return r, time.perf_counter() - t
    f(); best, spent = float('inf'), 0.
    for _ in range(50):
        t = time.perf_counter(); r = f(); s = time.perf_counter() - t
        best, spent = min(best, s), spent + s
        if spent >= budget: break
    return r, best
