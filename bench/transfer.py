"""Section 18, transfer across looks: held-out products of a style family no model was finetuned on, recognised by the
shipped model as it is, by models finetuned on the classic look alone and on the other families, and by a model
finetuned on that family's own products (the ceiling); 1-NN over colour histograms is the chance level. Section 19,
what each factor of that family costs: the family drawn again with one factor at a time put back to the default."""
from __future__ import annotations
import dataclasses, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image

SEEN = ('classic', 'studio', 'discount', 'fresh')  # the families finetuning sees
UNSEEN = 'premium'  # the family it never sees

def world_seeds(seed:int)->dict: # world name -> the seed of its products
    "The seeds of one run's three worlds; none is the mini-CLIP's pretraining stream seed (1000), whose products it saw."
    return dict(seen=seed, classic=seed + 500, unseen=seed + 3000)

def _write_world(job:tuple)->str: # the folder
    "Render one world, `(folder, seed, looks, n_products)`, unless its folder is there; a half-written one is never kept."
    from retailklip.synth import make_world, write_imagefolder
    d, seed, looks, n = job
    if Path(d).exists(): return d
    part = Path(d).with_name(Path(d).name + '.part')
    write_imagefolder(make_world(n, heldout_frac=.3, seed=seed, styles=looks), part, overwrite=True)
    part.rename(d)
    return d

def write_worlds(todo:dict, # folder -> (seed of its products, its looks: names in `STYLES` or `Style`s)
                 n_products:int)->list: # the folders
    "Render the worlds of `todo` that are not there yet, one per core (`synth.parallel_map`)."
    from retailklip.synth import parallel_map
    return parallel_map(_write_world, [(str(d), s, tuple(l), n_products) for d, (s, l) in todo.items()])

def factor_variants(unseen:str=UNSEEN)->dict: # name -> Style
    ("The unseen look as a `Style` ('all factors'), the same with its label designs drawn anew (how far a row moves "
     "by chance), and that look with each factor it sets put back to the default `Style`'s value.")
    from retailklip.synth import STYLES, Style
    st, base = STYLES[unseen], Style()
    out = {'all factors': st, 'label designs drawn anew': dataclasses.replace(st, name='')}
    for f in dataclasses.fields(Style):
        if f.name != 'name' and getattr(st, f.name) != getattr(base, f.name):
            out[f'{f.name}={getattr(base, f.name)}'] = dataclasses.replace(st, **{f.name: getattr(base, f.name)})
    return out

def colour_histograms(paths:list, bins:int=8)->np.ndarray:
    "(n, bins**3) unit-length RGB histograms of the images at `paths`."
    out = []
    for p in paths:
        a = np.asarray(Image.open(p).convert('RGB').resize((64, 64))).astype(int)//(256//bins)
        h = np.bincount(((a[..., 0]*bins + a[..., 1])*bins + a[..., 2]).ravel(), minlength=bins**3).astype(float)
        out.append(h/np.linalg.norm(h))
    return np.array(out)

def colour_baseline(root:Path)->float:
    "acc@1 of 1-NN over colour histograms, from the catalogue photos of `root/refs` to the shots of `root/queries`."
    from retailklip.api import labelled_images
    refs, queries = labelled_images(root/'refs'), labelled_images(root/'queries')
    nearest = np.argmax(colour_histograms(queries.path) @ colour_histograms(refs.path).T, 1)
    return float((refs['product'].to_numpy()[nearest] == queries['product'].to_numpy()).mean())

def acc1(rec, root:Path)->float:
    "acc@1 of `rec` indexing the catalogue photos of `root/refs`, on the shelf shots of `root/queries`."
    rec.index(root/'refs')
    return rec.evaluate(root/'queries')['acc1']

def render_speed(n:int=400, styles:tuple|None=None)->dict: # style -> images per second (default: every style)
    "Images per second that `synth` draws (catalogue and shelf shots of a 100-product world, one process) per style."
    from retailklip.synth import make_world, STYLES
    out = {}
    for s in styles or tuple(STYLES):
        w = make_world(100, seed=3, styles=(s,))
        w.image(0)  # fonts loaded
        t = time.perf_counter()
        for i in range(n): w.image(i % len(w.images))
        out[s] = n/(time.perf_counter() - t)
    return out

