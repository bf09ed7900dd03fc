"""Section 8, peak memory of the user's commands at N and 10N images, each in a fresh process."""
from __future__ import annotations
import json, os, subprocess, sys, tempfile
from pathlib import Path
import pandas as pd
from .common import _jpeg_tree

def tree_pss_kb(pid:int)->int:
    "Proportional set size (KiB) of process `pid` and all its descendants: shared pages are split between the processes that map them, so the sum is the memory the tree uses."
    tot, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f'/proc/{p}/smaps_rollup') as f: tot += next(int(l.split()[1]) for l in f if l.startswith('Pss:'))
            for t in os.listdir(f'/proc/{p}/task'):
                with open(f'/proc/{p}/task/{t}/children') as f: todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration, ValueError): pass  # a process that just ended
    return tot

_CHECKOUT = str(Path(__file__).resolve().parent.parent)  # the repository root, where the package `bench` lives

_HWM = """import os, sys, threading, time
from bench.memory import tree_pss_kb
peak = [0]
def watch():
    while True: peak[0] = max(peak[0], tree_pss_kb(os.getpid())); time.sleep(.05)
threading.Thread(target=watch, daemon=True).start()
from retailklip.cli import main
try: rc = main()
finally:
    hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]
    open(os.environ['RK_HWM_OUT'], 'w').write(f'{hwm} {peak[0]}')
sys.exit(rc)"""

def peak_rss_mb(args:list, # `retailklip` arguments, e.g. ['index', '--run', RUN, ...]
                log:str|Path # stdout and stderr of the command are appended here
               )->tuple: # (peak resident memory of the command's process, peak PSS of it and its workers together), MiB
    "Run `retailklip ARGS` in a fresh Python process; return its peak resident memory (VmHWM) and the peak memory of its process tree (PSS, sampled every 50 ms)."
    with tempfile.NamedTemporaryFile(suffix='.hwm') as h, open(log, 'ab') as f:
        env = {**os.environ, 'RK_HWM_OUT': h.name, 'TQDM_DISABLE': '1'}
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [_CHECKOUT, os.environ.get('PYTHONPATH')]))  # `bench` for `_HWM`
        rc = subprocess.run([sys.executable, '-c', _HWM, *map(str, args)], stdout=f, stderr=f, env=env).returncode
        if rc != 0:
            last = (Path(log).read_text(errors='replace').strip().splitlines() or [''])[-1]
            raise RuntimeError(f"retailklip {' '.join(map(str, args))} exited with {rc}: {last}")
        main_kb, tree_kb = map(int, Path(h.name).read_text().split())
        return main_kb/1024, tree_kb/1024

def _link_tree(files:list, root:Path, copies:int)->Path:
    "`root/<folder>/c<j>_<name>` hard links: `copies` of every file, each under its own name (keeps the parent folder)."
    for j in range(copies):
        for f in files:
            d = root/Path(f).parent.name; d.mkdir(parents=True, exist_ok=True); os.link(f, d/f'c{j}_{Path(f).name}')
    return root

def _link_scenes(src:Path, root:Path, copies:int)->Path:
    "A copy of a `write_scenes` folder whose images are hard-linked `copies` times, with the COCO file to match."
    coco = json.loads((src/'annotations.json').read_text()); big = 10**7
    imgs, anns = [], []
    for j in range(copies):
        imgs += [dict(im, id=j*big + im['id'], file_name=f"c{j}_{im['file_name']}") for im in coco['images']]
        anns += [dict(a, id=j*big + a['id'], image_id=j*big + a['image_id']) for a in coco['annotations']]
    _link_tree(sorted((src/'images').glob('*.jpg')), root, copies)
    (root/'annotations.json').write_text(json.dumps(dict(coco, images=imgs, annotations=anns)))
    for f in ('base_classes.txt', 'novel_classes.txt'): (root/f).write_text((src/f).read_text())
    return root

