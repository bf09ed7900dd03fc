#!/usr/bin/env bash
# A candidate default mini-CLIP made in one go on a CUDA machine: the shipped model's recipe (3000 steps x 512,
# lr 2e-3, warmup 300, a pool of 200,000 pairs: `retailklip_meta` of rk-vit-mini-synthetic.pt) from scratch on the
# wider world (five looks, restyle 0.5; `premium` stays unseen), exported, then judged by `python -m bench.candidate`
# against today's default. `bash bench/gpu_pretrain.sh [OUT]` writes OUT/rk-vit-mini-wide.pt and OUT/candidate.json
# (default OUT: pretrain_out). Without CUDA it prints "not run (no GPU)" and exits 0: on 2 CPU cores the run takes
# about 7 hours.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-pretrain_out}"
if [ -f .venv/bin/activate ]; then . .venv/bin/activate; fi
if ! python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "bench/gpu_pretrain.sh: not run (no GPU)"; exit 0
fi
mkdir -p "$OUT"
retailklip pretrain --steps 3000 --batch-size 512 --lr 2e-3 --warmup 300 --pool-size 200000 \
  --styles classic studio discount fresh market --restyle 0.5 --device cuda \
  --out "$OUT/run" --export "$OUT/rk-vit-mini-wide.pt"
# judged on the four looks here (a few minutes); the factor ablation renders 50 more worlds: run it on the CPU machine
python -m bench.candidate "$OUT/rk-vit-mini-wide.pt" --repeats 5 --no-factors --out "$OUT/candidate.json"
