"""The documentation site: built from the notebooks' committed outputs into _docs/ (mkdocs-material + mkdocs-jupyter,
no notebook is run), and checked in a real browser (headless chromium driven by Playwright).

Usage: python .ci/docs.py build   # write _docs/ (its sources are generated in a temporary folder: nothing else changes)
       python .ci/docs.py check   # serve _docs/ on 127.0.0.1, open every page: no broken internal link, no missing image
       python .ci/docs.py serve   # serve _docs/ on http://127.0.0.1:8000 until Ctrl-C
"""
import functools, http.server, inspect, json, os, re, shutil, sys, tempfile, threading, time, urllib.parse, urllib.request
from pathlib import Path

root = Path(__file__).resolve().parent.parent
site = root/'_docs'  # settings.ini doc_path; ignored by git
WIDGET = 'application/vnd.jupyter.widget-view+json'

def chapters()->list:
    "The notebooks in book order (index.ipynb is the README, the home page)."
    return sorted(p for p in (root/'nbs').glob('*.ipynb') if p.name != 'index.ipynb')

def explanations()->list:
    "The notebooks of `nbs/explanations/`: why the defaults are what they are, with the benchmark's figures."
    return sorted((root/'nbs'/'explanations').glob('*.ipynb'))

def page_link(m)->str:
    "A markdown link to another notebook, as the site's page of it: the page is a folder one level below the notebook's."
    return f"]({'../' + m.group(1)}/{m.group(2) or ''})"

def title(nb:dict, fallback:str)->str:
    "The notebook's first markdown heading."
    for c in nb['cells']:
        if c['cell_type'] == 'markdown':
            m = re.search(r'^#\s+(.+)$', ''.join(c['source']), re.M)
            if m: return m.group(1).strip()
    return fallback

def page_notebook(src:Path, dst:Path)->str:
    "Copy a chapter for the site: directive lines and `#| hide` cells dropped; a widget whose state is not saved shows its text form. Returns its title."
    nb = json.loads(src.read_text()); cells = []
    for c in nb['cells']:
        text = ''.join(c['source'])
        if c['cell_type'] == 'code':
            lines = text.split('\n')
            if any(re.match(r'#\|\s*hide\b', l) for l in lines): continue
            c['source'] = '\n'.join(l for l in lines if not l.startswith('#|')).strip('\n')
            if not c['source'] and not c.get('outputs'): continue  # only directives (`#| default_exp`): nothing to show
            for o in c.get('outputs', []):
                if WIDGET in o.get('data', {}) and not nb.get('metadata', {}).get('widgets'):  # no saved widget state: say what it is
                    o['data'] = {'text/markdown': '*An ipywidgets control (live when the notebook runs in Jupyter); the output above is its view as saved.*'}
        else:  # headings without code spans: the table of contents and the page then name a heading by the same id
            c['source'] = re.sub(r'^(#+ .*)$', lambda m: m.group(1).replace('`', ''), text, flags=re.M)
            c['source'] = re.sub(r'\]\(((?:\.\./|[\w-]+/)*[\w-]+)\.ipynb(#[\w-]*)?\)', page_link, c['source'])  # as on GitHub
        cells.append(c)
    nb['cells'] = cells; dst.write_text(json.dumps(nb))
    return title(nb, src.stem)

def api_page(mod)->str:
    "Markdown for one module: each name of `__all__` as nbdev's `show_doc` renders it, and the public methods of its classes."
    from nbdev.showdoc import show_doc
    out = [f"# `{mod.__name__}`", '', (mod.__doc__ or '').strip(), '']
    def doc(obj, name=None):
        try: md = show_doc(obj, name=name, title_level=2)._repr_markdown_()
        except Exception: return  # not a documentable object (constants are listed below)
        out.append(re.sub(r'^(\[source\]\(.*|---)$\n', '', md, flags=re.M) + '\n')  # a '---' under the previous docstring would make it a heading
    consts = []
    for name in getattr(mod, '__all__', []):
        obj = getattr(mod, name)
        if inspect.isclass(obj):
            doc(obj)
            for m, v in vars(obj).items():
                if not m.startswith('_') and (inspect.isfunction(v) or isinstance(v, (classmethod, staticmethod))): doc(getattr(obj, m), f"{name}.{m}")
        elif callable(obj): doc(obj)
        else: r = repr(obj); consts.append(f"- `{name}` = `{r if len(r) <= 200 else r[:200] + ' ...'}`")
    if consts: out += ['## Constants', ''] + consts
    return '\n'.join(out) + '\n'

