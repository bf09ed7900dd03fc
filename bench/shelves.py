"""Section 17, shelf photos: the facings of held-out shelf photos recognised or flagged unknown, the unknown products
gathered into candidates and enrolled, against the whole photo through kNN; a detector run's AP when one is given."""
from __future__ import annotations
import tempfile, time
from pathlib import Path
import numpy as np, pandas as pd

def world_tables(root:Path)->tuple: # (catalogue photos, single-product shelf shots), each a table of path, product
    "The catalogue and shelf shots of a world written by `write_imagefolder`."
    imgs = pd.read_csv(root/'images.csv')
    imgs['path'] = [str(root/p) for p in imgs.path]
    imgs['product'] = [Path(p).parent.name for p in imgs.path]  # the folder's name, with any prefix
    return imgs[imgs.view == 'catalog'][['path', 'product']], imgs[imgs.view == 'shelf'][['path', 'product']]

def truth_of(root:Path)->tuple: # (photos, their true facings: x, y, w, h, product)
    "The photos of a `write_shelves` folder and every facing's box and product."
    from retailklip.data import load_coco
    data = load_coco(root/'annotations.json', root/'images')
    facings = [pd.DataFrame([dict(x=b[0], y=b[1], w=b[2], h=b[3], product=n) for n, b in bs]) for bs in data.images.boxes]
    return data.images.path.tolist(), facings

def facing_scores(got:pd.DataFrame, want:pd.Series, known:set, train:set)->dict:
    "Facing accuracy (known products), per split, and the unknown flags on products outside the index."
    k = want.isin(known).to_numpy(); t = want.isin(train).to_numpy()
    right = (got['product'].to_numpy() == want.to_numpy())
    return dict(facings=len(want), known_facings=int(k.sum()), outside_facings=int((~k).sum()),
                known_accuracy=float(right[k].mean()), trained_products_accuracy=float(right[k & t].mean()),
                new_products_accuracy=float(right[k & ~t].mean()), unknown_recall=float(got.unknown.to_numpy()[~k].mean()),
                known_flagged=float(got.unknown.to_numpy()[k].mean()))

def whole_photo_baseline(rec, photos:list, truth:list, known:set)->float:
    "What a user tries first: the whole photo through kNN, its one product given to every facing; accuracy on known facings."
    pred = rec.classify(photos, k=1)['product'].tolist()
    rows = [(p == f) for p, t in zip(pred, truth) for f in t['product'] if f in known]
    return float(np.mean(rows))

def discovery(rec, got:pd.DataFrame, want:pd.Series, photos:list, outside:set, min_photos:int=3, purity:float=.9)->dict:
    "Of the outside products on >= `min_photos` photos, the share found as a candidate of that purity; the candidates."
    u = rec.discover(got)
    u['truth'] = want[got.unknown.to_numpy()].to_numpy()
    found, pure = set(), {}
    for c, g in u[u.candidate >= 0].groupby('candidate'):
        top = g.truth.value_counts()
        if top.iloc[0]/len(g) >= purity and top.index[0] in outside: found.add(top.index[0]); pure[c] = top.index[0]
    seen = pd.DataFrame(dict(photo=got.photo, truth=want)).drop_duplicates().truth.value_counts()
    eligible = {p for p, n in seen.items() if n >= min_photos and p in outside}
    return dict(eligible=len(eligible), found=len(eligible & found), share=len(eligible & found)/max(1, len(eligible)),
                candidates=int((u.candidate.max() + 1) if len(u) else 0), pure_candidates=len(pure)), u, pure

def shelves(n_products:int=100, n_photos:int=40, outside:int=20, steps:int=300, size:tuple=(1280, 960),
            detector:str|None=None, seed:int=7, work=None)->dict:
    "Shelf photos of held-out products end to end, by the pretrained and the finetuned model, with discovery and enrolment."
    from retailklip.api import Recognizer
    from retailklip.synth import make_world, write_imagefolder
    from retailklip.shelves import write_shelves
    from retailklip.shelf import write_candidates
    out = {}
    with tempfile.TemporaryDirectory(dir=work) as d:
        d = Path(d)
        world = make_world(n_products, heldout_frac=.3, seed=seed); write_imagefolder(world, d/'world')
        write_imagefolder(make_world(20, heldout_frac=0., seed=seed + 1), d/'cal', prefix='cal-')  # unknowns for calibration
        catalog, shots = world_tables(d/'world'); _, cal_unknown = world_tables(d/'cal')
        train = set(pd.read_csv(d/'world'/'products.csv').query("split == 'train'").sku)
        known = set(catalog['product'])
        write_shelves(d/'shelves', world, n_photos, outside=outside, size=size)
        write_shelves(d/'later', world, max(4, n_photos//4), outside=outside, size=size, first=n_photos)  # photos not seen yet
        photos, truth = truth_of(d/'shelves'); want = pd.concat(truth, ignore_index=True)['product']
        outside_ids = set(want) - known
        t0 = time.time(); run = Recognizer.finetune(d/'world'/'train', d/'run', steps=steps, progress=False)
        finetune_s = time.time() - t0
        for name, rec in (('pretrained', Recognizer.from_pretrained('rk-vit-mini', 'synthetic')), ('retailklip', run)):
            rec.index(catalog); cal = rec.calibrate(shots, cal_unknown)
            t = time.time(); got = rec.read_shelf(photos, boxes=truth); sec = (time.time() - t)/len(photos)
            r = dict(facing_scores(got, want, known, train), threshold=cal['threshold'], seconds_per_photo=sec,
                     whole_photo_baseline=whole_photo_baseline(rec, photos, truth, known))
            disc, u, pure = discovery(rec, got, want, photos, outside_ids)
            r['discovery'] = disc
            if pure:  # a person confirms each pure candidate under its product's name; the next photos recognise it
                with tempfile.TemporaryDirectory(dir=d) as c:
                    cands = write_candidates(Path(c)/'cands', u)
                    conf = Path(c)/'confirmed'; conf.mkdir()
                    for row in cands[cands.candidate.isin(list(pure))].itertuples():  # two candidates of one product: one folder
                        (conf/pure[row.candidate]).mkdir(exist_ok=True)
                        for f in Path(row.folder).iterdir(): f.rename(conf/pure[row.candidate]/f'{row.candidate}-{f.name}')
                    rec.add(conf)
                    later, later_truth = truth_of(d/'later'); lw = pd.concat(later_truth, ignore_index=True)['product']
                    again = rec.read_shelf(later, boxes=later_truth)
                    enrolled = lw.isin(set(pure.values())).to_numpy()
                    r['enrolled_facings_later'] = int(enrolled.sum())
                    r['enrolled_recognised_later'] = float((again['product'].to_numpy() == lw.to_numpy())[enrolled].mean())
            out[name] = r
        out['finetune_seconds'] = finetune_s
        if detector is not None:
            from retailklip.detector import load_detector, evaluate_detector
            t = time.time(); out['detector'] = evaluate_detector(load_detector(detector), d/'shelves'/'annotations.json', d/'shelves'/'images')
            out['detector']['seconds_per_photo'] = (time.time() - t)/len(photos)
        else: out['detector'] = dict(run=False, reason='no detector run given: shelves(detector=RUN)')
    r = out['retailklip']
    out.update(photos=n_photos, products=n_products, outside_products=outside, size=list(size),
               met=bool(r['known_accuracy'] >= .85 and r['unknown_recall'] >= .8 and r['known_flagged'] <= .1
                        and r['discovery']['share'] >= .8 and r['seconds_per_photo'] < 2))
    return out
