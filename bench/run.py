"""`run_bench`: every section (or some) at the quick or full size, into bench.json, bench.md and headline.md."""
from __future__ import annotations
import json, tempfile, time
from pathlib import Path
import pandas as pd
from tqdm.auto import tqdm
from retailklip.core import atomic_write_text
from . import SECTIONS
from .common import machine_info
from .accuracy import accuracy_retailklip, accuracy_for
from .throughput import throughput
from .knn import knn_search, best_per_method, default_verdict, rendered_embeddings, rendered_knn_sets, MatchedVectors
from .for_scale import for_at_scale
from .training import training
from .onboarding import onboarding
from .memory import memory, memory_verdict
from .user_path import user_path
from .reliability import reliability
from .kills import kill_trials
from .serve import serve_load
from .big_index import big_index
from .scale_out import scale_out
from .threads import threads, threads_verdict
from .startup import startup
from .shelves import shelves
from .transfer import transfer, factors
from .report import bench_markdown, headline_markdown

SIZES = dict(quick=dict(accuracy_retailklip=dict(seeds=(3,), n_products=24, steps=3, full_steps=3),
                        accuracy_for=dict(seeds=(5,), n_train=40, n_test=30, steps=2, fractions=(1., .1)),
                        throughput=64, knn=(10_000,), knn_queries=1000, knn_matched_queries=1000, for_images=10_000, existing=1000, new=100,
                        rendered=1200, knn_rendered=(1000,), knn_matched=(), big_index=dict(n=40_000, n_subset=20_000, dim=64, budget='8M', subset_budget='4M', n_queries=200, shard_size=5000),
                        scale_out=dict(n_images=64, steps=4, warm=2, batch_size=8, ray_images=40, shard_size=10),
                        memory=dict(n=24, factor=2, for_steps=2, vitb=(), commands=('index', 'for-train')), user_path=dict(n=96, n_naive=16, batch_size=16, steps=4, warm=1), reliability=dict(n=12, structured=12), kills=dict(n=1, concurrent=2),
                        serve=dict(clients=4, requests=4, adds=2, products=6, images=32, seconds=2.),
                        threads=dict(steps=2, warm=1, batch_size=16, n_index=64, products=12), startup=dict(runs=2),
                        shelves=dict(n_products=16, n_photos=4, outside=4, steps=3, size=(640, 480)),
                        transfer=dict(seeds=(0,), n_products=12, steps=3, render_images=40),
                        factors=dict(seeds=(0,), n_products=12, steps=3)),
             full=dict(accuracy_retailklip=dict(seeds=(2024, 7, 99), n_products=334),
                       accuracy_for=dict(seeds=(11, 22, 33), n_train=3000, n_test=1000),
                       throughput=1024, knn=(10_000, 100_000, 1_000_000), knn_queries=5000, knn_matched_queries=20_000, for_images=100_000, existing=10_000, new=1000,
                       rendered=105_000, knn_rendered=(10_000, 100_000), knn_matched=(1_000_000,), big_index=dict(), scale_out=dict(),
                       memory=dict(n=2000, factor=10), user_path=dict(n=2000), reliability=dict(n=500, structured=1000), kills=dict(n=20), serve=dict(),
                       threads=dict(), startup=dict(runs=5), shelves=dict(), transfer=dict(), factors=dict()))