def transfer(seeds:tuple=(0, 1, 2), n_products:int=100, steps:int=300, seen:tuple=SEEN, unseen:str=UNSEEN,
             pretrained:str|None=None, # the shipped weights of rk-vit-mini every model starts from (None: the default)
             render_images:int=400, # images drawn per style to time `synth`
             work=None)->dict:
    "Per seed: acc@1 on held-out products of the seen families and of the unseen one, by each model; the ratios."
    from retailklip.api import Recognizer
    from retailklip.backbone import DEFAULT_MODEL
    pretrained, rows = pretrained or DEFAULT_MODEL[1], []
    for seed in seeds:
        with tempfile.TemporaryDirectory(dir=work) as d:
            d = Path(d)
            looks = dict(seen=seen, classic=('classic',), unseen=(unseen,))
            write_worlds({d/name: (s, looks[name]) for name, s in world_seeds(seed).items()}, n_products)
            models, secs = dict(shipped=Recognizer.from_pretrained('rk-vit-mini', pretrained)), {}
            for m, world in (('finetuned_classic', 'classic'), ('finetuned_seen', 'seen'), ('ceiling', 'unseen')):
                t = time.time()
                models[m] = Recognizer.finetune(d/world/'train', d/f'run-{m}', pretrained=pretrained, steps=steps,
                                                progress=False)
                secs[m] = time.time() - t
            for m, rec in models.items():
                rows.append(dict(seed=seed, model=m, seen=acc1(rec, d/'seen'), unseen=acc1(rec, d/'unseen'),
                                 finetune_seconds=secs.get(m, 0.)))
            rows.append(dict(seed=seed, model='colour_histogram', seen=colour_baseline(d/'seen'),
                             unseen=colour_baseline(d/'unseen'), finetune_seconds=0.))
    df = pd.DataFrame(rows)
    mean = df.groupby('model', sort=False)[['seen', 'unseen']].mean()
    u = df.pivot(index='seed', columns='model', values='unseen')
    ratio, over = u['finetuned_seen']/u['ceiling'], u['shipped']/u['colour_histogram']
    speed = render_speed(render_images)
    return dict(per_seed=df.to_dict('records'), images_per_second=speed,
                slowest_over_classic=min(speed.values())/speed['classic'], mean=mean.reset_index().to_dict('records'),
                seen=list(seen), world_seeds={s: world_seeds(s) for s in seeds},
                unseen=unseen, products=n_products, steps=steps, pretrained=pretrained, transfer=float(ratio.mean()),
                transfer_min=float(ratio.min()), classic_transfer=float((u['finetuned_classic']/u['ceiling']).mean()),
                shipped_over_colour=float(over.mean()), met=bool(ratio.min() >= .6 and over.min() >= 2))

def factors(seeds:tuple=(0, 1, 2), n_products:int=100, steps:int=300, seen:tuple=SEEN, unseen:str=UNSEEN,
            pretrained:str|None=None, # the shipped weights of rk-vit-mini (None: the default)
            work=None)->dict:
    ("Per seed: acc@1 on the unseen look's held-out products, drawn with all its factors and with each put back to the "
     "default `Style`, by the shipped model as it is and finetuned on the seen looks; the points each factor costs.")
    from retailklip.api import Recognizer
    from retailklip.backbone import DEFAULT_MODEL
    pretrained, variants, rows = pretrained or DEFAULT_MODEL[1], factor_variants(unseen), []
    for seed in seeds:
        with tempfile.TemporaryDirectory(dir=work) as d:
            d, s = Path(d), world_seeds(seed)
            todo = {d/f'v{i}': (s['unseen'], (st,)) for i, st in enumerate(variants.values())}
            write_worlds({d/'seen': (s['seen'], seen), **todo}, n_products)
            models = dict(shipped=Recognizer.from_pretrained('rk-vit-mini', pretrained),
                          finetuned_seen=Recognizer.finetune(d/'seen'/'train', d/'run', pretrained=pretrained,
                                                             steps=steps, progress=False))
            rows += [dict(seed=seed, model=m, variant=v, acc1=acc1(rec, d/f'v{i}'))
                     for m, rec in models.items() for i, v in enumerate(variants)]
    df = pd.DataFrame(rows)
    mean = df.pivot_table(index='variant', columns='model', values='acc1', sort=False)[['shipped', 'finetuned_seen']]
    cost = (mean - mean.loc['all factors']).drop('all factors')  # points gained by putting the factor back
    return dict(per_seed=df.to_dict('records'), mean=mean.reset_index().to_dict('records'),
                cost=cost.reset_index().to_dict('records'), costliest={m: cost[m].idxmax() for m in cost},
                seen=list(seen), unseen=unseen, products=n_products, steps=steps, pretrained=pretrained,
                world_seeds={s: world_seeds(s) for s in seeds})
