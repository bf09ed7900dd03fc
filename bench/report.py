"""The reports of a `run_bench` result: bench.md (every section) and headline.md (the README's table)."""
from __future__ import annotations
import numpy as np, pandas as pd
from . import SECTIONS
from .reliability import OUTCOMES


def threshold_table(sh:dict)->list: # markdown lines
    "Section 17's unknown thresholds side by side on the true boxes: where each was calibrated, what it gives."
    where = dict(shots='single-product shots (balanced)', shelves_balanced='shelf photos (balanced)',
                 shelves_max_flagged=f"shelf photos (at most {sh.get('max_flagged', .1):g} known flagged)")
    rows = [dict(model=m, calibrated_on=where[n], threshold=v['threshold'], known_right=v['known_accuracy'],
                 known_flagged=v['known_flagged'], outside_flagged=v['unknown_recall'])
            for m in ('pretrained', 'retailklip') for n, v in sh[m]['thresholds'].items() if n in where]
    top = ', '.join(f"{m} {sh[m]['thresholds']['top1']:.3f}" for m in ('pretrained', 'retailklip'))
    return [_md(pd.DataFrame(rows)), '', f"The unknown threshold by where it was calibrated, on the true boxes of the held-out "
            f"photos. Known facings whose best match is their product, whatever the threshold: {top}.", '']

def _md(df:pd.DataFrame)->str:
    "A markdown table (3 significant digits for floats), without extra dependencies."
    fmt = lambda v: f'{v:.3g}' if isinstance(v, (float, np.floating)) else str(v)
    return '\n'.join(['| ' + ' | '.join(map(str, df.columns)) + ' |', '|' + '---|'*len(df.columns)]
                     + ['| ' + ' | '.join(fmt(v) for v in r) + ' |' for r in df.itertuples(index=False)])

def last_reruns(res:dict)->list: # [(sections, date, machine)], oldest first
    "Each section that `run_bench` re-ran, once, at its latest re-run, grouped by that re-run."
    last, groups = {}, {}
    for r in res.get('reruns', []):
        for s in r['sections']: last[s] = (r['date'], r['machine'])
    for s, v in last.items(): groups.setdefault(v, []).append(s)
    return [(sorted(ss, key=lambda s: SECTIONS.index(s) if s in SECTIONS else len(SECTIONS)), d, m) for (d, m), ss in sorted(groups.items())]  # sections in report order

# method names in results written before the search-method registry (`retrieval.SEARCH_METHODS`) named Cluster-CLIP
OLD_METHOD_NAMES = {'cluster_clip': 'cluster'}

def by_method(summary:list)->dict:
    "The rows of a results summary by method name, older names (`OLD_METHOD_NAMES`) read as today's."
    return {OLD_METHOD_NAMES.get(r['method'], r['method']): r for r in summary}

def _met(ok:bool)->str: return 'met' if ok else 'not met'

def _verdict(ok:bool)->str: return f'**{_met(ok)}**'

