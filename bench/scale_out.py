"""Section 14, scaling out: torchrun (DDP) finetune and Ray Data embedding with 1 and 2 workers."""
from __future__ import annotations
import os, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd
from .common import _jpeg_tree

def scale_out(n_images:int=600, size:int=64, steps:int=20, warm:int=4, batch_size:int=32, # DDP finetune
              ray_images:int=2000, shard_size:int=250, work=None)->dict:
    "torchrun DDP finetune with 1 vs 2 processes (images/s, loss agreement) and Ray Data embedding with 1 vs 2 actors (images/s; resume after losing shards)."
    from retailklip.synth import make_world
    from retailklip.core import torchrun
    from retailklip.shards import embed_to_shards, read_shards, shard_files
    import ray, logging
    with tempfile.TemporaryDirectory(dir=work) as d:
        d = Path(d); n = max(n_images, ray_images); w = make_world(max(2, n//8), heldout_frac=0., seed=13, size=size)
        src = _jpeg_tree(w, n, d/'img').sort_values('path', ignore_index=True)
        for p in src.path[:n_images]: q = d/'train'/Path(p).parent.name/Path(p).name; q.parent.mkdir(parents=True, exist_ok=True); os.link(p, q)
        hist = {}
        for k in (1, 2):
            torchrun(k, '-m', 'retailklip', 'finetune', '--data', d/'train', '--out', d/f'run{k}', '--steps', steps, '--batch-size', batch_size, check=True)
            hist[k] = pd.read_csv(d/f'run{k}'/'history.csv')
        speed = lambda h: (steps - warm)*batch_size/float(h.seconds.iloc[-1] - h.seconds.iloc[warm - 1])
        ddp = dict(images=n_images, steps=steps, global_batch=batch_size, one_process_images_per_s=speed(hist[1]), two_processes_images_per_s=speed(hist[2]),
                   two_over_one=speed(hist[2])/speed(hist[1]), max_loss_difference=float(np.abs(hist[1].loss - hist[2].loss).max()),
                   loss_range=f"{hist[1].loss.min():.3f}-{hist[1].loss.max():.3f}")
        imgs, run, rate = src.iloc[:ray_images], d/'run1', {}
        t = time.perf_counter(); embed_to_shards(run, imgs, d/'local', shard_size, engine='local', precision='fp32'); rate['local'] = len(imgs)/(time.perf_counter() - t)
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        try:
            for k in (1, 2):
                t = time.perf_counter(); embed_to_shards(run, imgs, d/f'ray{k}', shard_size, engine='ray', workers=k, precision='fp32')
                rate[k] = len(imgs)/(time.perf_counter() - t)
            first = read_shards(d/'ray2')[0]; lost = list(range(0, -(-len(imgs)//shard_size), 2))
            for i in lost: shard_files(d/'ray2', i)[1].unlink()
            again = embed_to_shards(run, imgs, d/'ray2', shard_size, engine='ray', workers=2, precision='fp32')
        finally: ray.shutdown()
        second, local = read_shards(d/'ray2')[0], read_shards(d/'local')[0]
        ray_row = dict(images=len(imgs), local_images_per_s=rate['local'], ray_1_actor_images_per_s=rate[1], ray_2_actors_images_per_s=rate[2],
                       two_over_one=rate[2]/rate[1], shards_lost=len(lost), shards_re_embedded=again['embedded_shards'],
                       max_diff_resumed_vs_first=float(np.abs(second - first).max()), max_diff_ray_vs_local=float(np.abs(second - local).max()))
    return dict(ddp=ddp, ray=ray_row, met=bool(ddp['max_loss_difference'] <= 1e-3 and ray_row['shards_re_embedded'] == len(lost)
                                            and ray_row['max_diff_ray_vs_local'] <= 1e-5))
