"""Start-up: the wall time of `retailklip --help` beside `import retailklip.api`, in fresh processes."""
from __future__ import annotations
import statistics, subprocess, sys, time

PROBE = "import sys; {}; print('torch' in sys.modules)"

def _wall(code:str, runs:int)->tuple: # (median seconds, whether torch was imported)
    "Median wall time of `python -c code` over `runs` fresh processes, and whether the code imported torch."
    secs, torch_in = [], None
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run([sys.executable, '-c', PROBE.format(code)], capture_output=True, text=True)
        secs.append(time.perf_counter() - t)
        if p.returncode != 0: raise RuntimeError(f"startup probe failed: {p.stderr.strip()[-500:]}")
        torch_in = p.stdout.strip().splitlines()[-1] == 'True'
    return statistics.median(secs), torch_in

def startup(runs:int=5)->dict:
    "`retailklip --help` and `import retailklip.api`, each timed in `runs` fresh processes (median)."
    help_code = "from retailklip.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass"
    h, h_torch = _wall(f"exec({help_code!r})", runs)
    a, a_torch = _wall("import retailklip.api", runs)
    return dict(help_seconds=h, help_imports_torch=h_torch, api_import_seconds=a, api_imports_torch=a_torch,
                help_over_api=h / a, runs=runs, met=not h_torch)
