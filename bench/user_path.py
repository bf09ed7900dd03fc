"""Section 9, the user's path: `retailklip index` and streaming finetune against their alternatives."""
from __future__ import annotations
import tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from PIL import Image
from .common import _jpeg_tree, best_rate
from .memory import peak_rss_mb

def user_path(n:int=2000, # JPEGs on disk
              size:int=224, n_naive:int=200, # images the (slow) naive loop embeds
              batch_size:int=64, steps:int=12, warm:int=2, # finetune: steps timed after `warm`
              work:str|Path|None=None)->dict:
    "Images/s of the user's path against the alternatives, on the same JPEGs: `Recognizer.index` (what `retailklip index` runs) vs the naive open_clip loop; finetune streaming from the files vs from the same images held in memory."
    from retailklip.synth import make_world
    from retailklip.backbone import DEFAULT_MODEL, load_backbone
    from retailklip.imagefolder import ImageDataset
    from retailklip.train import finetune, FinetuneConfig, save_run
    from retailklip.api import Recognizer
    from retailklip.source import ModelSource
    bb = load_backbone(*DEFAULT_MODEL)
    with tempfile.TemporaryDirectory(dir=work) as d:
        d = Path(d); w = make_world(max(2, n//6 + 1), heldout_frac=0., seed=9, size=size)
        t = _jpeg_tree(w, n, d/'refs'); files, labels = t.path.tolist(), t['product'].tolist()
        def naive_loop():
            with torch.no_grad():
                for p in files[:n_naive]: bb.model.encode_image(bb.preprocess(Image.open(p).convert('RGB'))[None])
        rec = Recognizer(bb, ModelSource()); rec.index(pd.DataFrame(dict(path=files[:64], product=labels[:64])))  # warm up
        naive, lib = best_rate(naive_loop, n_naive), best_rate(lambda: rec.index(d/'refs'), n)  # each the faster of two runs
        save_run(bb, d/'run'); t = time.perf_counter()
        peak_rss_mb(['index', '--run', d/'run', '--refs', d/'refs', '--out', d/'refs.rk'], d/'log.txt'); cli = n/(time.perf_counter() - t)
        y = pd.factorize(np.array(labels))[0]
        u8 = torch.stack([ImageDataset(files, bb.image_size)[i][0] for i in range(n)])  # decoded once, held in memory
        cfg = FinetuneConfig(steps=steps, batch_size=batch_size, warmup=1, head_init='random')
        speed = lambda h: (steps - warm)*batch_size/float(h.seconds.iloc[-1] - h.seconds.iloc[warm - 1])
        mem = speed(finetune(load_backbone(*DEFAULT_MODEL), u8, y, cfg, progress=False)[1])
        stream = speed(finetune(load_backbone(*DEFAULT_MODEL), files, y, cfg, progress=False)[1])
    return dict(images=n, naive_images_per_s=naive, index_images_per_s=lib, index_over_naive=lib/naive,
                cli_index_images_per_s_with_startup=cli, finetune_in_memory_images_per_s=mem, finetune_streaming_images_per_s=stream,
                streaming_over_in_memory=stream/mem, met_index=lib/naive >= 3., met_finetune=stream/mem >= .9)