def memory(n:int=2000, # images at the small size (N); the large size is `factor` x N
           factor:int=10, size:int=224, # JPEG side on disk
           finetune_steps:int=50, for_steps:int=5, vitb:tuple=(1000, 4000), # ViT-B-32 (random weights) index sizes
           commands:tuple=('finetune', 'index', 'classify', 'search-index', 'for-train'), # classify needs index
           work:str|Path|None=None)->pd.DataFrame:
    "Peak RSS of index, classify, finetune, search-index and for-train at N and 10N images, each in a fresh process."
    from retailklip.synth import make_world
    from retailklip.scenes import write_scenes
    from retailklip.backbone import DEFAULT_MODEL, load_backbone
    from retailklip.train import save_run
    if 'classify' in commands and 'index' not in commands: raise ValueError("'classify' needs 'index' in commands")
    bb = load_backbone(*DEFAULT_MODEL); dim = bb.embed_dim
    with tempfile.TemporaryDirectory(dir=work) as d:
        d = Path(d); log = d/'log.txt'
        w = make_world(max(2, max(n, *(vitb or (0,)))//6 + 1), heldout_frac=0., seed=7, size=size)
        files = list(map(Path, _jpeg_tree(w, max(n, max(vitb or (0,))), d/'src').path))
        write_scenes(d/'scenes_src', n=n, seed=3, size=size)
        rows = []
        if 'finetune' not in commands: save_run(bb, d/'run_1')
        def row(cmd, model, images, args, extra_vectors=0):
            if cmd in commands or model != 'rk-vit-mini':
                main, tree = peak_rss_mb(args, log)
                rows.append(dict(command=cmd, model=model, images=images, peak_mb=main, tree_peak_mb=tree, vectors_mb=extra_vectors*4*dim/2**20))
        for m in (1, factor):
            prod, sc = _link_tree(files[:n], d/f'products_{m}', m), _link_scenes(d/'scenes_src', d/f'scenes_{m}', m)
            row('finetune', 'rk-vit-mini', m*n, ['finetune', '--data', prod, '--out', d/f'run_{m}', '--steps', finetune_steps])
            row('index', 'rk-vit-mini', m*n, ['index', '--run', d/'run_1', '--refs', prod, '--out', d/f'idx_{m}.rk'], m*n)
            row('classify', 'rk-vit-mini', m*n, ['classify', '--index', d/'idx_1.rk', prod, '--csv', d/f'cls_{m}.csv'])
            row('search-index', 'rk-vit-mini', m*n, ['search-index', '--images', sc/'images', '--method', 'cluster', '--out', d/f's_{m}.npz'], 5*m*n)
            row('for-train', 'rk-vit-mini', m*n, ['for-train', '--coco', sc/'annotations.json', '--images', sc/'images', '--base-classes',
                                                  sc/'base_classes.txt', '--out', d/f'for_{m}', '--steps', for_steps])
        if vitb:
            peak_rss_mb(['finetune', '--data', d/'products_1', '--model', 'ViT-B-32', '--steps', 0, '--out', d/'vitb'], log)
            for v in vitb:
                row('index', 'ViT-B-32', v, ['index', '--run', d/'vitb', '--refs', _link_tree(files[:v], d/f'vitb_{v}', 1), '--out', d/f'vitb_{v}.rk'], v)
    df = pd.DataFrame(rows); df.loc[df.model == 'ViT-B-32', 'vectors_mb'] *= 512/dim
    return df

def memory_verdict(df:pd.DataFrame, slack_mb:float=150.)->pd.DataFrame:
    "Per command and model: growth of the peak from the smallest to the largest size, against 150 MB + the extra index vectors: the process's own peak and its tree's (with its workers)."
    out = []
    for (cmd, model), g in df.groupby(['command', 'model'], sort=False):
        a, b = g.sort_values('images').iloc[[0, -1]].itertuples()
        allowed = slack_mb + b.vectors_mb - a.vectors_mb
        grow, tgrow = b.peak_mb - a.peak_mb, b.tree_peak_mb - a.tree_peak_mb
        out.append(dict(command=cmd, model=model, images=f'{a.images:,} -> {b.images:,}', peak_mb=f'{a.peak_mb:.0f} -> {b.peak_mb:.0f}',
                        growth_mb=grow, tree_peak_mb=f'{a.tree_peak_mb:.0f} -> {b.tree_peak_mb:.0f}', tree_growth_mb=tgrow,
                        allowed_mb=allowed, met=bool(grow <= allowed and tgrow <= allowed)))
    return pd.DataFrame(out)
