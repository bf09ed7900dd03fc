"""Section 12, the service under load: micro-batched against batch size 1, with concurrent additions; PyTorch against onnxruntime."""
from __future__ import annotations
import io, shutil, tempfile
from pathlib import Path
from PIL import Image
from .common import best_rate
from .harness import running_server, load_test

BENCH_TOKEN = 'retailklip-bench-token'  # the service refuses tokens under 16 characters

def serve_load(clients:int=16, requests:int=200, adds:int=16, # load per configuration
               products:int=24, images:int=1024, # index size (SKUs of the synthetic world); JPEGs for the engine comparison
               work:str|Path|None=None)->dict:
    "Micro-batched vs batch-size-1 service under load with concurrent product additions; torch vs onnxruntime images/s."
    from retailklip.api import Recognizer
    from retailklip.export import export_onnx, OnnxEncoder, embed_onnx
    from retailklip.imagefolder import embed_images
    from retailklip.synth import make_world, write_imagefolder
    def png(path):
        b = io.BytesIO(); Image.open(path).convert('RGB').save(b, 'PNG'); return b.getvalue()
    with tempfile.TemporaryDirectory(dir=work) as d:
        d = Path(d); write_imagefolder(make_world(products, heldout_frac=0., seed=5), d/'w')
        rec = Recognizer.from_pretrained('rk-vit-mini', 'synthetic').index(d/'w'/'train'); rec.save(d/'base.rk')
        files = sorted((d/'w'/'train').rglob('*.jpg')); photo = png(files[0])
        runs = {}
        for name, mb in (('micro_batched', 32), ('batch_size_1', 1)):
            shutil.copy(d/'base.rk', d/f'{name}.rk')
            with running_server(d/f'{name}.rk', max_batch=mb, token=BENCH_TOKEN) as url:
                load_test(url, photo, clients, 2)  # warm-up
                runs[name] = dict(max_batch=mb, **load_test(url, photo, clients, requests, token=BENCH_TOKEN,
                                                            adds=[(f'{name}-{i}', png(files[i % len(files)])) for i in range(adds)]))
        export_onnx(rec.bb, d/'m.onnx'); enc = OnnxEncoder(d/'m.onnx'); jpgs = [files[i % len(files)] for i in range(images)]
        torch_ips = best_rate(lambda: embed_images(rec.encoder, jpgs, rec.bb), images)
        onnx_ips = best_rate(lambda: embed_onnx(enc, jpgs), images)
    b, one = runs['micro_batched'], runs['batch_size_1']
    ratio = b['requests_per_s']/one['requests_per_s']
    clean = all(r['errors'] == 0 and r['lost_updates'] == 0 for r in runs.values())
    return dict(runs=list(runs.values()), batched_over_bs1=ratio, torch_images_per_s=torch_ips, onnxruntime_images_per_s=onnx_ips,
                onnx_over_torch=onnx_ips/torch_ips, met=bool(ratio >= 3 and clean), clean=clean)
