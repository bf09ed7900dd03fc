"""Section 15, threads on a shared machine: OpenMP wait policies, alone and beside a CPU-bound neighbour."""
from __future__ import annotations
import json, os, subprocess, sys, tempfile
from pathlib import Path
import pandas as pd

_THREADS_STEP = r'''
import json, sys, time, torch
from retailklip.api import labelled_images
from retailklip.backbone import DEFAULT_MODEL, load_backbone, ImageEncoder
from retailklip.train import finetune, FinetuneConfig
from retailklip.imagefolder import embed_images
a = json.loads(sys.argv[1]); df = labelled_images(a['root'])
classes = sorted(df['product'].unique()); y = df['product'].map({c: i for i, c in enumerate(classes)}).to_numpy()
bb = load_backbone(*DEFAULT_MODEL)
cfg = FinetuneConfig(steps=a['warm'] + a['steps'], warmup=1, ckpt_every=10**6, batch_size=a['batch_size'])
h = finetune(bb, df['path'].tolist(), y, cfg, device='cpu', progress=False, classes=classes)[1]
files = (df['path'].tolist()*(1 + a['n_index']//len(df)))[:a['n_index']]
t = time.perf_counter(); embed_images(ImageEncoder.from_backbone(bb), files, bb, 128); secs = time.perf_counter() - t
per_step = (h.seconds.iloc[-1] - h.seconds.iloc[a['warm'] - 1])/a['steps']
print(json.dumps(dict(finetune_img_s=a['batch_size']/per_step, index_img_s=len(files)/secs, threads=torch.get_num_threads())))
'''

def threads(steps:int=8, warm:int=2, batch_size:int=64, n_index:int=1024, # the work measured in each process
            policies:tuple=('ACTIVE', 'PASSIVE'), # OpenMP wait policies compared (the CLI sets PASSIVE)
            products:int=60)->pd.DataFrame:
    "Finetune and index images/s of fresh processes under each OpenMP wait policy, alone and beside a CPU-bound neighbour."
    from retailklip.synth import make_world, write_imagefolder
    rows = []
    with tempfile.TemporaryDirectory() as d:
        write_imagefolder(make_world(products, heldout_frac=0., seed=5), Path(d)/'w')
        arg = json.dumps(dict(root=str(Path(d)/'w'/'train'), steps=steps, warm=warm, batch_size=batch_size, n_index=n_index))
        for neighbour in (False, True):
            hog = subprocess.Popen([sys.executable, '-c', 'while True: pass']) if neighbour else None
            try:
                for pol in policies:
                    env = {**os.environ, 'OMP_WAIT_POLICY': pol}
                    p = subprocess.run([sys.executable, '-c', _THREADS_STEP, arg], capture_output=True, text=True, env=env, check=True)
                    rows.append(dict(policy=pol, neighbour=neighbour, **json.loads(p.stdout.strip().splitlines()[-1])))
            finally:
                if hog is not None: hog.kill(); hog.wait()
    return pd.DataFrame(rows)

def threads_verdict(df:pd.DataFrame, # `threads`' table
                    chosen:str='PASSIVE', other:str='ACTIVE')->dict:
    "The chosen policy's speed over the other's, alone and beside a neighbour, for finetune and index; met when it wins beside a neighbour and keeps >= 0.9 alone."
    v = df.set_index(['policy', 'neighbour'])
    r = {f'{what}_{where}': float(v.loc[(chosen, nb), f'{what}_img_s']/v.loc[(other, nb), f'{what}_img_s'])
         for what in ('finetune', 'index') for where, nb in (('alone', False), ('beside_neighbour', True))}
    r['met'] = bool(min(r['finetune_beside_neighbour'], r['index_beside_neighbour']) > 1
                    and min(r['finetune_alone'], r['index_alone']) >= .9)
    return r