def modules()->list:
    "The library's modules in book order (the notebook each is exported from)."
    src = lambda p: (re.findall(r'nbs/(\S+)\.ipynb', p.read_text()[:300]) or [p.stem])[0]
    return [p.stem for p in sorted((root/'retailklip').glob('*.py'), key=src) if not p.stem.startswith('_')]

def build()->None:
    "Generate the site's sources in a temporary folder and run `mkdocs build` into `_docs/`."
    import importlib
    t = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp)/'docs'; (docs/'api').mkdir(parents=True)
        shutil.copytree(root/'nbs'/'images', docs/'images')
        bench = sorted((root/'bench'/'results').glob('*/bench.md'))
        home = (root/'README.md').read_text().replace('](nbs/images/', '](images/')
        home = re.sub(r'\]\(nbs/([\w-]+)\.ipynb\)', r'](\1.ipynb)', home)
        if bench:
            home = home.replace(f'({bench[-1].relative_to(root)})', '(bench.md)')
            shutil.copy(bench[-1], docs/'bench.md')
        (docs/'index.md').write_text(home)
        nav_ch = [{page_notebook(p, docs/p.name): p.name} for p in chapters()]
        (docs/'explanations').mkdir()
        nav_ex = [{page_notebook(p, docs/'explanations'/p.name): f'explanations/{p.name}'} for p in explanations()]
        nav_api = []; sys.path.insert(0, str(root))
        for m in modules():
            mod = importlib.import_module(f'retailklip.{m}')
            if not getattr(mod, '__all__', None): continue
            (docs/'api'/f'{m}.md').write_text(api_page(mod)); nav_api.append({m: f'api/{m}.md'})
        cfg = dict(site_name='retailklip', site_description='Product recognition and object-level image search on OpenCLIP',
                   docs_dir=str(docs), site_dir=str(site), use_directory_urls=True,
                   theme=dict(name='material', font=False, features=['navigation.sections', 'navigation.top', 'search.highlight']),
                   plugins=['search', {'mkdocs-jupyter': dict(execute=False, include_source=False, ignore_h1_titles=True)}],
                   markdown_extensions=['tables', 'attr_list', 'admonition', {'toc': dict(permalink=True)}, 'pymdownx.superfences'],
                   nav=[{'Home': 'index.md'}, {'Chapters': nav_ch}, {'Explanations': nav_ex}, {'API reference': nav_api}] + ([{'Benchmark': 'bench.md'}] if bench else []))
        (Path(tmp)/'mkdocs.yml').write_text(json.dumps(cfg, indent=1))  # JSON is YAML
        if site.exists(): shutil.rmtree(site)
        from mkdocs.__main__ import cli
        cwd = os.getcwd(); os.chdir(tmp)  # mkdocs-jupyter keeps a .cache/ in the working folder: the temporary one
        try: cli.main(['build', '-q', '-f', str(Path(tmp)/'mkdocs.yml')], standalone_mode=False)
        except SystemExit as e:
            if e.code: raise
        finally: os.chdir(cwd)
    pages = sorted(site.rglob('index.html'))
    print(f"built {len(pages)} pages ({len(nav_ch)} chapters, {len(nav_ex)} explanations, {len(nav_api)} API pages) into {site.relative_to(root)}/ in {time.time() - t:.0f} s")

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

