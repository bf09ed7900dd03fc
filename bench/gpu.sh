#!/usr/bin/env bash
# The benchmark's GPU checks, run from a checkout with its venv (.venv) on a CUDA machine: `bash bench/gpu.sh [OUT]`.
# Measures `retailklip serve` /classify requests/s micro-batched (max_batch 32) against batch size 1 (hey, 16 clients,
# one 224-px JPEG each, the model on cuda), finetune images/s with bf16 AMP against fp32 (ViT-B-32), and ViT-B-32
# embedding images/s (bf16 where native). Writes OUT/gpu.json (default OUT: bench_out); when OUT/bench.json exists,
# adds the result to it under `gpu` and re-renders OUT/bench.md. Without CUDA it writes {"run": false, "reason":
# "no GPU"} (the report then says 'not run (no GPU)') and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-bench_out}"
if [ -f .venv/bin/activate ]; then . .venv/bin/activate; fi
export OMP_WAIT_POLICY=PASSIVE PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the script runs from a temporary file
mkdir -p "$OUT"
PY="$(mktemp --suffix=.py)"
trap 'rm -f "$PY"' EXIT
cat > "$PY" <<'EOF'
import json, sys, tempfile, time
from pathlib import Path
import torch

def save(out:Path, res:dict):
    "Write OUT/gpu.json; add it to OUT/bench.json and re-render OUT/bench.md when they exist."
    (out/'gpu.json').write_text(json.dumps(res, indent=1))
    b = out/'bench.json'
    if b.exists():
        from bench.report import bench_markdown
        full = json.loads(b.read_text())
        full['gpu'] = res
        b.write_text(json.dumps(full, indent=1, default=float))
        (out/'bench.md').write_text(bench_markdown(full))

def main(out:Path):
    "The GPU checks, into `out`/gpu.json."
    if not torch.cuda.is_available():
        save(out, dict(run=False, reason='no GPU'))
        print('bench/gpu.sh: not run (no GPU)')
        return
    from retailklip.api import Recognizer
    from retailklip.backbone import load_backbone, ImageEncoder
    from retailklip.imagefolder import embed_images
    from retailklip.synth import make_world, write_imagefolder
    from bench.harness import running_server
    from bench.serve import BENCH_TOKEN, hey_load, multipart_body, jpeg224
    from bench.training import train_speed
    res = dict(run=True, device=torch.cuda.get_device_name(0))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        write_imagefolder(make_world(24, heldout_frac=0., seed=5), d/'w')
        Recognizer.from_pretrained('rk-vit-mini', 'synthetic').index(d/'w'/'train').save(d/'base.rk')
        body, ctype = multipart_body(jpeg224(sorted((d/'w'/'train').rglob('*.jpg'))[0]))
        for name, mb in (('micro_batched', 32), ('batch_size_1', 1)):
            with running_server(d/'base.rk', max_batch=mb, token=BENCH_TOKEN, device='cuda', access_log=False) as url:
                hey_load(url + '/classify', body, ctype, 16, 3.)  # warm-up
                r = hey_load(url + '/classify', body, ctype, 16, 12.)
            res.update({f'{name} requests/s': r['requests_per_s'], f'{name} p99 ms': r['p99_ms'],
                        f'{name} errors': r['errors']})
    res['micro_batched over batch_size_1'] = res['micro_batched requests/s']/res['batch_size_1 requests/s']
    for p in ('fp32', 'bf16'):
        res[f'ViT-B-32 finetune {p} images/s'] = train_speed('ViT-B-32', 128, 12, 2, False, p, 'cuda')['images_per_s']
    res['bf16 over fp32 finetune'] = res['ViT-B-32 finetune bf16 images/s']/res['ViT-B-32 finetune fp32 images/s']
    bb = load_backbone('ViT-B-32', pretrained=None, device='cuda')
    enc = ImageEncoder.from_backbone(bb)
    x = torch.randint(0, 256, (4096, bb.image_size, bb.image_size, 3), dtype=torch.uint8)  # decoded: the model's rate
    embed_images(enc, x[:512], bb, batch_size=256, workers=0)  # warm-up
    torch.cuda.synchronize()
    t = time.perf_counter()
    embed_images(enc, x, bb, batch_size=256, workers=0)
    torch.cuda.synchronize()
    res['ViT-B-32 embedding images/s'] = len(x)/(time.perf_counter() - t)
    save(out, res)
    print(json.dumps(res, indent=1))

if __name__ == '__main__': main(Path(sys.argv[1]))  # bench.training's fresh processes import this file again
EOF
python "$PY" "$OUT"
