"""Section 12, the service under load: micro-batched against batch size 1, with concurrent additions; PyTorch against
onnxruntime; the service under `hey` against its own engine on the same 224-px JPEGs, with a profile of one request."""
from __future__ import annotations
import io, os, re, shutil, subprocess, tempfile, time
from pathlib import Path
from PIL import Image
from .common import best_rate
from .harness import running_server, load_test

BENCH_TOKEN = 'retailklip-bench-token'  # the service refuses tokens under 16 characters

def serve_load(clients:int=16, requests:int=200, adds:int=16, # load per configuration
               products:int=24, images:int=1024, # index size (SKUs of the synthetic world); JPEGs for the engine comparison
               work:str|Path|None=None,
               seconds:float=12.)->dict: # of `hey` load for the service against its engine
    "Micro-batched vs batch-size-1 service under load with concurrent product additions; torch vs onnxruntime images/s."
    from retailklip.api import Recognizer
    from retailklip.export import export_onnx, OnnxEncoder, embed_onnx
    from retailklip.imagefolder import embed_images
    from retailklip.synth import make_world, write_imagefolder
    def png(path):
        b = io.BytesIO(); Image.open(path).convert('RGB').save(b, 'PNG'); return b.getvalue()
    with tempfile.TemporaryDirectory(dir=work) as d:
        d = Path(d); write_imagefolder(make_world(products, heldout_frac=0., seed=5), d/'w')
        rec = Recognizer.from_pretrained().index(d/'w'/'train'); rec.save(d/'base.rk')
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
        (d/'jpeg224').mkdir()
        for i, p in enumerate(files): (d/'jpeg224'/f'{i}.jpg').write_bytes(jpeg224(p))
        same = [d/'jpeg224'/f'{i % len(files)}.jpg' for i in range(images)]
        engine = service_vs_engine(d/'base.rk', same, clients, seconds)
    b, one = runs['micro_batched'], runs['batch_size_1']
    ratio = b['requests_per_s']/one['requests_per_s']
    clean = all(r['errors'] == 0 and r['lost_updates'] == 0 for r in runs.values())
    return dict(runs=list(runs.values()), batched_over_bs1=ratio, torch_images_per_s=torch_ips, onnxruntime_images_per_s=onnx_ips,
                onnx_over_torch=onnx_ips/torch_ips, met=bool(ratio >= 3 and clean), clean=clean, engine=engine)

def jpeg224(path:str|Path)->bytes:
    "The image at `path` as a 224 x 224 JPEG (quality 90): one request's photo."
    b = io.BytesIO()
    Image.open(path).convert('RGB').resize((224, 224)).save(b, 'JPEG', quality=90)
    return b.getvalue()

def multipart_body(jpeg:bytes, boundary:str='retailklipbenchboundary0123456789')->tuple:
    "(body, content type) of a multipart form with one file field `files` holding `jpeg`: one /classify request."
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="q.jpg"\r\n'
            'Content-Type: image/jpeg\r\n\r\n').encode()
    return head + jpeg + f'\r\n--{boundary}--\r\n'.encode(), f'multipart/form-data; boundary={boundary}'

def need_hey()->str:
    "The path of `hey` (Debian's HTTP load generator), installed with apt-get when missing (else a RuntimeError)."
    if shutil.which('hey') is None:
        r = subprocess.run(['apt-get', 'install', '-y', 'hey'], capture_output=True, text=True)
        if r.returncode or shutil.which('hey') is None:
            why = (r.stderr or r.stdout).strip()[-300:]
            raise RuntimeError(f"hey: not installed and `apt-get install -y hey` failed: {why}")
    return shutil.which('hey')