def headline_markdown(res:dict)->str:
    "The README's table: one line per headline figure of a full `run_bench` result, each target met or not."
    m, L = res['machine'], ['| what | figure | target | |', '|---|---|---|---|']
    if 'accuracy_retailklip' in res:
        a = res['accuracy_retailklip']; s = {r['method']: r for r in a['summary']}
        L += [f"| RetailKLIP kNN acc@1 on held-out SKUs (pretrained kNN / full finetune) | {s['retailklip_knn']['acc1_mean']:.3f} "
              f"({s['pretrained_knn']['acc1_mean']:.3f} / {s['full_finetune']['acc1_mean']:.3f}) | +10 points over pretrained | "
              f"{_met(a['gain_over_pretrained'] >= .1)} ({100*a['gain_over_pretrained']:+.1f}) |",
              f"| covering {a['new_skus']} new SKUs: full-finetune retrain / RetailKLIP add | {a['retrain_over_add']:.0f}x | >= 100x | "
              f"{_met(a['met'])} |"]
    if 'accuracy_for' in res:
        a = res['accuracy_for']; s = by_method(a['summary'])
        L += [f"| novel mAP@50: FOR / Cluster-CLIP / CLIP | {s['for']['map50_novel_mean']:.3f} / {s['cluster']['map50_novel_mean']:.3f} / "
              f"{s['clip']['map50_novel_mean']:.3f} | FOR >= Cluster-CLIP + 8 points | {_met(a['for_minus_cluster_novel'] >= .08)} "
              f"({100*a['for_minus_cluster_novel']:+.1f}) |",
              f"| FOR with 10 % labels: share of the novel gain kept | {100*a['ten_pct_keeps']:.0f} % | >= 80 % | "
              f"{_met(a['ten_pct_keeps'] >= .8)} |"]
    if 'throughput' in res:
        tp = res['throughput']
        L += [f"| embedding throughput, library / naive loop | {tp['library_images_per_s']:.0f} / {tp['naive_images_per_s']:.0f} img/s "
              f"= {tp['speedup']:.2f}x ({tp['library_precision']}, {100*tp['fraction_of_peak']:.0f} % of matmul peak) | >= 3x | {_met(tp['met'])} |"]
    if 'knn' in res:
        for r in res['knn']['default_verdict']:
            L += [f"| kNN default at {r['n']:,} {r['vectors']} refs: {r['default']} vs fastest {r['fastest']} | {r['default_over_fastest']:.3f} of the "
                  f"fastest, recall@1 {r['default_recall1']:.3f}" + (f" ({r['recall_queries']:,} queries)" if 'recall_queries' in r else '') + f" | >= 0.95, recall >= 0.99 by one standard error | {_met(r['met'])}"
                  + (f" (by point estimates: {_met(r['met_point'])})" if r.get('met_point', r['met']) != r['met'] else '') + " |"]
    if 'user_path' in res:
        u = res['user_path']
        L += [f"| `retailklip index` path / naive open_clip loop, {u['images']:,} JPEGs | {u['index_images_per_s']:.0f} / {u['naive_images_per_s']:.0f} img/s "
              f"= {u['index_over_naive']:.2f}x | >= 3x | {_met(u['met_index'])} |",
              f"| finetune streaming from files / from memory | {u['finetune_streaming_images_per_s']:.0f} / {u['finetune_in_memory_images_per_s']:.0f} img/s "
              f"= {u['streaming_over_in_memory']:.2f}x | >= 0.9x | {_met(u['met_finetune'])} |"]
    if 'memory' in res:
        v = res['memory']['verdict']
        L += ["| peak RSS growth from N to 10N images (N = " + f"{v[0]['images'].split(' ')[0]}" + "), fresh processes: " + ', '.join(
                  f"{r['command']} {r['growth_mb']:+.0f} MB" if r['model'] == 'rk-vit-mini' else f"{r['command']} {r['model']} ({r['images']}) {r['growth_mb']:+.0f} MB" for r in v)
              + (f"; with workers at most {max(r['tree_growth_mb'] for r in v):+.0f} MB" if all('tree_growth_mb' in r for r in v) else '')
              + f" | <= 150 MB + index vectors | {_met(all(r['met'] for r in v))} |"]
    if 'reliability' in res:
        f = res['reliability']['files']; bad = sum(v.get(k, 0) for v in f.values() for k in OUTCOMES[3:])
        what = ', '.join(f"{v['cases']} {k}" for k, v in f.items())
        L += [f"| corrupted / crafted files through the loaders and the CLI ({what}): refused or still valid | "
              f"{sum(v.get(k, 0) for v in f.values() for k in OUTCOMES[:3])} of {sum(v['cases'] for v in f.values())} ({bad} unclear, traceback, crash, hang, code run, "
              f"unloadable index written or silently different answer) | all | {_met(res['reliability']['met'])} |"]
    if 'kills' in res:
        c = res['kills']['commands']; killed = [k for k, v in c.items() if 'kills' in v]
        conc = [(k, v) for k, v in c.items() if 'trials' in v]
        L += [f"| kill -9 at random moments ({', '.join(killed)}; {c['add']['kills']} each): previous state loads / resumed finetune reaches the same weights"
              + ''.join(f"; {v['processes']} concurrent adds x {v['trials']} trials: every product lands" for k, v in conc) + " | "
              f"{sum(v.get('loads_after_kill', 0) for v in c.values())} / {c['finetune']['resumed_to_same_weights']}"
              + ''.join(f" / {v['all_products_landed']}" for k, v in conc) + f" | all | {_met(res['kills']['met'])} |"]
    if 'serve' in res:
        v = res['serve']; b, one = v['runs']
        L += [f"| `retailklip serve` /classify, {b['clients']} concurrent clients: micro-batched / batch size 1 (p99 latency) | {b['requests_per_s']:.0f} / "
              f"{one['requests_per_s']:.0f} req/s = {v['batched_over_bs1']:.2f}x (p99 {b['p99_ms']:.0f} / {one['p99_ms']:.0f} ms); "
              f"{sum(r['errors'] for r in v['runs'])} errors, {sum(r['lost_updates'] for r in v['runs'])} lost of {sum(r['adds'] for r in v['runs'])} concurrent adds "
              f"| >= 3x, no error, no lost update | {_met(v['met'])} |",
              f"| vision encoder images/s, PyTorch / onnxruntime | {v['torch_images_per_s']:.0f} / {v['onnxruntime_images_per_s']:.0f} img/s | reported | |"]
        if 'engine' in v: L += [_engine_row(v['engine'])]
    if 'big_index' in res:
        b = res['big_index']; big, sub = b['rows'][-1], b['rows'][1]
        L += [f"| index of {b['vectors']:,} x {b['dim']} vectors ({b['vectors_gib']:.0f} GiB) from shards: memory over the imports, build / query | "
              f"{big['build_peak_mb'] - b['imports_peak_mb']:.0f} / {big['query_peak_mb'] - b['imports_peak_mb']:.0f} MB, recall@1 {sub['recall1']:.3f} on {sub['n']:,} | "
              f"within {big['budget_mb']/1024:.1f} GiB, recall@1 >= 0.95 | {_met(b['met'])} |"]
    if 'threads' in res:
        t = res['threads']
        L += [f"| finetune / index images/s, OMP_WAIT_POLICY=PASSIVE over ACTIVE: beside a CPU-bound neighbour (alone) | "
              f"{t['finetune_beside_neighbour']:.2f}x / {t['index_beside_neighbour']:.2f}x ({t['finetune_alone']:.2f}x / {t['index_alone']:.2f}x) | "
              f"> 1 beside, >= 0.9 alone | {_met(t['met'])} |"]
    if 'shelves' in res:
        sh = res['shelves']; r, g = sh['retailklip'].get('detected', sh['retailklip']), sh['detector']
        ap = f"{g['AP50']:.3f} / " if 'AP50' in g else ''
        L += [f"| shelf photos end to end{' (detector AP50 /)' if ap else ''} known facings found and right / outside facings "
              f"flagged / known flagged / outside products found | {ap}{r['known_accuracy']:.3f} / {r['unknown_recall']:.3f} / "
              f"{r['known_flagged']:.3f} / {r['discovery']['share']:.2f} | {'>= 0.9 / ' if ap else ''}>= 0.85 / >= 0.8 / "
              f"<= 0.1 / >= 0.8 | {_met(sh['met'])} |"]
    if 'transfer' in res:
        t = res['transfer']
        L += [f"| transfer to an unseen look ({t['unseen']}): finetuned on the others over the ceiling / shipped model over "
              f"colour histograms | {t['transfer']:.2f}x (min {t['transfer_min']:.2f}x) / "
              f"{t['shipped_over_colour']:.2f}x | >= 0.6x / >= 2x | {_met(t['met'])} |"]
    if 'factors' in res:
        f = res['factors']; c = {r['variant']: r for r in f['cost']}; w = f['costliest']
        L += [f"| what costs the models most on the unseen look ({f['unseen']}): the factor whose put-back to the default "
              f"gains most, shipped model / finetuned on the seen looks | {w['shipped']}: "
              f"{100*c[w['shipped']]['shipped']:+.0f} points / {w['finetuned_seen']}: "
              f"{100*c[w['finetuned_seen']]['finetuned_seen']:+.0f} points | reported | |"]
    L += ['', f"{res['mode'].capitalize()} run of {res['date']} on {m['cpu']}, {m['cores']} cores, CUDA: {m['cuda'] or 'none'} ({res['seconds']/60:.0f} min)."]
    L += [f"Sections {', '.join(ss)} last re-run on {d} on {mc}." for ss, d, mc in last_reruns(res)]
    return '\n'.join(L)

