"""Section 3, embedding throughput: the library's batched path against the naive per-image loop."""
from __future__ import annotations
import tempfile
import torch
from PIL import Image
from .common import _jpeg_tree, best_rate, matmul_peak_gflops, model_gflops

def _write_images(n, d, size=160):
    from retailklip.synth import make_world
    return _jpeg_tree(make_world(max(2, n//6 + 1), heldout_frac=0., seed=5, size=size), n, d).path.tolist()

def throughput(bb, n_images:int=512, batch_size:int|None=None, workers:int|None=None)->dict:
    "Images per second: naive per-image loop vs the library's batched path, and the fraction of the matmul peak."
    from retailklip.backbone import ImageEncoder
    from retailklip.imagefolder import embed_images, native_bf16
    kw = {} if batch_size is None else dict(batch_size=batch_size)  # None: the library's defaults, as a user gets them
    with tempfile.TemporaryDirectory() as d:
        paths = _write_images(n_images, d)
        n_naive = min(len(paths), 128)  # the slow loop on a subset
        def naive_loop():
            with torch.no_grad():
                for p in paths[:n_naive]: bb.model.encode_image(bb.preprocess(Image.open(p).convert('RGB'))[None])
        enc = ImageEncoder.from_backbone(bb); embed_images(enc, paths[:128], bb, workers=workers, **kw)  # warm up
        naive, lib = best_rate(naive_loop, n_naive), best_rate(lambda: embed_images(enc, paths, bb, workers=workers, **kw), len(paths))
    bf16 = native_bf16(next(bb.model.parameters()).device)
    gf, peak = model_gflops(bb), matmul_peak_gflops(dtype=torch.bfloat16 if bf16 else torch.float32)
    return dict(model=bb.name, images=len(paths), library_precision='bf16' if bf16 else 'fp32',
                naive_images_per_s=naive, library_images_per_s=lib, speedup=lib/naive,
                model_gflops_per_image=gf, peak_gflops=peak, fraction_of_peak=gf*lib/peak, target_speedup=3.,
                met=lib/naive >= 3.)
