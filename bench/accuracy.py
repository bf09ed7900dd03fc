"""Sections 1 and 2, accuracy over seeds: the RetailKLIP table and the FOR table."""
from __future__ import annotations
import pandas as pd

def _mean_std(df:pd.DataFrame, by:str='method')->pd.DataFrame:
    "Mean and standard deviation of every numeric column per `by`, flattened to `col_mean` / `col_std`."
    g = df.groupby(by, sort=False).agg(['mean', 'std'])
    g.columns = [f'{a}_{b}' for a, b in g.columns]; return g.reset_index()

def accuracy_retailklip(seeds:tuple=(2024, 7, 99), n_products:int=334, steps:int|None=None, full_steps:int=150,
                        progress:bool=False)->dict:
    "The four-method RetailKLIP table on each world seed: per-seed rows, mean/std summary and the retrain / add time ratio."
    from retailklip.eval import make_benchmark, run_benchmark
    from retailklip.train import FinetuneConfig
    from retailklip.backbone import DEFAULT_MODEL, load_backbone
    bb = load_backbone(*DEFAULT_MODEL); cfg = FinetuneConfig() if steps is None else FinetuneConfig(steps=steps, warmup=1)
    rows = []
    for seed in seeds:
        b = make_benchmark(n_products, 0.3, seed)
        r = run_benchmark(b, bb, cfg, full_steps=full_steps, progress=progress)
        for m, t in r['table'].iterrows():
            rows.append(dict(seed=seed, method=m, acc1=t['acc1'], acc5=t['acc5'], acc1_macro=t['acc1_macro'],
                             new_skus=r['counts']['heldout_products'], seconds_to_cover=t['seconds_to_cover_new_skus']))
    df = pd.DataFrame(rows); s = _mean_std(df.drop(columns=['seed', 'new_skus']))
    cover = df.pivot(index='seed', columns='method', values='seconds_to_cover')
    ratio = cover['full_finetune']/cover['retailklip_knn']
    gain = df.pivot(index='seed', columns='method', values='acc1')
    return dict(per_seed=df.to_dict('records'), summary=s.to_dict('records'), new_skus=int(df.new_skus.iloc[0]),
                retrain_over_add=float(ratio.mean()), retrain_over_add_min=float(ratio.min()),
                gain_over_pretrained=float((gain['retailklip_knn'] - gain['pretrained_knn']).mean()),
                gap_to_full_finetune=float((gain['retailklip_knn'] - gain['full_finetune']).mean()),
                target_ratio=100., met=bool(ratio.min() >= 100.))

def accuracy_for(seeds:tuple=(11, 22, 33), n_train:int=3000, n_test:int=1000, steps:int|None=None,
                 fractions:tuple=(1., .1, .05, .01), progress:bool=False)->dict:
    "CLIP / Cluster-CLIP / FOR (each label fraction) mAP@50 on base and novel classes for each collection seed."
    from retailklip.retrieval_bench import make_retrieval_benchmark, run_retrieval_benchmark
    from retailklip.decoder import ForConfig
    from retailklip.backbone import DEFAULT_MODEL, load_backbone
    bb = load_backbone(*DEFAULT_MODEL); cfg = ForConfig() if steps is None else ForConfig(steps=steps)
    tabs = []
    for seed in seeds:
        b = make_retrieval_benchmark(bb, n_train, n_test, seed=seed, progress=progress)
        t, *_ = run_retrieval_benchmark(b, bb, cfg, fractions=fractions, progress=progress)
        tabs.append(t.reset_index()[['method', 'map50_base', 'map50_novel']].assign(seed=seed))
    df = pd.concat(tabs, ignore_index=True); s = _mean_std(df.drop(columns='seed')).set_index('method')
    gain = lambda m: s.loc[m, 'map50_novel_mean'] - s.loc['cluster', 'map50_novel_mean']
    keep = gain('for_10pct')/gain('for') if 'for_10pct' in s.index and gain('for') > 0 else float('nan')
    return dict(per_seed=df.to_dict('records'), summary=s.reset_index().to_dict('records'),
                for_minus_cluster_novel=float(gain('for')), ten_pct_keeps=float(keep))
