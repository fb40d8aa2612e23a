"""The documentation: `README.md` in sync with `nbs/index.ipynb`, and the Quarto-free site (`tools/build_docs.py`)
built from the checkout and read in headless Chromium, offline."""
import html, json, re, shutil, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import bench_table, build_docs, make_readme  # noqa: E402

NBS = ROOT/'nbs'
LOSSES_NB = NBS/'02_losses.ipynb'
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
                  '--no-first-run', '--disable-component-update', '--disable-sync',
                  '--host-resolver-rules=MAP * ~NOTFOUND']  # no host resolves: the pages must not need any


def nb_title(nb:Path) -> str:
    "The H1 title of notebook `nb` (its first markdown cell)"
    cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
    src = next(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')
    m = re.match(r'\s*#\s+(.+)', src)
    assert m, f'{nb.name}: the first markdown cell should start with an H1 title'
    return m.group(1).strip()


def text_of(dom:str) -> str:
    "Visible-ish text of an HTML document: tags dropped, entities decoded, whitespace collapsed"
    dom = re.sub(r'<(script|style)\b.*?</\1>', ' ', dom, flags=re.S | re.I)
    return re.sub(r'\s+', ' ', html.unescape(re.sub(r'<[^>]+>', '', dom)))


def n_images(page_nb:Path) -> int:
    "Figures (image outputs) in a page notebook as built for the site"
    cells = json.loads(page_nb.read_text(encoding='utf-8'))['cells']
    return sum(any(k.startswith('image/') for k in o.get('data', {})) for c in cells for o in c.get('outputs', []))


def test_readme_in_sync():
    "README.md is what `tools/make_readme.py` generates from nbs/index.ipynb"
    drift = make_readme.readme_drift()
    assert not drift, '\n'.join(drift) + '\nrun `python tools/make_readme.py`'


def readme_bench_table(readme:str) -> str:
    "The benchmark table of README text `readme`: the lines from its header row to the first line that is not a table row"
    lines = readme.splitlines()
    head = '| ' + ' | '.join(bench_table.HEADER) + ' |'
    assert lines.count(head) == 1, 'README.md should hold exactly one benchmark table'
    i = lines.index(head); j = i
    while j < len(lines) and lines[j].startswith('|'): j += 1
    return '\n'.join(lines[i:j])


def test_readme_bench_table():
    """The README's benchmark table is exactly what `tools/bench_table.py` generates from `bench/results/`, and each
    of its rows links to a result file that exists"""
    readme = (ROOT/'README.md').read_text(encoding='utf-8')
    assert bench_table.MARKER not in readme, 'the marker line was not replaced'
    table = readme_bench_table(readme)
    assert table == bench_table.bench_table(), 'README.md\'s benchmark table differs from bench/results: run `python tools/make_readme.py`'
    rows = bench_table.table_rows()
    assert len(table.splitlines()) == 2 + len(rows)
    for path, _ in rows: assert path.is_file(), path
    links = re.findall(r'\]\(([^)\s]+\.json)\)', table)
    assert len(links) == len(rows)
    for link in links: assert (ROOT/link).is_file(), f'{link}: no such result file'
    cells = json.loads((NBS/'index.ipynb').read_text(encoding='utf-8'))['cells']
    assert any(bench_table.MARKER in ''.join(c['source']) for c in cells), 'nbs/index.ipynb has no benchmark-table marker'


def test_bench_table_selects_files(tmp_path):
    "Quality runs on a split that chose defaults, smoke runs (`--limit`) and GPU-recipe runs without a GPU get no row"
    cpu = dict(cpu='Some CPU', cores=2, cpu_flags=['avx2'], cpu_native_bf16=False, gpu=None, load_average=[1.0, 1.0, 1.0])
    side = dict(epochs=3, score=0.6, tta_score=0.61, crossfit_score=0.62, wall=100.)
    def write(rel, chose=False, limit=None, hw=cpu, **fig):
        f = tmp_path/'bench'/'results'/rel
        f.parent.mkdir(parents=True, exist_ok=True)
        figures = dict(n_train=10, n_valid=5, ours=side, baseline=side, delta=0., delta_tta=0., delta_crossfit=0.,
                       target=0.03, target_met=False, chose_defaults=chose, **fig)
        f.write_text(json.dumps(dict(date='2026-01-02 03:04 UTC', commit='abcdef0123', hardware=hw,
                                     args=dict(minutes=1, fold=0, seed=7, limit=limit, arch='a', bs=2), figures=figures)))
    write('quality/fold0_seed7_1min.json')
    write('quality/fold4_seed42_1min.json', chose=True)
    write('quality/fold0_seed7_1min_limit200.json', limit=200)
    write('gpu_recipe/cpu_smoke.json', epochs=1, mean_epoch_s=1., score=0.5)
    rows = bench_table.table_rows(tmp_path/'bench'/'results', root=tmp_path)
    assert [p.name for p, _ in rows] == ['fold0_seed7_1min.json']
    t = bench_table.bench_table(tmp_path/'bench'/'results', root=tmp_path)
    assert 'Some CPU, 2 cores, AVX2 only' in t and '[2026-01-02, abcdef0](bench/results/quality/fold0_seed7_1min.json)' in t


def test_index_quick_start():
    "The two quick-start commands are on the index page, hence in the README"
    readme = (ROOT/'README.md').read_text(encoding='utf-8')
    for cmd in ('pip install -e . && salt-fastai demo --out demo_run',
                'pip install -e ".[dev]" && nbdev-test && pytest tests',
                'python tools/build_docs.py'):
        assert cmd in readme, cmd


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    """The site built from the checkout's notebooks (saved outputs, nothing executed but nbdev's `show_doc` cells),
    with HTTP(S) proxies pointing at a closed port, so that a build step needing the network fails"""
    with pytest.MonkeyPatch.context() as mp:
        for v in ('HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy'):
            mp.setenv(v, 'http://127.0.0.1:9')
        for v in ('NO_PROXY', 'no_proxy'): mp.delenv(v, raising=False)
        out = build_docs.build(tmp_path_factory.mktemp('docs')/'site', quiet=True)
    print(f'site built in {out}')
    return out


def test_site_pages_in_notebook_order(site):
    "One page per notebook, named as nbdev names them, with the notebook's title, in notebook order in the navigation"
    nbs = build_docs.notebooks(NBS)
    assert nbs[0].name == 'index.ipynb'
    pages = [build_docs.page_name(nb) for nb in nbs]
    for p in pages: assert (site/p).is_file(), p
    page = (site/pages[-1]).read_text(encoding='utf-8')
    nav = re.findall(r'<a href="([\w.-]+\.html)" class="md-nav__link[^"]*">\s*<span class="md-ellipsis">\s*(.*?)\s*</span>', page, re.S)
    assert [h for h, _ in nav] == pages
    assert [html.unescape(t) for _, t in nav] == [nb_title(nb) for nb in nbs]


def test_quarto_config(site):
    "nbdev-docs/nbdev-preview still have their standard config, the sidebar listing every notebook in order"
    for f in ('_quarto.yml', 'nbdev.yml', 'sidebar.yml', 'styles.css'): assert (NBS/f).is_file(), f
    import yaml
    side = yaml.safe_load((NBS/'sidebar.yml').read_text())['website']['sidebar']['contents']
    assert side == [nb.name for nb in build_docs.notebooks(NBS)]


def test_site_is_offline(site):
    "No page of the site loads anything from the network: no web fonts, CDN scripts or styles, no analytics"
    assert build_docs.external_refs(site) == []
    for f in site.rglob('*.html'):
        s = f.read_text(encoding='utf-8')
        for host in ('fonts.googleapis', 'fonts.gstatic', 'unpkg.com', 'cdnjs', 'jsdelivr', 'googletagmanager'):
            assert not re.search(rf'<(script|link)[^>]*{re.escape(host)}', s), f'{f.name} loads from {host}'


def test_internal_links(site):
    "Every link inside the site (navigation, table of contents, nbdev's links to symbols) reaches a page and anchor"
    ids = {f.name: set(re.findall(r'\bid="([^"]+)"', f.read_text(encoding='utf-8'))) for f in site.glob('*.html')}
    bad = []
    for f in sorted(site.glob('*.html')):
        for href in re.findall(r'<a\b[^>]*\bhref="([^"]+)"', f.read_text(encoding='utf-8')):
            href = html.unescape(href)
            if re.match(r'^[a-z]+:|^//', href) or href.startswith('..'): continue
            page, _, anchor = href.partition('#')
            page = page.split('?')[0] or f.name
            if page.endswith('.html') and '/' not in page:
                if page not in ids: bad.append(f'{f.name}: {href} (no page)')
                elif anchor and anchor not in ids[page]: bad.append(f'{f.name}: {href} (no anchor)')
    assert not bad, '\n'.join(bad)


def test_search_index(site):
    "The search index exists, also as a script for file:// (offline plugin), and knows the API names"
    idx = json.loads((site/'search/search_index.json').read_text(encoding='utf-8'))
    assert (site/'search/search_index.js').is_file()
    locations = {d['location'].split('#')[0] for d in idx['docs']}
    assert {build_docs.page_name(nb) for nb in build_docs.notebooks(NBS)} <= locations
    if not LOSSES_NB.exists(): pytest.skip(f'{LOSSES_NB.name} not written yet: nothing to look up in the index')
    assert any('lovasz_hinge' in d['title'] for d in idx['docs']), 'no search entry titled lovasz_hinge'


@pytest.fixture(scope='module')
def chromium(tmp_path_factory):
    "Run headless Chromium with the given arguments; returns its stdout"
    exe = next((shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(n)), None)
    if not exe: pytest.skip("no chromium on PATH (CI installs Debian's chromium package in .ci/run)")
    profile = tmp_path_factory.mktemp('chromium-profile')
    def run(*args, timeout=120):
        r = subprocess.run([exe, *CHROMIUM_FLAGS, f'--user-data-dir={profile}', *args],
                           capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout
    return run


@pytest.fixture(scope='module')
def dom(site, chromium):
    "The DOM of a page of the site after Chromium has rendered it (cached per page)"
    cache = {}
    def get(page:str) -> str:
        if page not in cache: cache[page] = chromium('--dump-dom', (site/page).as_uri())
        return cache[page]
    return get


def figures(dom:str) -> int: return len(re.findall(r'<img\b[^>]*src="data:image/(?:png|jpeg|gif|svg\+xml)', dom))


def screenshot(chromium, url:str, png:Path) -> Path:
    chromium(f'--screenshot={png}', '--window-size=1280,2000', '--hide-scrollbars', url)
    assert png.is_file() and png.stat().st_size > 20_000, f'{png} missing or blank'
    print(f'screenshot: {png}')
    return png


def test_figures_embedded(site):
    "Every figure saved in a notebook is embedded in its page (no file to fetch)"
    for nb in build_docs.notebooks(NBS):
        page = build_docs.page_name(nb)
        want = n_images(build_docs.BUILD/'docs'/Path(page).with_suffix('.ipynb').name)
        assert figures((site/page).read_text(encoding='utf-8')) >= want, page


def test_index_page_in_browser(site, chromium, dom, tmp_path):
    "The index page renders its title, sections and commands in Chromium; a screenshot is saved"
    d = dom('index.html')
    text = text_of(d)
    assert re.search(r'<h1[^>]*>\s*salt_fastai', d)
    for h in ('Install', 'Quick start', 'Building the docs'): assert re.search(rf'<h2[^>]*>\s*{h}', d), h
    assert 'pip install -e . && salt-fastai demo --out demo_run' in text
    assert 'pip install -e ".[dev]" && nbdev-test && pytest tests' in text
    assert figures(d) >= n_images(build_docs.BUILD/'docs/index.ipynb')
    screenshot(chromium, (site/'index.html').as_uri(), tmp_path/'index.png')


def test_losses_page_in_browser(site, chromium, dom, tmp_path):
    "The losses API page renders its title, the `lovasz_hinge` heading and signature, its figures; a screenshot is saved"
    if not LOSSES_NB.exists(): pytest.skip(f'{LOSSES_NB.name} not written yet')
    page = build_docs.page_name(LOSSES_NB)
    d = dom(page)
    assert re.search(rf'<h1[^>]*>\s*{re.escape(html.escape(nb_title(LOSSES_NB), quote=False))}', d)
    assert re.search(r'<h[2-4][^>]*id="lovasz_hinge"', d), 'no lovasz_hinge heading (show_doc)'
    assert re.search(r'def lovasz_hinge\s*\(', text_of(d)), 'no lovasz_hinge signature'
    assert figures(d) >= n_images(build_docs.BUILD/'docs'/Path(page).with_suffix('.ipynb').name)
    screenshot(chromium, (site/page).as_uri(), tmp_path/'losses.png')


def test_a_figure_in_browser(dom):
    "The index and losses pages show at least one figure between them"
    if not LOSSES_NB.exists(): pytest.skip(f'{LOSSES_NB.name} not written yet')
    n = figures(dom('index.html')) + figures(dom(build_docs.page_name(LOSSES_NB)))
    assert n >= 1, ('no figure on the index or losses page: nbs/index.ipynb is to show real predictions, '
                    'or 02_losses a plot')


def test_search_in_browser(site, chromium):
    "Search works from file:// with no network: a query for lovasz_hinge lists the losses page"
    if not LOSSES_NB.exists(): pytest.skip(f'{LOSSES_NB.name} not written yet: nothing to search for')
    dom = chromium('--virtual-time-budget=15000', '--dump-dom', (site/'index.html').as_uri() + '?q=lovasz_hinge')
    results = re.findall(r'<a href="([^"]+)" class="md-search-result__link"', dom)
    assert any(build_docs.page_name(LOSSES_NB) in r for r in results), f'search results: {results}'


def test_markdown_cells_are_short():
    "A page explains what and why in short cells; long dated tables belong in result files (bench/results/)"
    import json
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            if c['cell_type'] == 'markdown':
                n = len(''.join(c['source']))
                assert n <= 3000, f"{nb.name} cell {c.get('id')}: {n} characters of markdown (at most 3000)"


def test_code_lines_within_120():
    "Code cells wrap at 120 characters, as the exported modules and the pages show them"
    import json
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            if c['cell_type'] == 'code':
                for i, line in enumerate(''.join(c['source']).splitlines(), start=1):
                    assert len(line) <= 120, (f"{nb.name} cell {c.get('id')} line {i}: {len(line)} characters "
                                              f"(at most 120): {line[:60]}...")
