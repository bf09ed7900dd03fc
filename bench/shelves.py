"""Section 17, shelf photos: the facings of held-out shelf photos recognised or flagged unknown (on their true boxes and
end to end from the shipped detector's), the unknown products gathered into candidates and enrolled, against the whole
photo through kNN; the detector's AP, AP50 and AR by pycocotools."""
from __future__ import annotations
import dataclasses, tempfile, time
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
    from retailklip.shelf import coco_boxes
    return coco_boxes(root/'annotations.json', root/'images')

def facing_scores(lab:pd.DataFrame, known:set, train:set)->dict:
    "From `label_facings`: known facings found and right (per split), outside facings found and flagged, known flagged."
    k, t = lab['product'].isin(known).to_numpy(), lab['product'].isin(train).to_numpy()
    right, found = (lab.read == lab['product']).to_numpy(), (lab.facing >= 0).to_numpy()
    return dict(facings=len(lab), known_facings=int(k.sum()), outside_facings=int((~k).sum()), found=float(found.mean()),
                known_accuracy=float(right[k].mean()), trained_products_accuracy=float(right[k & t].mean()),
                new_products_accuracy=float(right[k & ~t].mean()), unknown_recall=float(lab.unknown.to_numpy()[~k].mean()),
                known_flagged=float(lab.unknown.to_numpy()[k].mean()))

def whole_photo_baseline(rec, photos:list, truth:list, known:set)->float:
    "What a user tries first: the whole photo through kNN, its one product given to every facing; accuracy on known facings."
    pred = rec.classify(photos, k=1)['product'].tolist()
    rows = [(p == f) for p, t in zip(pred, truth) for f in t['product'] if f in known]
    return float(np.mean(rows))

def context_crop_accuracy(rec, photos:list, truth:list, known:set)->float:
    "Known facings right on the true boxes when each crop keeps the photo around its box (`facing_crop(context=True)`)."
    from retailklip.imagefolder import as_rgb
    from retailklip.detector import facing_crop
    from retailklip.shelf import crop_embeddings
    crops = []
    for p, t in zip(photos, truth):
        im = as_rgb(p)  # decoded once per photo
        crops += [facing_crop(im, b, context=True) for b in t[['x', 'y', 'w', 'h']].itertuples(index=False)]
    pred = rec.predict(crop_embeddings(rec, crops), 1)
    prods = pd.concat(truth)['product'].to_numpy()
    right = np.where(pred.unknown, 'unknown', pred['product']) == prods
    return float(right[np.isin(prods, list(known))].mean())

def threshold_points(rec, e:np.ndarray, truth:list, known:set, thresholds:dict)->dict:
    "On the true boxes (`e`: their crops' embeddings), per named threshold: known right, known flagged, outside flagged."
    pred = rec.predict(e, 1)
    prods = pd.concat(truth)['product'].to_numpy()
    k, top, low = np.isin(prods, list(known)), pred['product'].to_numpy() == prods, pred.score.to_numpy()
    return dict(top1=float(top[k].mean()), **{n: dict(threshold=t, known_accuracy=float((top & (low >= t))[k].mean()),
                known_flagged=float((low < t)[k].mean()), unknown_recall=float((low < t)[~k].mean()))
                for n, t in thresholds.items()})

def row_truth(got:pd.DataFrame, lab:pd.DataFrame)->pd.Series:
    "The true product of each facing read (None: a box on no true facing), from `label_facings`."
    m = {(p, f): t for p, f, t in zip(lab.photo, lab.facing, lab['product']) if f >= 0}
    return pd.Series([m.get((p, f)) for p, f in zip(got.photo, got.facing)], index=got.index)

def discovery(rec, got:pd.DataFrame, emb:np.ndarray, truth:pd.Series, outside:set, min_photos:int=3,
              purity:float=.9)->tuple: # (scores, the unknown facings with their candidate, pure candidate -> product)
    "Of the outside products on >= `min_photos` photos, the share found as a candidate of that purity."
    u = rec.discover(got, embeddings=emb)
    u['truth'] = truth[got.unknown.to_numpy()].to_numpy()
    found, pure = set(), {}
    for c, g in u[u.candidate >= 0].groupby('candidate'):
        top = g.truth.value_counts(dropna=False)
        if top.iloc[0]/len(g) >= purity and top.index[0] in outside: found.add(top.index[0]); pure[c] = top.index[0]
    seen = pd.DataFrame(dict(photo=got.photo, truth=truth)).dropna().drop_duplicates().truth.value_counts()
    eligible = {p for p, n in seen.items() if n >= min_photos and p in outside}
    return dict(eligible=len(eligible), found=len(eligible & found), share=len(eligible & found)/max(1, len(eligible)),
                candidates=int((u.candidate.max() + 1) if len(u) else 0), pure_candidates=len(pure)), u, pure

def photos_to_enrol(rec, got:pd.DataFrame, emb:np.ndarray, truth:pd.Series, outside:set, photos:list,
                    purity:float=.9)->dict:
    "Discovery after each photo, in order: per outside product, the photos from its first appearance to the one after which a pure candidate holds it (a person enrols it then; it is recognised from the next photo on)."
    first, found, unknown = {}, {}, got.unknown.to_numpy(bool)
    for t, p in enumerate(photos, 1):
        seen = got.photo.isin([str(q) for q in photos[:t]]).to_numpy()
        for prod in set(truth[(got.photo == str(p)).to_numpy()].dropna()) & outside: first.setdefault(prod, t)
        u = rec.discover(got[seen], embeddings=emb[seen])
        u['truth'] = truth[seen & unknown].to_numpy()
        for c, g in u[u.candidate >= 0].groupby('candidate'):
            top = g.truth.value_counts(dropna=False)
            if top.iloc[0]/len(g) >= purity and top.index[0] in outside: found.setdefault(top.index[0], t)
    n = sorted(found[p] - first[p] + 1 for p in found)
    return dict(outside_products_seen=len(first), enrolled_in_stream=len(found), photos_to_enrol=n,
                median_photos_to_enrol=float(np.median(n)) if n else None)

