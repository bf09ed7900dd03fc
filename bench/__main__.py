"""`python -m bench [--quick] [--out DIR] [--sections ...] [--work DIR]`, from the repository root: run the benchmark and
write DIR/bench.json, DIR/bench.md and DIR/headline.md."""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch loads OpenMP, as the `retailklip` console script does
import argparse, sys
from pathlib import Path
from retailklip.commands import OutDir
from . import SECTIONS

def build_parser()->argparse.ArgumentParser:
    "The options of `python -m bench`."
    p = argparse.ArgumentParser(prog='python -m bench', description='Run the benchmark from the repository root; write OUT/bench.json, OUT/bench.md and OUT/headline.md.')
    p.add_argument('--quick', action='store_true', help='smoke size (what CI runs)')
    p.add_argument('--out', default='bench_out', type=OutDir, help='output folder (default: bench_out)')
    p.add_argument('--sections', nargs='+', default=None, metavar='SECTION', help=f"only these sections (default: all): {' '.join(SECTIONS)}")
    p.add_argument('--work', default=None, type=OutDir,
                   help='folder kept for the rendered catalogue, its embeddings and the large vector shards, reused by the next run '
                        '(default: a temporary folder)')
    p.add_argument('--debug', action='store_true', help='a traceback instead of a one-line error')
    return p

def main(argv:list|None=None)->int:
    "Run the benchmark; print bench.md. Returns the exit code: 0, or 2 with a one-line error on stderr."
    p = build_parser()
    args = p.parse_args(None if argv is None else [str(a) for a in argv])
    unknown = sorted(set(args.sections or ()) - set(SECTIONS))
    if unknown: p.error(f"unknown --sections {' '.join(unknown)}: choose from {' '.join(SECTIONS)}")
    from .run import run_bench
    try: run_bench(args.quick, args.out, sections=args.sections, work=args.work)
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as e:
        if args.debug: raise
        print(f"python -m bench: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print((Path(args.out)/'bench.md').read_text())
    return 0

if __name__ == '__main__': sys.exit(main())
