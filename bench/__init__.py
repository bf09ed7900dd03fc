"""The benchmark of retailklip, run from a checkout (`python -m bench`), never installed: it measures the library's
paths against what a user would write instead, and its reliability section crafts hostile files."""

SECTIONS = ('accuracy_retailklip', 'accuracy_for', 'throughput', 'knn', 'for_scale', 'training', 'onboarding', 'memory', 'user_path', 'reliability', 'kills', 'serve', 'big_index', 'scale_out', 'threads', 'startup', 'shelves', 'transfer', 'factors')
