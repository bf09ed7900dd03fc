"""Section 6, training speed: finetune images/s and peak memory, with and without gradient checkpointing, in fresh processes."""
from __future__ import annotations
import os
from pathlib import Path
import numpy as np, pandas as pd, torch

def _rss_mb()->float:
    "Resident memory of this process in MiB (Linux /proc)."
    return int(Path('/proc/self/statm').read_text().split()[1])*os.sysconf('SC_PAGE_SIZE')/2**20

class _PeakRSS:
    "Context manager: peak resident-memory growth `mb` (MiB) over its body, sampled every 2 ms by a thread."
    def __enter__(self):
        import threading
        self.base = self.peak = _rss_mb(); self._stop = threading.Event()
        def run():
            while not self._stop.wait(0.002): self.peak = max(self.peak, _rss_mb())
        self._t = threading.Thread(target=run, daemon=True); self._t.start(); return self
    def __exit__(self, *a):
        self._stop.set(); self._t.join(); self.mb = max(self.peak, _rss_mb()) - self.base

def _train_speed(model, batch_size, steps, warm, grad_checkpointing, precision, device, threads):
    "Body of `train_speed`, run in a fresh process so that its peak resident memory is its own."
    from retailklip.backbone import DEFAULT_MODEL, load_backbone
    from retailklip.train import finetune, FinetuneConfig
    torch.set_num_threads(threads)
    bb = load_backbone(model, pretrained=DEFAULT_MODEL[1] if model == DEFAULT_MODEL[0] else None, device=device)
    n = batch_size*2; S = bb.image_size
    x = torch.randint(0, 256, (n, S, S, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    cfg = FinetuneConfig(steps=steps, batch_size=batch_size, warmup=1, grad_checkpointing=grad_checkpointing,
                         precision=precision, head_init='random')
    if device == 'cuda': torch.cuda.reset_peak_memory_stats()
    with _PeakRSS() as m: _, h = finetune(bb, x, np.arange(n)//4, cfg, device=device, progress=False)
    peak = torch.cuda.max_memory_allocated()/2**20 if device == 'cuda' else m.mb
    return float(h.seconds.iloc[-1] - h.seconds.iloc[warm - 1]), float(peak)

def train_speed(model:str='rk-vit-mini', batch_size:int=64, steps:int=8, warm:int=2, grad_checkpointing:bool=False,
                precision:str='fp32', device:str='cpu')->dict:
    "Images/s of `train.finetune` steps after `warm` steps, and peak memory (CPU: resident-memory growth over the loaded model and data; CUDA: max allocated), in a fresh process."
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(1, mp_context=mp.get_context('spawn')) as ex:
        secs, peak = ex.submit(_train_speed, model, batch_size, steps, warm, grad_checkpointing, precision, device, torch.get_num_threads()).result()
    return dict(model=model, device=device, precision=precision, grad_checkpointing=grad_checkpointing, batch_size=batch_size,
                images_per_s=(steps - warm)*batch_size/secs, peak_mb=peak)

def training(full:bool=True)->pd.DataFrame:
    "`train_speed` with and without gradient checkpointing (and, on CUDA, bf16 AMP vs fp32 on ViT-B-32)."
    runs = [dict(model='rk-vit-mini', batch_size=64 if full else 16, steps=8 if full else 3)]
    if full: runs.append(dict(model='ViT-B-32', batch_size=16, steps=4))
    rows = [train_speed(**r, grad_checkpointing=gc) for r in runs for gc in (False, True)]
    if torch.cuda.is_available():
        rows += [train_speed('ViT-B-32', 128, 12, 2, gc, p, 'cuda') for p in ('fp32', 'bf16') for gc in (False, True)]
    return pd.DataFrame(rows)