def _model_rate(g:dict)->str:
    "The model's own images/s on the service's JPEGs: offline `embed_images` and in-process batches, where both ran."
    if 'offline_images_per_s' not in g: return f"the engine's {g['engine_images_per_s']:.0f}"
    return (f"the model's {g['model_images_per_s']:.0f} (the best of offline `embed_images` "
            f"{g['offline_images_per_s']:.0f} and in-process batches of {g['clients']} {g['engine_images_per_s']:.0f})")

def _engine_row(g:dict)->str:
    "The headline row of the service under `hey` against its engine (`bench.serve.service_vs_engine`)."
    return (f"| `retailklip serve` /classify under `hey`, {g['clients']} clients, one {g['jpeg_side']}-px JPEG each: "
            f"requests/s over the model's own images/s, same JPEGs | {g['requests_per_s']:.0f} / "
            f"{g.get('model_images_per_s', g['engine_images_per_s']):.0f} = {g['service_over_engine']:.2f} "
            f"(p50 / p99 {g['p50_ms']:.0f} / {g['p99_ms']:.0f} ms), {g['errors']} errors | >= 0.5, no error | "
            f"{_met(g['met'])} |")

def _engine_text(g:dict)->list:
    "The report's lines on the service under `hey` against its engine, with the profile of one request."
    stack = f" ({g['http']})" if 'http' in g else ''
    return [f"The service under `hey` ({g['clients']} clients, {g['seconds']:.0f} s, one {g['jpeg_side']}-px JPEG "
            f"per multipart request{stack}): {g['requests_per_s']:.0f} requests/s, p50 {g['p50_ms']:.0f} ms, "
            f"p99 {g['p99_ms']:.0f} ms, {g['errors']} errors, against {_model_rate(g)} images/s on the same JPEGs. "
            f"Service over the model: {g['service_over_engine']:.2f}; target >= 0.5 with no error: "
            f"{_verdict(g['met'])}. Per request, the service spends {g['service_ms_beyond_engine']:.1f} ms beyond "
            f"the model's time per image (HTTP, framework, waiting). Load average before / after: "
            f"{g['load_before']} / {g['load_after']}.", '',
            "Where one request's time goes (each stage timed in-process):", '',
            _md(pd.DataFrame(g['profile']).round(3)), '']

