"""The test harness: the real service in a child process on a free loopback port, a bounded load generator, and a
headless chromium for browser tests. Tests and the benchmark use it; the library does not."""
from __future__ import annotations
import asyncio, contextlib, json, os, socket, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

def _free_port()->int:
    "A TCP port on 127.0.0.1 that is free now (bound, then released)."
    with socket.socket() as so: so.bind(('127.0.0.1', 0)); return so.getsockname()[1]

@contextlib.contextmanager
def running_server(index:str|Path|None=None, search:str|Path|None=None, # see `make_app`
                   timeout:float=120., # seconds to wait for /healthz
                   log:str|Path|None=None, # a file for the server's log (stderr); default: a temporary file
                   **kwargs): # more arguments of `serve` (token, max_batch, max_wait, engine, onnx, ...)
    "Context manager: `serve` in a child process on a free 127.0.0.1 port; yields its base URL and stops it on exit."
    import httpx
    port = _free_port(); args = dict(kwargs, index=str(index) if index else None, search=str(search) if search else None, port=port)
    args = {k: str(v) if isinstance(v, Path) else v for k, v in args.items()}
    code = f"import json; from retailklip.serve import serve; serve(**json.loads({json.dumps(json.dumps(args))}))"
    err = open(log, 'w+') if log is not None else tempfile.TemporaryFile('w+')  # a file: a full pipe blocks the server
    srv = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.DEVNULL, stderr=err, text=True)
    url, end = f'http://127.0.0.1:{port}', time.time() + timeout
    try:
        while True:
            try: httpx.get(url + '/healthz', timeout=2).raise_for_status(); break
            except httpx.HTTPError:
                if srv.poll() is not None:
                    err.seek(0)
                    raise RuntimeError(f"the server exited: {err.read().strip()[-2000:]}") from None
                if time.time() > end: raise TimeoutError(f"the server did not answer within {timeout:.0f} s") from None
                time.sleep(.1)
        yield url
    finally:
        srv.terminate()
        try: srv.wait(10)
        except subprocess.TimeoutExpired: srv.kill(); srv.wait()
        err.close()

async def _load(url, photo, clients, requests, adds, token, timeout):
    "The load of `load_test`: (latencies of the answered requests, errors, wall seconds, products held at the end)."
    import httpx
    lat, errors = [], []
    auth = {'Authorization': f'Bearer {token}'} if token else {}
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=httpx.Limits(max_connections=clients + 2)) as c:
        async def client():
            for _ in range(requests):
                t = time.perf_counter()
                try: r = await c.post('/classify', files=[('files', ('q.png', photo, 'image/png'))])
                except httpx.HTTPError as e: errors.append(type(e).__name__); continue
                if r.status_code == 200: lat.append(time.perf_counter() - t)
                else: errors.append(f'classify {r.status_code}')
        async def adder():
            for product, data in adds:
                try: r = await c.post(f'/products/{product}/references', files=[('files', ('ref.png', data, 'image/png'))], headers=auth)
                except httpx.HTTPError as e: errors.append(type(e).__name__); continue
                if r.status_code != 200: errors.append(f'add {r.status_code}')
        t0 = time.perf_counter()
        await asyncio.gather(*[client() for _ in range(clients)], adder())
        wall = time.perf_counter() - t0
        held = {p['product'] for p in (await c.get('/products')).json()}
    return lat, errors, wall, held

def load_test(url:str, # base URL of a running service (loopback only)
              photo:bytes, # the image every /classify request sends
              clients:int=16, requests:int=200, # concurrent clients x sequential requests each
              adds:list=(), # (product id, image bytes) pairs POSTed to /products/{id}/references during the load
              token:str|None=None, timeout:float=60.)->dict:
    "Bounded load on `/classify` with concurrent product additions: latency p50 / p99 (ms), requests/s, errors and lost updates."
    import urllib.parse
    from retailklip.serve import is_loopback_host
    host = urllib.parse.urlparse(url).hostname or ''
    if not is_loopback_host(host): raise ValueError(f"load_test runs against this machine only (127.0.0.1, ::1, localhost), not {host!r}")
    if clients < 1 or requests < 1: raise ValueError(f"clients and requests must be >= 1, got {clients}, {requests}")
    lat, errors, wall, held = asyncio.run(_load(url, photo, int(clients), int(requests), list(adds), token, timeout))
    ms = np.array(lat)*1e3 if lat else np.array([np.nan])
    return dict(clients=int(clients), requests=int(clients*requests), seconds=round(wall, 2), requests_per_s=len(lat)/wall,
                p50_ms=float(np.percentile(ms, 50)), p99_ms=float(np.percentile(ms, 99)), errors=len(errors),
                error_kinds=sorted(set(errors)), adds=len(adds), lost_updates=sum(p not in held for p, _ in adds))

def find_chromium()->str|None:
    "The path of a chromium executable (`RETAILKLIP_CHROMIUM`, else `chromium`, `chromium-browser` or `google-chrome` on the PATH), or None."
    import shutil
    for c in (os.environ.get('RETAILKLIP_CHROMIUM'), *(shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome'))):
        if c and Path(c).is_file(): return c
    return None

CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']  # no connections out of this machine
