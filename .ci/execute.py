"""Execute notebooks in place so that their committed outputs (figures, measured numbers) are current.

Usage: python .ci/execute.py nbs/00_synth.ipynb   (one notebook per process: the figure settings hold for the first only)
Cells flagged `#| slow`, `#| cuda` or `#| notest` are skipped (run them by hand). Run nbdev_clean afterwards.
"""
import os, re, sys
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

SKIP = re.compile(r'^#\|\s*(slow|cuda|notest)\b', re.M)

for p in sys.argv[1:]:
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
            if SKIP.search(c.source): c.outputs = []; continue
            sh.cell(c)
            if sh.exc: raise RuntimeError(f'{p.name}: cell failed:\n{c.source}\n{sh.exc}')
    finally: os.chdir(cwd)
    write_nb(nb, p); print('executed', p.name)
