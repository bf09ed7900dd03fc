"""Section 7, onboarding new products: `KNNClassifier.add` against a rebuild with `fit`."""
from __future__ import annotations
import time, tracemalloc
import numpy as np
from .common import clustered_vectors

def onboarding(existing_products:int=10_000, new_products:int=1000, refs_per_product:int=5, dim:int=128, seed:int=0)->dict:
    "Seconds and peak traced memory of `add` vs a rebuild with `fit`, for `new_products` x `refs_per_product` references."
    from retailklip.knn import KNNClassifier
    x, _ = clustered_vectors((existing_products + new_products)*refs_per_product, dim, 1, seed)
    ids = np.repeat([f'p{i}' for i in range(existing_products + new_products)], refs_per_product); cut = existing_products*refs_per_product
    def measure(f):
        tracemalloc.start(); t = time.perf_counter(); f(); s = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop(); return s, peak/2**20
    knn = KNNClassifier(dim).fit(x[:cut], ids[:cut])
    add_s, add_mb = measure(lambda: knn.add(x[cut:], ids[cut:]))
    fit_s, fit_mb = measure(lambda: KNNClassifier(dim).fit(x, ids))
    return dict(existing_products=existing_products, new_products=new_products, refs_per_product=refs_per_product,
                add_s=add_s, add_peak_mb=add_mb, rebuild_s=fit_s, rebuild_peak_mb=fit_mb, rebuild_over_add=fit_s/max(add_s, 1e-9))
