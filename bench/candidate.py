"""`python -m bench.candidate WEIGHTS`: the evidence for making a pretrained mini-CLIP the default. acc@1 of the
candidate and of today's default, side by side on the same clean worlds (each look, several world seeds), as they are
and optionally finetuned on the seen looks; and which factor of the unseen look costs each model the most."""
from __future__ import annotations
import argparse, json, sys, tempfile, time
from pathlib import Path
import numpy as np
from .transfer import SEEN, UNSEEN, acc1, factor_variants, world_seeds, write_worlds

LOOKS = dict(seen=SEEN, classic=('classic',), unseen=(UNSEEN,), market=('market',))  # world name -> its looks

def look_seeds(repeat:int)->dict: # world name -> seed of its products
    "World seeds of one repeat: section 18's for `3 + repeat` (never the pretraining stream's), market beside unseen."
    s = world_seeds(3 + repeat)
    return dict(s, market=s['unseen'])

def judging_worlds(root:Path, repeats:int, n_products:int, factors:bool)->dict: # name -> [folders, one per repeat]
    "Render the judging worlds once under `root` (kept: a second model is judged on the same images)."
    worlds, todo = {}, {}
    for r in range(repeats):
        seeds = look_seeds(r)
        looks = {n: (seeds[n], LOOKS[n]) for n in LOOKS}
        if factors: looks.update({f'unseen {k}': (seeds['unseen'], (v,)) for k, v in factor_variants().items()})
        for name, job in looks.items():
            d = root/f'r{r}'/name.replace(' ', '_')
            todo[d] = job
            worlds.setdefault(name, []).append(d)
    write_worlds(todo, n_products)
    return worlds

def judge(src:dict, # ModelSource arguments: pretrained=TAG or checkpoint=FILE
          worlds:dict, finetune:bool=False, steps:int=300, work:Path|None=None)->dict:
    "Mean acc@1 per world of one model as it is (and finetuned on each repeat's seen world), and per repeat."
    from retailklip.api import Recognizer
    rec, out = Recognizer.from_pretrained('rk-vit-mini', progress=False, **src), {}
    for name, ds in worlds.items():
        out.setdefault('as_is', {})[name] = [acc1(rec, d) for d in ds]
    if finetune:
        for r, seen in enumerate(worlds['seen']):
            with tempfile.TemporaryDirectory(dir=work) as run:
                ft = Recognizer.finetune(seen/'train', Path(run)/'ft', steps=steps, progress=False, **src)
                for name in LOOKS:
                    out.setdefault('finetuned_seen', {}).setdefault(name, []).append(acc1(ft, worlds[name][r]))
    return {k: dict(mean={n: float(np.mean(v)) for n, v in per.items()}, per_repeat=per) for k, per in out.items()}

def candidate(checkpoint, # the candidate's weights file (`retailklip pretrain --export`)
              repeats:int=5, n_products:int=100, finetune:bool=False, steps:int=300, factors:bool=True,
              work=None # folder for the worlds (kept, reused); None: a temporary one
             )->dict:
    "The candidate against today's default on the same worlds; `better` when it wins on the unseen look as it is."
    from retailklip.backbone import DEFAULT_MODEL
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(work or tmp)
        t = time.time()
        worlds = judging_worlds(root, repeats, n_products, factors)
        res = dict(candidate=judge(dict(checkpoint=str(checkpoint)), worlds, finetune, steps, root),
                   default=judge(dict(pretrained=DEFAULT_MODEL[1]), worlds, finetune, steps, root))
    gain = res['candidate']['as_is']['mean']['unseen'] - res['default']['as_is']['mean']['unseen']
    return dict(res, checkpoint=str(checkpoint), default_model=list(DEFAULT_MODEL), unseen=UNSEEN, seen=list(SEEN),
                repeats=repeats, products=n_products, world_seeds=[look_seeds(r) for r in range(repeats)],
                unseen_gain=gain, better=bool(gain > 0), seconds=time.time() - t)

def main(argv:list|None=None)->int:
    "Judge a weights file; print the table and write --out (JSON). Exit code 0, or 2 with a one-line error."
    p = argparse.ArgumentParser(prog='python -m bench.candidate', description=__doc__.split('\n\n')[0])
    p.add_argument('checkpoint', help='the candidate weights file')
    p.add_argument('--repeats', type=int, default=5, help='world seeds per look (default: 5)')
    p.add_argument('--products', type=int, default=100, help='products per world (default: 100)')
    p.add_argument('--finetune', action='store_true', help='also finetune each model on the seen looks (300 steps)')
    p.add_argument('--no-factors', action='store_true', help='skip the unseen look with one factor put back')
    p.add_argument('--work', default=None, help='folder kept for the worlds (default: a temporary one)')
    p.add_argument('--out', default=None, help='write the result here as JSON (default: none)')
    a = p.parse_args(argv)
    if not Path(a.checkpoint).is_file(): p.exit(2, f"python -m bench.candidate: no weights file at {a.checkpoint}\n")
    if a.repeats < 1 or a.products < 4: p.exit(2, "python -m bench.candidate: --repeats >= 1 and --products >= 4\n")
    r = candidate(a.checkpoint, a.repeats, a.products, a.finetune, factors=not a.no_factors, work=a.work)
    for who in ('default', 'candidate'):
        for kind, v in r[who].items():
            print(f"{who:9} {kind:14}", json.dumps({n: round(x, 3) for n, x in v['mean'].items()}))
    verdict = 'better' if r['better'] else 'not better'
    print(f"unseen look ({r['unseen']}) as it is: {r['unseen_gain']:+.3f} -> {verdict}")
    if a.out: Path(a.out).write_text(json.dumps(r, indent=1, default=str))
    return 0

if __name__ == '__main__': sys.exit(main())