def run_bench(quick:bool=False, out:str|Path='bench_out', progress:bool=True, sections:tuple|None=None,
              work:str|Path|None=None # folder for the rendered catalogue and its embeddings (kept, reused); None: a temporary one
             )->dict:
    "Run every section (or `sections`) at the quick or full size; write `out/bench.json` and `out/bench.md`. Running `sections` into a folder that holds a run of the same mode replaces those sections there and records the re-run."
    from retailklip.backbone import DEFAULT_MODEL, load_backbone
    size = SIZES['quick' if quick else 'full']; out = Path(out); out.mkdir(parents=True, exist_ok=True)
    t0 = time.time(); res = dict(date=time.strftime('%Y-%m-%d'), mode='quick' if quick else 'full', machine=machine_info())
    old = json.loads((out/'bench.json').read_text()) if sections and (out/'bench.json').exists() else None
    if old is not None and old.get('mode') == res['mode']:
        old.setdefault('reruns', []).append(dict(sections=list(sections), date=time.strftime('%Y-%m-%d %H:%M'), machine=res['machine']['cpu']))
        res = old
    bb = load_backbone(*DEFAULT_MODEL)
    steps = [s for s in SECTIONS if sections is None or s in sections]
    tmp = tempfile.TemporaryDirectory() if work is None else None
    work = Path(work or tmp.name).absolute()
    work.mkdir(parents=True, exist_ok=True)  # sections make their temporary folders inside it
    got = {}
    def _real(): # the library's embeddings of a rendered catalogue, made once per run
        if 'e' not in got: got['e'] = rendered_embeddings(size['rendered'], work, progress=progress)
        return got['e']
    bar = tqdm(steps, disable=not progress, desc='bench'); res.setdefault('section_seconds', {})
    for s in bar:
        bar.set_postfix_str(s); ts = time.time()
        if s == 'accuracy_retailklip': res[s] = accuracy_retailklip(**size[s])
        elif s == 'accuracy_for': res[s] = accuracy_for(**size[s])
        elif s == 'throughput': res[s] = throughput(bb, size['throughput'])
        elif s == 'knn':
            real = _real()
            sets = rendered_knn_sets(*real, size['knn_rendered'], size['knn_queries']); mv = MatchedVectors(*real)
            df = pd.concat([knn_search(0, data=sets[n], vectors='rendered') for n in size['knn_rendered']]
                           + [knn_search(0, data=mv.sets(n, size['knn_matched_queries']), vectors='matched to rendered') for n in size['knn_matched']]
                           + [knn_search(n, n_queries=size['knn_queries']) for n in size['knn']], ignore_index=True)
            res['knn'] = dict(all=df.to_dict('records'), best=best_per_method(df).to_dict('records'),
                              default_verdict=default_verdict(df).to_dict('records'))
        elif s == 'for_scale': res[s] = for_at_scale(size['for_images']).to_dict('records')
        elif s == 'training': res[s] = training(full=not quick).to_dict('records')
        elif s == 'onboarding': res[s] = onboarding(size['existing'], size['new'])
        elif s == 'memory':
            df = memory(**size['memory']); res[s] = dict(all=df.to_dict('records'), verdict=memory_verdict(df).to_dict('records'))
        elif s == 'user_path': res[s] = user_path(**size['user_path'])
        elif s == 'reliability': res[s] = reliability(**size['reliability'])
        elif s == 'kills': res[s] = kill_trials(**size['kills'])
        elif s == 'serve': res[s] = serve_load(**size['serve'])
        elif s == 'big_index': res[s] = big_index(_real(), work=work, **size['big_index'])
        elif s == 'scale_out': res[s] = scale_out(work=work, **size['scale_out'])
        elif s == 'threads':
            df = threads(**size[s]); res[s] = dict(rows=df.to_dict('records'), **threads_verdict(df))
        elif s == 'startup': res[s] = startup(**size[s])
        elif s == 'shelves': res[s] = shelves(work=work, **size[s])
        elif s == 'transfer': res[s] = transfer(work=work, **size[s])
        elif s == 'factors': res[s] = factors(work=work, **size[s])
        res['section_seconds'][s] = time.time() - ts
    if tmp is not None: tmp.cleanup()
    res['seconds'] = sum(res['section_seconds'].values())
    atomic_write_text(out/'bench.json', json.dumps(res, indent=1, default=float))
    (out/'bench.md').write_text(bench_markdown(res)); (out/'headline.md').write_text(headline_markdown(res) + '\n'); return res