def enrol_and_reread(rec, u:pd.DataFrame, pure:dict, later:list, later_truth:list, detector, work:Path)->dict:
    "A person confirms each pure candidate under its product's name; the photos not seen yet are read again."
    from retailklip.shelf import write_candidates, label_facings
    with tempfile.TemporaryDirectory(dir=work) as c:
        cands = write_candidates(Path(c)/'cands', u)
        conf = Path(c)/'confirmed'; conf.mkdir()
        for row in cands[cands.candidate.isin(list(pure))].itertuples():  # two candidates of one product: one folder
            (conf/pure[row.candidate]).mkdir(exist_ok=True)
            for f in Path(row.folder).iterdir(): f.rename(conf/pure[row.candidate]/f'{row.candidate}-{f.name}')
        rec.add(conf)
    lab = label_facings(rec.read_shelf(later, detector, None if detector is not None else later_truth), later, later_truth)
    enrolled = lab['product'].isin(set(pure.values())).to_numpy()
    return dict(enrolled_facings_later=int(enrolled.sum()),
                enrolled_recognised_later=float((lab.read == lab['product']).to_numpy()[enrolled].mean()))

def read_and_score(rec, photos, truth, detector, known, train, outside, later, work)->dict:
    "One model's reading of the photos (true boxes, or the detector's): (scores, discovery, enrolment; embeddings)."
    from retailklip.shelf import label_facings
    t = time.time(); got, emb = rec.read_shelf(photos, detector, None if detector is not None else truth, embeddings=True)
    sec = (time.time() - t)/len(photos)
    lab = label_facings(got, photos, truth)
    r = dict(facing_scores(lab, known, train), seconds_per_photo=sec, boxes_read=len(got))
    disc, u, pure = discovery(rec, got, emb, row_truth(got, lab), outside)
    r['discovery'] = dict(disc, **photos_to_enrol(rec, got, emb, row_truth(got, lab), outside, photos))
    if pure: r.update(enrol_and_reread(rec, u, pure, *later, detector, work))
    return r, emb

def shelves(n_products:int=100, n_photos:int=40, outside:int=20, steps:int=300, size:tuple=(1280, 960),
            detector:str='rk-det-mini', seed:int=7, work=None,
            max_flagged:float=.1 # the share of known facings of the calibration shelves the unknown threshold may flag
           )->dict:
    "Shelf photos of held-out products end to end, by the pretrained and the finetuned model, with discovery and enrolment."
    from retailklip.api import Recognizer
    from retailklip.synth import make_world, write_imagefolder
    from retailklip.shelves import write_shelves
    from retailklip.detector import load_detector, evaluate_detector
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
        cal_world = dataclasses.replace(world, seed=seed + 1000)  # other layouts, other products outside the world
        write_shelves(d/'cal_shelves', cal_world, max(4, n_photos//4), outside=outside, size=size)
        cal_shelves = (d/'cal_shelves'/'annotations.json', d/'cal_shelves'/'images')
        photos, truth = truth_of(d/'shelves'); later = truth_of(d/'later')
        outside_ids = set(pd.concat(truth)['product']) - known
        det = load_detector(detector, 'cpu')
        t = time.time(); out['detector'] = evaluate_detector(det, d/'shelves'/'annotations.json', d/'shelves'/'images')
        out['detector'].update(name=str(detector), seconds_per_photo=(time.time() - t)/len(photos))
        t0 = time.time(); run = Recognizer.finetune(d/'world'/'train', d/'run', steps=steps, progress=False)
        out['finetune_seconds'] = time.time() - t0
        for name, rec in (('pretrained', Recognizer.from_pretrained()), ('retailklip', run)):
            rec.index(catalog)
            shot_t = rec.calibrate(shots, cal_unknown)['threshold']
            cal = rec.calibrate_shelves(*cal_shelves, max_flagged=max_flagged)  # the threshold the shelves are read with
            t = cal['threshold']
            ts = dict(shots=shot_t, shelves_balanced=cal['balanced_threshold'], shelves_max_flagged=t)
            r, e = read_and_score(rec, photos, truth, None, known, train, outside_ids, later, d)
            r.update(threshold=t, whole_photo_baseline=whole_photo_baseline(rec, photos, truth, known),
                     context_crop_accuracy=context_crop_accuracy(rec, photos, truth, known))
            rec.index(catalog); rec.knn.threshold = t  # the enrolled products out again
            r['thresholds'] = threshold_points(rec, e, truth, known, ts)  # the crops read above, not embedded again
            r['detected'] = read_and_score(rec, photos, truth, det, known, train, outside_ids, later, d)[0]
            out[name] = r
    r, g = out['retailklip']['detected'], out['detector']
    out.update(photos=n_photos, products=n_products, outside_products=outside, size=list(size), max_flagged=max_flagged,
               calibration_photos=max(4, n_photos//4),
               met=bool(g['AP50'] >= .9 and r['known_accuracy'] >= .85 and r['unknown_recall'] >= .8
                        and r['known_flagged'] <= .1 and r['discovery']['share'] >= .8 and r['seconds_per_photo'] < 2))
    return out
