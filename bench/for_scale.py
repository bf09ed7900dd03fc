"""Section 5, FOR retrieval at scale: latency and memory of `RetrievalIndex` for 1, k + 1 and n_out embeddings per image."""
from __future__ import annotations
import pandas as pd, torch
from .common import _timed, clustered_vectors

def for_at_scale(n_images:int=100_000, dim:int=128, k:int=4, n_queries:int=1000, n_out:int=8, seed:int=0)->pd.DataFrame:
    "Latency and memory of `RetrievalIndex` at `n_images` for 1, k + 1 and n_out embeddings per image."
    from retailklip.retrieval import RetrievalIndex
    rows = []
    for method, m in (('clip', 1), ('cluster', k + 1), ('for', n_out)):
        x, q = clustered_vectors(n_images*m, dim, n_queries, seed)
        idx, tb = _timed(lambda: RetrievalIndex(dim, method).add(torch.from_numpy(x).view(n_images, m, dim), list(range(n_images))))
        _, ts = _timed(lambda: [idx.search(torch.from_numpy(q[j:j+1]), 50) for j in range(min(100, n_queries))])
        _, tb_ = _timed(lambda: idx.search(torch.from_numpy(q), 50))
        rows.append(dict(method=method, images=n_images, embeddings_per_image=m, index_mb=idx.bytes_per_image*n_images/2**20,
                         build_s=tb, single_query_ms=1e3*ts/min(100, n_queries), batched_qps=len(q)/tb_))
        del idx, x
    return pd.DataFrame(rows)
