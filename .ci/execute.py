"""Execute notebooks in place so that their committed outputs (figures, measured numbers) are current.

Usage: python .ci/execute.py [--slow] nbs/02_synth.ipynb   (one notebook per process: the figure settings hold for the first only)
Cells flagged `#| slow`, `#| cuda` or `#| notest` are skipped, keeping their committed outputs, unless --slow is given (then only cuda/notest are). Run nbdev_clean afterwards.
"""
import os, re, sys
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

SLOW = '--slow' in sys.argv
SKIP = re.compile(r'^#\|\s*(cuda|notest)\b' if SLOW else r'^#\|\s*(slow|cuda|notest)\b', re.M)

for p in [a for a in sys.argv[1:] if a != '--slow']:
    p = Path(p).resolve()
    nb = read_nb(p)
    cwd = os.getcwd(); os.chdir(p.parent)
    try:
        sh = CaptureShell()
        sh.run('%matplotlib inline')
        # JPEG figures at a modest dpi keep the committed notebooks small (photos compress badly as PNG)
        sh.run("%config InlineBackend.figure_formats = ['jpeg']")
        sh.run("import matplotlib; matplotlib.rcParams['figure.dpi'] = 60; matplotlib.rcParams['savefig.dpi'] = 60")
        for c in nb.cells:
            if c.cell_type != 'code': continue
            if SKIP.search(c.source): continue  # keeps the outputs of its last full run
            sh.cell(c)
            if sh.exc: raise RuntimeError(f'{p.name}: cell failed:\n{c.source}\n{sh.exc}')
    finally: os.chdir(cwd)
    write_nb(nb, p); print('executed', p.name)