def hey_summary(text:str)->dict:
    "hey's summary as numbers: total seconds, latency percentiles (s), responses by status, errors by message."
    total = re.search(r'Total:\s+([\d.]+) secs', text)
    pct = {int(p): float(v) for p, v in re.findall(r'(\d+)% in ([\d.]+) secs', text)}
    status = {int(c): int(n) for c, n in re.findall(r'\[(\d{3})\]\s+(\d+) responses', text)}
    tail = text.split('Error distribution:', 1)[1] if 'Error distribution:' in text else ''
    errors = {m.strip()[:200]: int(n) for n, m in re.findall(r'\[(\d+)\]\s+(.+)', tail)}
    return dict(seconds=float(total.group(1)) if total else float('nan'), percentiles=pct, status=status, errors=errors)

def hey_load(url:str, # the endpoint, e.g. http://127.0.0.1:8000/classify
             body:bytes, content_type:str, # the request every client sends
             clients:int=16, seconds:float=12.)->dict:
    "`hey` POSTing `body` from `clients` connections for `seconds`: requests/s, p50 / p99 (ms), errors by kind."
    with tempfile.NamedTemporaryFile(suffix='.body') as f:
        f.write(body)
        f.flush()
        cmd = [need_hey(), '-c', str(clients), '-z', f'{seconds:g}s', '-m', 'POST', '-D', f.name, '-T', content_type,
               url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    if out.returncode: raise RuntimeError(f"hey failed ({out.returncode}): {out.stderr.strip()[-300:]}")
    h = hey_summary(out.stdout)
    kinds = {**{f'status {c}': n for c, n in h['status'].items() if c != 200}, **h['errors']}
    ok = h['status'].get(200, 0)
    pct = h['percentiles'] or {99: float('nan')}
    p99 = pct.get(99, pct[max(pct)])  # under 100 responses hey gives no p99: its highest percentile then
    return dict(clients=int(clients), seconds=round(h['seconds'], 2), requests=ok + sum(kinds.values()),
                requests_per_s=ok/h['seconds'], p50_ms=pct.get(50, float('nan'))*1e3, p99_ms=p99*1e3,
                errors=sum(kinds.values()), error_kinds=kinds)

def engine_rate(rec, jpegs:list, batch:int=16, runs:int=2)->float:
    "Images/s of the model alone on `jpegs` (bytes), in-process, batched by `batch`: decode, resize, forward, search."
    from retailklip.serve import read_upload
    from retailklip.imagefolder import embed_images
    def run():
        for i in range(0, len(jpegs), batch):
            arrays = [read_upload(b, 'q.jpg') for b in jpegs[i:i + batch]]
            e = embed_images(rec.encoder, arrays, rec.bb, batch_size=len(arrays), workers=0, parallel='threads')[0]
            rec.predict(e.numpy(), 5)
    run()  # warm-up
    return best_rate(run, len(jpegs), runs)

def request_profile(rec, jpeg:bytes, n:int=200, batch:int=16)->list:
    "Where one /classify request's time goes, stage by stage, each timed in-process over `n` repeats (ms per image)."
    import asyncio
    from starlette.requests import Request
    from fastapi.encoders import jsonable_encoder
    from fastapi.responses import JSONResponse
    from retailklip.serve import read_upload
    from retailklip.imagefolder import ImageDataset, bf16_twin, native_bf16
    from retailklip.backbone import to_model_input
    import torch
    body, ctype = multipart_body(jpeg)
    scope = dict(type='http', method='POST', path='/classify', headers=[(b'content-type', ctype.encode())],
                 query_string=b'')
    async def form():
        sent = []
        async def receive():
            if sent: return {'type': 'http.disconnect'}
            sent.append(1)
            return {'type': 'http.request', 'body': body, 'more_body': False}
        f = await Request(scope, receive).form()
        data = await f['files'].read()
        await f.close()
        return data
    a = read_upload(jpeg, 'q.jpg')
    sq = ImageDataset([a], rec.bb.image_size)[0][0]
    net = bf16_twin(rec.encoder) if native_bf16('cpu') else rec.encoder
    dtype = next(net.parameters()).dtype
    def forward(m):
        with torch.inference_mode():
            x = to_model_input(sq.expand(m, -1, -1, -1), rec.bb).to(dtype).contiguous(memory_format=torch.channels_last)
            return net(x).float()
    e1, eb = forward(1).numpy(), forward(batch).numpy()
    answer = [dict(file='q.jpg', unknown=False, top=[dict(product=p, score=round(float(s), 4), image='r0')
                                                      for p, s in rec.predict(e1, 5).topk[0]])]
    loop = asyncio.new_event_loop()  # one loop for every parse, as the server's
    stages = [('multipart parsing', lambda: loop.run_until_complete(form()), 1),
              ('JPEG decode', lambda: read_upload(jpeg, 'q.jpg'), 1),
              ('resize to the model size', lambda: ImageDataset([a], rec.bb.image_size)[0], 1),
              ('forward, batch of 1', lambda: forward(1), 1),
              (f'forward, batch of {batch} (per image)', lambda: forward(batch), batch),
              ('search (k=5 vote), batch of 1', lambda: rec.predict(e1, 5), 1),
              (f'search (k=5 vote), batch of {batch} (per image)', lambda: rec.predict(eb, 5), batch),
              ('JSON answer', lambda: JSONResponse(jsonable_encoder(answer)).body, 1)]
    rows = []
    for name, f, per in stages:
        f()
        reps = max(3, n//per)
        t = time.perf_counter()
        for _ in range(reps): f()
        rows.append(dict(stage=name, ms_per_image=(time.perf_counter() - t)/reps/per*1e3))
    loop.close()
    return rows

def http_stack()->str:
    "The event loop and HTTP parser uvicorn picks here ('auto': uvloop and httptools when installed)."
    import importlib.util
    have = lambda m: importlib.util.find_spec(m) is not None
    return f"{'uvloop' if have('uvloop') else 'asyncio'} + {'httptools' if have('httptools') else 'h11'}"

def load_avg()->str:
    "The machine's load averages (1, 5, 15 min), as `uptime` shows them."
    return ' '.join(f'{x:.2f}' for x in os.getloadavg())

def service_vs_engine(rec_path:str|Path, # a product index (`.rk`) for the server
                      files:list, # 224-px JPEG files: the engine's images; the first one is every request's photo
                      clients:int=16, seconds:float=12., # hey's load
                      max_batch:int=32, profile_n:int=200)->dict:
    "Requests/s of `retailklip serve` /classify under `hey` against the model's own images/s on the same JPEGs, one run."
    from retailklip.api import Recognizer
    from retailklip.imagefolder import embed_images
    rec = Recognizer.load(rec_path)
    jpegs = [Path(f).read_bytes() for f in files]
    before = load_avg()
    offline = lambda: best_rate(lambda: embed_images(rec.encoder, files, rec.bb), len(files))
    rates = dict(engine=[engine_rate(rec, jpegs, batch=clients)], offline=[offline()])
    body, ctype = multipart_body(jpegs[0])
    with running_server(rec_path, max_batch=max_batch, token=BENCH_TOKEN, access_log=False) as url:
        hey_load(url + '/classify', body, ctype, clients, 2.)  # warm-up
        load = hey_load(url + '/classify', body, ctype, clients, seconds)
    rates['engine'].append(engine_rate(rec, jpegs, batch=clients))  # again: the machine may have changed under the load
    rates['offline'].append(offline())
    best = max(max(rates['engine']), max(rates['offline']))
    ratio = load['requests_per_s']/best
    beyond = 1e3/load['requests_per_s'] - 1e3/best  # per request: HTTP, framework, waiting
    return dict(**load, jpeg_side=Image.open(io.BytesIO(jpegs[0])).width, http=http_stack(),
                engine_images_per_s=max(rates['engine']), engine_images_per_s_runs=rates['engine'],
                offline_images_per_s=max(rates['offline']), offline_images_per_s_runs=rates['offline'],
                model_images_per_s=best, service_over_engine=ratio,
                profile=request_profile(rec, jpegs[0], profile_n, clients), load_before=before, load_after=load_avg(),
                service_ms_beyond_engine=beyond, met=bool(ratio >= .5 and load['errors'] == 0))