def _gpu_line(res:dict)->str:
    "What `bench/gpu.sh` measured (batching, bf16 vs fp32 finetune, ViT-B-32 images/s), or why it did not run."
    g = res.get('gpu') or {}
    why = g.get('reason') or ('no GPU' if not res['machine']['cuda'] else 'not started')
    if not g.get('run'): return f"not run ({why})"
    return '; '.join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in g.items() if k != 'run')

def bench_markdown(res:dict)->str:
    "The markdown report of a `run_bench` result (the sections it holds)."
    m = res['machine']
    L = [f"# retailklip benchmark ({res['mode']}, {res['date']})", '',
         f"Machine: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads), CUDA: {m['cuda'] or 'none'}; "
         f"torch {m['torch']}, faiss {m['faiss']}, open_clip {m['open_clip']}, Python {m['python']}. Total {res['seconds']:.0f} s.", '']
    for ss, d, m in last_reruns(res): L += [f"Sections {', '.join(ss)} were last re-run on {d} ({m}) with `--sections`.", '']
    if 'accuracy_retailklip' in res:
        a = res['accuracy_retailklip']
        L += ['## 1. Accuracy, RetailKLIP (held-out SKUs, mean and std over seeds ' + ', '.join(str(s) for s in sorted({r['seed'] for r in a['per_seed']})) + ')', '',
              _md(pd.DataFrame(a['summary'])), '',
              f"RetailKLIP kNN minus pretrained kNN: {100*a['gain_over_pretrained']:+.1f} points acc@1; minus full finetune: "
              f"{100*a['gap_to_full_finetune']:+.1f} points.", '',
              f"Covering {a['new_skus']} new SKUs: retraining the full finetune takes {a['retrain_over_add']:.0f}x (worst seed "
              f"{a['retrain_over_add_min']:.0f}x) the time RetailKLIP needs to embed and add them. Target >= 100x: {_verdict(a['met'])}.", '']
    if 'accuracy_for' in res:
        a = res['accuracy_for']
        L += ['## 2. Accuracy, FOR (mAP@50, mean and std over seeds ' + ', '.join(str(s) for s in sorted({r['seed'] for r in a['per_seed']})) + ')', '',
              _md(pd.DataFrame(a['summary'])), '',
              f"FOR minus Cluster-CLIP on novel classes: {100*a['for_minus_cluster_novel']:+.1f} points; FOR with 10 % labels keeps "
              f"{100*a['ten_pct_keeps']:.0f} % of that gain.", '']
    if 'throughput' in res:
        tp = res['throughput']
        L += ['## 3. Embedding throughput', '', _md(pd.DataFrame([tp])), '',
              f"Target: library path >= 3x the naive loop: {_verdict(tp['met'])} ({tp['speedup']:.2f}x); "
              f"{100*tp['fraction_of_peak']:.1f} % of the measured {tp['library_precision']} matmul peak ({tp['peak_gflops']:.0f} GFLOP/s).", '']
    if 'knn' in res:
        L += ['## 4. kNN search (recall@1 vs exact)', '', "Vectors: `rendered` are the shipped mini-CLIP's embeddings (dim 128) of rendered product images "
              "(queries: other images of indexed products); `matched to rendered` are drawn with their statistics (`MatchedVectors`); `gaussian` are "
              "clustered Gaussian vectors (dim 512).", '', 'Fastest setting per method with recall@1 >= 0.99 (by one standard error):', '',
              _md(pd.DataFrame(res['knn']['best'])), '', 'The library default (`KNNClassifier()`, index chosen by size) against the fastest:', '',
              _md(pd.DataFrame(res['knn']['default_verdict'])), '',
              'Target: the library default within 5 % of the fastest option at recall@1 >= 0.99 (by one standard error, `reaches`) at each size: '
              + _verdict(all(r['met'] for r in res['knn']['default_verdict'])) + '.', '']
    if 'for_scale' in res: L += ['## 5. FOR retrieval at scale', '', _md(pd.DataFrame(res['for_scale'])), '']
    if 'training' in res:
        L += ['## 6. Training speed (finetune, with / without gradient checkpointing)', '', _md(pd.DataFrame(res['training'])), '']
        if not res['machine']['cuda']: L += ['No CUDA device on this machine: the bf16 AMP vs fp32 comparison was not run.', '']
    if 'onboarding' in res: L += ['## 7. Onboarding (add vs rebuild)', '', _md(pd.DataFrame([res['onboarding']])), '']
    if 'memory' in res:
        L += ['## 8. Peak memory of the commands, N and 10N images on disk (fresh processes)', '', _md(pd.DataFrame(res['memory']['all'])), '',
              _md(pd.DataFrame(res['memory']['verdict'])), '', 'Target: peak at the large size <= peak at the small size + 150 MB + the extra index vectors, '
              'for every command: ' + _verdict(all(r['met'] for r in res['memory']['verdict'])) + '.', '']
    if 'user_path' in res:
        u = res['user_path']
        L += ["## 9. The user's path: `retailklip index` and streaming finetune", '', _md(pd.DataFrame([u])), '',
              f"`Recognizer.index` (the call `retailklip index` makes) vs the naive open_clip loop on the same {u['images']:,} JPEGs: "
              f"{u['index_over_naive']:.2f}x, target >= 3x: {_verdict(u['met_index'])}. The whole command in a fresh process, with "
              f"Python start-up and model loading: {u['cli_index_images_per_s_with_startup']:.0f} img/s. Finetune streaming from the files "
              f"vs from the same images decoded in memory: {u['streaming_over_in_memory']:.2f}x, target >= 0.9x: {_verdict(u['met_finetune'])}.", '']
    if 'reliability' in res:
        r = res['reliability']; df = pd.DataFrame(r['files']).T.drop(columns=['examples', 'faults'], errors='ignore').fillna(0).reset_index(names='file')
        faults = [f"- {k}: `{m[:200]}`" for k, v in r['files'].items() for m in v.get('faults', [])[:3]]
        L += ['## 10. Reliability: corrupted and crafted files through the loaders and the CLI', '', _md(df), '',
              *((['Cases that broke the promise (at most three per kind of file):', ''] + faults + ['']) if faults else []),
              'One refusal of each kind of file, as the CLI prints it:', ''] + [f"- {k}: `{v['examples'].get('refused', '')[:160]}`" for k, v in r['files'].items()] + [
              '', 'Target: every case refused with a one-line error naming the file, or still a valid file (the same answers, or other '
              'answers only where a value changed that no check can see); no traceback, crash, hang, code run, unloadable index written or '
              'silently different answer: ' + _verdict(r['met']) + '.', '']
    if 'kills' in res:
        k = res['kills']
        L += ['## 11. Reliability: kill -9 while writing', '', _md(pd.DataFrame(k['commands']).T.reset_index(names='command').fillna('')), '',
              'Target: after every kill the previous state loads (a for-train killed while replacing a run leaves the old run), every resumed '
              'finetune ends at the uninterrupted weights, and concurrent adds lose no product: ' + _verdict(k['met']) + '.', '']
    if 'serve' in res:
        v = res['serve']
        L += ['## 12. The service under load', '', _md(pd.DataFrame(v['runs']).drop(columns='error_kinds')), '',
              f"Micro-batched over batch size 1: {v['batched_over_bs1']:.2f}x requests/s; target >= 3x with no error and no lost update: "
              f"{_verdict(v['met'])}. Vision encoder alone, the same JPEGs: PyTorch {v['torch_images_per_s']:.0f} img/s, onnxruntime "
              f"{v['onnxruntime_images_per_s']:.0f} img/s ({v['onnx_over_torch']:.2f}x).", '']
        if 'engine' in v: L += _engine_text(v['engine'])
        L += [f"GPU script (`bench/gpu.sh`): {_gpu_line(res)}", '']
    if 'big_index' in res:
        b = res['big_index']
        L += [f"## 13. Indexes larger than memory: {b['vectors']:,} x {b['dim']} vectors ({b['vectors_gib']:.1f} GiB) from shards", '',
              _md(pd.DataFrame(b['rows']).fillna('')), '',
              f"Build and query each in a fresh process; `index_mb` is the peak minus the {b['imports_peak_mb']:.0f} MB of a process that only imports "
              f"the library. Target: within the budget, recall@1 >= 0.95 on the subset: {_verdict(b['met'])}.", '']
    if 'scale_out' in res:
        o = res['scale_out']; g, r = o['ddp'], o['ray']
        L += ['## 14. Scaling out: torchrun (DDP) training and Ray Data embedding', '', _md(pd.DataFrame([g])), '', _md(pd.DataFrame([r])), '',
              f"2 processes against 1, the same global batch: {g['two_over_one']:.2f}x images/s, loss curves within {g['max_loss_difference']:.1e}. "
              f"Ray, 2 actors against 1: {r['two_over_one']:.2f}x images/s; after losing {r['shards_lost']} shards the re-run embedded "
              f"{r['shards_re_embedded']}, max difference from the in-process embeddings {r['max_diff_ray_vs_local']:.1e}. "
              f"Target: loss within 1e-3, only the lost shards re-embedded, equal to in-process within 1e-5: {_verdict(o['met'])}. "
              + ('' if res['machine']['cuda'] else 'No GPU on this machine: the multi-GPU rows were not run.'), '']
    if 'threads' in res:
        t = res['threads']
        L += ['## 15. Threads on a shared machine', '', _md(pd.DataFrame(t['rows'])), '',
              f"Fresh processes, {res['machine']['cores']} cores, each finetuning and indexing under one OpenMP wait policy, alone and "
              f"beside a `while True: pass` neighbour. The CLI's PASSIVE over ACTIVE: finetune {t['finetune_beside_neighbour']:.2f}x and "
              f"index {t['index_beside_neighbour']:.2f}x beside the neighbour, {t['finetune_alone']:.2f}x and {t['index_alone']:.2f}x "
              f"alone. Target: faster beside a neighbour, >= 0.9x alone: {_verdict(t['met'])}.", '']
    if 'startup' in res:
        u = res['startup']
        L += ['## 16. Start-up', '', _md(pd.DataFrame([u])), '',
              f"Fresh processes, median of {u['runs']}: `retailklip --help` {u['help_seconds']:.2f} s, `import retailklip.api` "
              f"{u['api_import_seconds']:.2f} s. Target: `--help` imports no torch: {_verdict(u['met'])}.", '']
    if 'shelves' in res:
        sh = res['shelves']
        flat = lambda r: {k: v for k, v in r.items() if k not in ('discovery', 'detected', 'thresholds')} | {
            f'discovery_{k}': v for k, v in r['discovery'].items()}
        rows = [dict(model=m, boxes='true', **flat(sh[m])) for m in ('pretrained', 'retailklip')]
        rows += [dict(model=m, boxes='detected', **flat(sh[m]['detected'])) for m in ('pretrained', 'retailklip')
                 if 'detected' in sh[m]]
        det = sh['detector']
        dl = (f"Detector {det.get('name', '')}: AP {det['AP']:.3f}, AP50 {det['AP50']:.3f}, AR@300 {det['AR']:.3f}"
              + (f", AR@100 {det['AR100']:.3f}" if 'AR100' in det else '') + " on these "
              f"photos (pycocotools), {det['seconds_per_photo']:.2f} s per photo." if det.get('run', True)
              else f"Detector: not run ({det['reason']}).")
        L += ['## 17. Shelf photos', '', _md(pd.DataFrame(rows).set_index(['model', 'boxes']).T.reset_index()), '',
              f"{sh['photos']} held-out shelf photos of {sh['size'][0]} x {sh['size'][1]} px drawn from a world of {sh['products']} products "
              f"(finetuned on its train split in {sh['finetune_seconds']:.0f} s) and {sh['outside_products']} products outside it, read by "
              f"`Recognizer.read_shelf` with the index of every world product's catalogue photos, "
              + (f"the unknown threshold calibrated on {sh['calibration_photos']} labelled shelf photos of other layouts and other "
                 f"outside products (`Recognizer.calibrate_shelves`: at most {sh['max_flagged']:g} of their known facings flagged)"
                 if 'max_flagged' in sh else "the unknown threshold calibrated on single-product shots")
              + ": once on the true boxes, once end to end from the detector's boxes. Each true facing is matched to "
              f"at most one box read (`shelf.label_facings`, IoU >= 0.5): known facings count when found and given their product, "
              f"outside facings when found and flagged unknown. Baseline: the whole photo through kNN. "
              + (f"Each facing is cropped by `detector.facing_crop` (the box's own pixels on grey); a square of the photo around "
                 f"each true box (neighbours in) gives {sh['retailklip']['context_crop_accuracy']:.3f} of known facings right "
                 f"with the finetuned model (the box alone on grey: {sh['retailklip']['known_accuracy']:.3f}). "
                 if 'context_crop_accuracy' in sh['retailklip'] else '')
              + f"Discovery: outside products on "
              f">= 3 photos found as a candidate of purity >= 0.9; those candidates enrolled, their facings on photos not seen before. "
              + (f"Read as a stream (discovery after each photo, in order; end to end, finetuned), "
                 f"{dd['enrolled_in_stream']} of {dd['outside_products_seen']} outside products formed a pure candidate, "
                 f"after a median of {dd['median_photos_to_enrol']:g} photos counted from their first appearance (included): a "
                 f"person could enrol them there and have them recognised from the next photo on. "
                 if (dd := sh['retailklip'].get('detected', sh['retailklip'])['discovery']).get('enrolled_in_stream') else '')
              + f"{dl} Targets, end to end: AP50 >= 0.9, known facings >= 0.85, outside flagged >= 0.8 at <= 0.1 known flagged, "
              f"discovery >= 0.8, < 2 s per photo: {_verdict(sh['met'])}.", '']
        if 'thresholds' in sh['retailklip']:
            L += threshold_table(sh)
    if 'transfer' in res:
        t = res['transfer']
        seeds = ', '.join(str(s) for s in sorted({r['seed'] for r in t['per_seed']}))
        L += ['## 18. Transfer to a look never trained on', '', _md(pd.DataFrame(t['mean']).set_index('model').T.rename_axis('held-out products of').reset_index()), '',
              f"acc@1 on held-out products (catalogue photos indexed, shelf shots as queries), mean over seeds {seeds}, of two "
              f"{t['products']}-product worlds: `seen` draws its families from the styles {', '.join(t['seen'])}; `unseen` is all "
              f"`{t['unseen']}`, a family no finetuned model but the ceiling saw. Models: `shipped` is rk-vit-mini as it is; "
              f"`finetuned_classic` is finetuned ({t['steps']} steps) on a classic world's train split, `finetuned_seen` on the seen "
              f"world's, `ceiling` on the unseen world's own train products (other SKUs than those measured); `colour_histogram` is "
              f"1-NN over RGB histograms. Transfer, the unseen column of `finetuned_seen` over `ceiling`: {t['transfer']:.2f}x "
              f"(classic only: {t['classic_transfer']:.2f}x); the shipped model over colour histograms: "
              f"{t['shipped_over_colour']:.2f}x. Targets: >= 0.6x in every seed and >= 2x: {_verdict(t['met'])}."
              + (f" Every model starts from rk-vit-mini `{t['pretrained']}`." if 'pretrained' in t else '')
              + (f" `synth` draws {t['images_per_second']['classic']:.0f} images/s in the classic style (one process); the"
                 f" slowest style ({min(t['images_per_second'], key=t['images_per_second'].get)})"
                 f" {t['slowest_over_classic']:.2f}x that (target: >= 0.5x: {_verdict(t['slowest_over_classic'] >= .5)})."
                 if 'images_per_second' in t else ''), '']
    if 'factors' in res:
        L += factors_markdown(res['factors'])
    return '\n'.join(L)