def serve(port:int=0):
    "An HTTP server of `_docs/` on 127.0.0.1 (in a thread); returns (server, base URL)."
    s = http.server.ThreadingHTTPServer(('127.0.0.1', port), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s, f'http://127.0.0.1:{s.server_address[1]}/'

def check()->int:
    "Open every page of `_docs/` in headless chromium: count broken internal links (page or #anchor) and images that did not load; keep screenshots of the home page and one chapter."
    from playwright.sync_api import sync_playwright
    sys.path.insert(0, str(root))  # the checkout: the test harness is `bench/harness.py`
    from bench.harness import find_chromium, CHROMIUM_ARGS
    exe = find_chromium()
    if exe is None:
        if os.environ.get('RETAILKLIP_BROWSER_TEST') == 'required': print('no chromium found, but the browser check is required'); return 1
        print('no chromium found: the browser check of the site is skipped'); return 0
    shots = Path(os.environ.get('RETAILKLIP_ARTIFACTS') or site/'_check'); shots.mkdir(parents=True, exist_ok=True)
    server, base = serve()
    rel = [p.parent.relative_to(site) for p in site.rglob('index.html')]
    pages = [base + ('' if r == Path('.') else r.as_posix() + '/') for r in sorted(rel, key=lambda r: (len(r.parts), r))
             if not {'assets', 'search', '_check'} & set(r.parts)]  # the home page first
    html, broken, missing, n_links, n_found = {}, [], [], 0, 0
    def fetch(url):
        if url not in html:
            try:
                with urllib.request.urlopen(url) as r: html[url] = r.read().decode('utf-8', 'replace')
            except Exception: html[url] = None
        return html[url]
    t = time.time()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        pg = b.new_page(viewport=dict(width=1280, height=900))
        for i, url in enumerate(pages):
            r = pg.goto(url, wait_until='load')
            if r is None or r.status != 200: broken.append((url, url, r.status if r else 'no response')); continue
            for img in pg.eval_on_selector_all('img', 'els => els.filter(e => !(e.complete && e.naturalWidth > 0)).map(e => e.currentSrc || e.src)'):
                missing.append((url, img[:120]))
            for href in set(pg.eval_on_selector_all('a[href]', 'els => els.map(e => e.href)')):
                if not href.startswith(base): continue  # outside the site (GitHub, papers): not checked offline
                n_links += 1; target, _, frag = href.partition('#'); body = fetch(target)
                if body is None: broken.append((url, href, 'not found'))
                elif frag and not re.search(rf'''(id|name)=["']?{re.escape(urllib.parse.unquote(frag))}["'\s>]''', body): broken.append((url, href, 'no such anchor'))
            if url == base:
                pg.screenshot(path=str(shots/'docs_home.png'))
                pg.fill('input.md-search__input', 'Recognizer')  # the site's search (lunr, in the page: no server)
                pg.wait_for_selector('.md-search-result__item', timeout=15_000); n_found = pg.locator('.md-search-result__item').count()
                pg.screenshot(path=str(shots/'docs_search.png')); pg.goto(url)
            if '00_tutorial' in url: pg.screenshot(path=str(shots/'docs_chapter_00_tutorial.png'))
        b.close()
    server.shutdown()
    for u, h, why in broken[:20]: print(f"broken link on {u}: {h} ({why})")
    for u, s in missing[:20]: print(f"image not loaded on {u}: {s}")
    print(f"browser check ({Path(exe).name}): {len(pages)} pages, {n_links} internal links, {len(broken)} broken, {len(missing)} images missing; "
          f"search for 'Recognizer': {n_found} results; screenshots in {shots} ({time.time() - t:.0f} s)")
    return 1 if broken or missing or not n_found or len(pages) < len(chapters()) + 1 else 0

if __name__ == '__main__':
    what = sys.argv[1] if len(sys.argv) > 1 else 'build'
    if what == 'build': build()
    elif what == 'check': sys.exit(check())
    elif what == 'serve':
        s, url = serve(8000); print(f"serving {site} at {url} (Ctrl-C to stop)")
        try: threading.Event().wait()
        except KeyboardInterrupt: s.shutdown()
    else: sys.exit(__doc__)
