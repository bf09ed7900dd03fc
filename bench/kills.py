"""Section 11, kill -9 while writing: the previous state loads, a resumed finetune reaches the same weights, concurrent adds lose nothing."""
from __future__ import annotations
import shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

def _cli(*args)->list: return [sys.executable, '-c', 'import sys; from retailklip.cli import main; sys.exit(main())', *map(str, args)]

_FINETUNE = ("import sys; from retailklip.api import Recognizer; "
             "Recognizer.finetune(sys.argv[1], sys.argv[2], steps=12, batch_size=16, warmup=2, ckpt_every=2, resume=True, progress=False)")

def kill_trials(n:int=20, # kills per command
                concurrent:int=8, trials:int|None=None, # concurrent `add` processes; their trials (default: n//2)
                seed:int=0, work:str|Path|None=None)->dict:
    "Kill -9 `add`, `index`, `search-index`, `for-train --overwrite` and a finetune at random moments; count the kills after which the previous state still loads, and the resumed finetunes that end at the uninterrupted weights. Then `concurrent` `add` processes of distinct products at once, `trials` times: every product must land."
    from retailklip.knn import KNNClassifier
    from retailklip.retrieval import RetrievalIndex
    from retailklip.train import load_run
    from retailklip.decoder import load_for_run
    rng, res = np.random.default_rng(seed), {}
    with tempfile.TemporaryDirectory(dir=work) as d:
        d = Path(d); run = lambda *a: subprocess.run(_cli(*a), capture_output=True, check=True)
        run('synth', '--out', d/'w', '--products', 12, '--seed', seed, '--scenes', 24)
        run('synth', '--out', d/'more', '--products', max(6, 2*concurrent), '--seed', seed + 1, '--prefix', 'new-', '--heldout-frac', .5)  # refs/: `concurrent` products
        run('finetune', '--data', d/'w'/'train', '--out', d/'run', '--steps', 0)
        run('index', '--run', d/'run', '--refs', d/'w'/'refs', '--out', d/'base.rk'); run('search-index', '--images', d/'w'/'refs', '--method', 'clip', '--out', d/'s.npz')
        sc = d/'w'/'scenes'; ft_args = ['for-train', '--coco', sc/'annotations.json', '--images', sc/'images', '--base-classes', sc/'base_classes.txt', '--steps', 8]
        run(*ft_args, '--out', d/'for_base')
        def fresh_for(): shutil.rmtree(d/'forx', ignore_errors=True); shutil.copytree(d/'for_base', d/'forx')
        jobs = {'add': (['add', '--index', d/'idx.rk', '--refs', d/'more'/'refs'], lambda: KNNClassifier.load(d/'idx.rk'), lambda: shutil.copy(d/'base.rk', d/'idx.rk')),
                'index': (['index', '--run', d/'run', '--refs', d/'w'/'refs', '--out', d/'idx.rk'], lambda: KNNClassifier.load(d/'idx.rk'), lambda: shutil.copy(d/'base.rk', d/'idx.rk')),
                'search-index': (['search-index', '--images', d/'w'/'refs', '--method', 'clip', '--out', d/'s.npz'], lambda: RetrievalIndex.load(d/'s.npz'), lambda: None),
                'for-train': ([*ft_args, '--out', d/'forx', '--overwrite'], lambda: load_for_run(d/'forx'), fresh_for)}
        for name, (args, check, reset) in jobs.items():
            reset(); t = time.time(); subprocess.run(_cli(*args), capture_output=True); full = time.time() - t
            ok = 0
            for i in range(n):
                reset()
                pr = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(.6, 1.)*full); pr.kill(); pr.wait()  # most of the first half is Python and torch starting
                try: check(); ok += 1
                except (ValueError, OSError, RuntimeError): pass
            res[name] = dict(kills=n, loads_after_kill=ok, seconds_per_run=full)
        ft = lambda out: subprocess.run([sys.executable, '-c', _FINETUNE, d/'w'/'train', out], capture_output=True, check=True)
        t = time.time(); ft(d/'ref'); full = time.time() - t; ref = load_run(d/'ref')[0].model.visual.state_dict()
        diffs = []
        for i in range(n):
            pr = subprocess.Popen([sys.executable, '-c', _FINETUNE, d/'w'/'train', d/f'ft{i}'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(.3, 1.)*full); pr.kill(); pr.wait(); ft(d/f'ft{i}')
            got = load_run(d/f'ft{i}')[0].model.visual.state_dict()
            diffs.append(max(float((got[k] - ref[k]).abs().max()) for k in ref)); shutil.rmtree(d/f'ft{i}')
        res['finetune'] = dict(kills=n, resumed_to_same_weights=int(sum(x <= 1e-5 for x in diffs)), max_weight_diff=max(diffs), seconds_per_run=full)
        res[f'add x{concurrent} at once'] = concurrent_adds(d/'base.rk', sorted((d/'more'/'refs').iterdir())[:concurrent], trials or max(1, n//2), d/'conc')
    return dict(commands=res, met=all(_trial_met(r) for r in res.values()))

def _trial_met(r:dict)->bool:
    "Whether every trial of one row of `kill_trials` kept its promise."
    if 'loads_after_kill' in r: return r['loads_after_kill'] == r['kills']
    if 'resumed_to_same_weights' in r: return r['resumed_to_same_weights'] == r['kills']
    return r['all_products_landed'] == r['trials']

def concurrent_adds(index:Path, # a product index (copied afresh for each trial)
                    products:list, # product folders, one per `add` process
                    trials:int, work:Path)->dict:
    "Start one `retailklip add` per product folder at once on a copy of `index`, `trials` times; count the trials where every add succeeded, every product landed and the index loads."
    from retailklip.knn import KNNClassifier
    work.mkdir(parents=True, exist_ok=True); before = set(KNNClassifier.load(index).products); good = 0
    for j, p in enumerate(products): shutil.copytree(p, work/f'p{j}'/Path(p).name)
    t = time.time()
    for _ in range(trials):
        shutil.copy(index, work/'idx.rk')
        procs = [subprocess.Popen(_cli('add', '--index', work/'idx.rk', '--refs', work/f'p{j}'), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for j in range(len(products))]
        codes = [p.wait() for p in procs]
        try: landed = set(KNNClassifier.load(work/'idx.rk').products) >= before | {Path(p).name for p in products}
        except (ValueError, OSError): landed = False
        good += int(all(c == 0 for c in codes) and landed)
    return dict(trials=trials, processes=len(products), all_products_landed=good, seconds_per_trial=(time.time() - t)/trials)