def factors_markdown(f:dict)->list: # markdown lines
    "Section 19: acc@1 on the unseen look with each of its factors put back to the default, and the points it gains."
    mean = pd.DataFrame(f['mean']).set_index('variant')
    cost = pd.DataFrame(f['cost']).set_index('variant').add_suffix(' gain')
    df = mean.join(cost).sort_values('shipped gain', ascending=False, na_position='first')
    seeds = ', '.join(str(s) for s in sorted({r['seed'] for r in f['per_seed']}))
    return ['## 19. What each factor of the unseen look costs', '', _md(df.round(3).reset_index()), '',
            f"acc@1 on the held-out products of the unseen look (`{f['unseen']}`, section 18's unseen world, seeds {seeds}), "
            f"drawn with all its factors and again with one factor at a time put back to the default `Style`'s value; "
            f"`gain` is that world's acc@1 minus the all-factors world's. `shipped` is rk-vit-mini `{f['pretrained']}` as it "
            f"is; `finetuned_seen` is finetuned ({f['steps']} steps) on the seen looks ({', '.join(f['seen'])}). A variant "
            f"keeps the world's seed and the look's label designs, so a row differs from the first in its one factor (a "
            f"colour factor also draws the products' colours anew); `label designs drawn anew` changes no factor and "
            f"shows how far a row moves by chance. The "
            f"put-back that gains most: {f['costliest']['shipped']} for the shipped model, "
            f"{f['costliest']['finetuned_seen']} for the finetuned one: a large gain names what the models' training never "
            f"showed them.", '']
