"""The documentation: `README.md` in sync with `nbs/index.ipynb`, and the Quarto-free site (`tools/build_docs.py`)
built from the checkout and read in headless Chromium, offline."""
import html, json, re, shutil, subprocess, sys

import numpy as np
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import bench_table, build_docs, make_readme  # noqa: E402

NBS = ROOT/'nbs'
LOSSES_NB = NBS/'03_losses.ipynb'
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


def md_tables(text:str) -> list[list[str]]:
    "The markdown tables of `text`, each as its lines (header, rule, rows)"
    out, cur = [], []
    for line in text.splitlines() + ['']:
        if line.startswith('|'): cur.append(line)
        elif cur: out.append(cur); cur = []
    return out


def linked_results(text:str, base:Path) -> set[Path]:
    "The result files that markdown `text` links to, resolved from `base`; each must exist"
    links = re.findall(r'\]\(([^)\s]+\.json)\)', text)
    for l in links: assert (base/l).is_file(), f'{l}: no such result file'
    return {(base/l).resolve() for l in links}


def test_readme_headline():
    """The README's first screen holds what it is, the picture, the set-up commands and the headline plot; its one
    table is `tools/bench_table.py`'s headline, short, each row linking result files that exist"""
    readme = (ROOT/'README.md').read_text(encoding='utf-8')
    assert bench_table.MARKER not in readme, 'the marker line was not replaced'
    first = '\n'.join(readme.splitlines()[:60])
    pictures = re.findall(r'!\[[^]]*\]\((index_files/[^)]+\.png)\)', first)
    assert len(pictures) >= 2, f'the first 60 lines should show the predictions and the plot: {pictures}'
    for cmd in ('pip install -e . && salt-fastai demo --out demo_run', 'pip install -e ".[dev]" && nbdev-test && pytest tests'):
        assert cmd in first, cmd
    assert bench_table.headline() in readme, "README.md's headline differs from bench/results: run tools/make_readme.py"
    tables = md_tables(readme)
    assert tables, 'README.md has no headline table'
    for t in tables:
        assert len(t) - 2 <= 8, f'a README table has {len(t) - 2} rows (at most 8)'
        for row in t: assert len(row) <= 300, f'a README table row has {len(row)} characters (at most 300): {row[:80]}'
    rows = bench_table.headline_rows()
    assert 3 <= len(rows) <= bench_table.HEADLINE_ROWS, rows
    assert {f.resolve() for files, _ in rows for f in files} == linked_results(readme, ROOT)
    cells = json.loads((NBS/'index.ipynb').read_text(encoding='utf-8'))['cells']
    assert any(bench_table.MARKER in ''.join(c['source']) for c in cells), 'nbs/index.ipynb has no benchmark-table marker'


def test_bench_readme_tables():
    """bench/README.md holds every benchmark row: its generated part is what `tools/bench_table.py` makes of
    bench/results, and every result file that counts is linked from it"""
    text = (ROOT/'bench'/'README.md').read_text(encoding='utf-8')
    assert text == make_readme.render_bench_readme(), 'bench/README.md differs from bench/results: run tools/make_readme.py'
    linked = linked_results(text, ROOT/'bench')
    want = {f.resolve() for _, _, _, fn in bench_table.GROUPS for f, _, _ in fn(bench_table.RESULTS)}
    assert want == linked, sorted(p.name for p in want ^ linked)
    top = {f.resolve() for f in bench_table.RESULTS.glob('*.json')}
    assert top <= linked, f'result files with no row: {sorted(p.name for p in top - linked)}'
    for title, *_ in bench_table.GROUPS: assert f'### {title}' in text, title


def write_result(root:Path, rel:str, args:dict, figures:dict, cpu:str='Some CPU'):
    "A result file under `root`/bench/results, as `bench/hardware.record` writes it"
    hw = dict(cpu=cpu, cores=2, cpu_flags=['avx2'], cpu_native_bf16=False, gpu=None, load_average=[1.0, 1.0, 1.0])
    f = root/'bench'/'results'/rel
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(dict(date='2026-01-02 03:04 UTC', commit='abcdef0123', hardware=hw, args=args,
                                 figures=figures)))
    return f


def test_bench_table_selects_files(tmp_path):
    "Quality runs on a split that chose defaults, smoke runs (`--limit`) and GPU-recipe runs without a GPU get no row"
    side = dict(epochs=3, score=0.6, tta_score=0.61, crossfit_score=0.62, wall=100.)
    def write(rel, chose=False, limit=None, **fig):
        figures = dict(n_train=10, n_valid=5, ours=side, baseline=side, chose_defaults=chose, **fig)
        write_result(tmp_path, rel, dict(minutes=1, fold=0, seed=7, limit=limit, arch='a', bs=2), figures)
    write('quality/fold0_seed7_1min.json')
    write('quality/fold4_seed42_1min.json', chose=True)
    write('quality/fold0_seed7_1min_limit200.json', limit=200)
    write('gpu_recipe/cpu_smoke.json', epochs=1, mean_epoch_s=1., score=0.5)
    results = tmp_path/'bench'/'results'
    test_rows = bench_table.quality_rows(results)
    assert [(p.name, cells[2]) for p, _, cells in test_rows] == [('fold0_seed7_1min.json', 'ours'),
                                                                    ('fold0_seed7_1min.json', 'baseline')]
    assert bench_table.gpu_rows(results) == []
    t = bench_table._table(bench_table.QUALITY_HEADER, test_rows, tmp_path, '')
    assert 'Some CPU ×2, AVX2 only; load 1.0' in t and '[2026-01-02, abcdef0](bench/results/quality/fold0_seed7_1min.json)' in t


def test_lever_results_required(tmp_path):
    """The lever table cannot come out empty: without lever runs on the lever split the tables are not built; a
    paired lever is kept only when its whole interval lies above 0"""
    results = tmp_path/'bench'/'results'
    (results/'budget').mkdir(parents=True)
    with pytest.raises(bench_table.NoResults): bench_table.all_tables(results, root=tmp_path)
    base = dict(fold=0, seed=11, minutes=20., arch='resnet34', size_ours=101, tag='t')
    ids = [f'id{i}' for i in range(50)]
    def run(name, scores, **lever):
        s = dict(side='ours', epochs=5, score=0.7, tta_score=0.7, crossfit_score=float(np.mean(scores)),
                 per_image=dict(ids=ids, crossfit=list(scores)))
        write_result(tmp_path, f'budget/fold0_seed11_20min_t_ours{name}.json', {**base, **lever}, s)
    rng = np.random.default_rng(0)
    start = rng.uniform(0, 1, 50)
    run('', start); run('_better', np.clip(start + 0.2, 0, 1), lr_ours=2e-3); run('_same', start, wd_ours=0.1)
    rows = {cells[1]: cells for _, _, cells in bench_table.lever_rows(results)}
    assert rows['start'][5:] == ['', '', ''], rows['start']
    assert rows['better'][7] == 'yes' and rows['same'][7] == 'no' and rows['same'][5] == '+0.000', rows


def test_levers_agree_with_defaults():
    """What `--minutes` does is what the paired levers kept: the last paired round's start ran with today's defaults,
    and no lever of that round has its interval above 0 unless the defaults took it, it waits for its one-hour
    confirmation on the split that chose nothing (`bench/curve.py`'s `TO_CONFIRM`, named in bench/README.md), or that
    hour, paired with a start there, did not win (`NOT_CONFIRMED`)"""
    from salt_fastai.train import BUDGET_ARCH, BUDGET_SIZE
    rows = [(f, r, c) for f, r, c in bench_table.lever_rows() if 'per_image' in r['figures']]
    assert rows, 'no paired lever runs (with per-image scores) on the lever split'
    last = max((r['date'], r['args'].get('tag', '')) for _, r, _ in rows)[1] # the round run most recently
    rnd = [(f, r, c) for f, r, c in rows if r['args'].get('tag', '') == last]
    start = next(r for _, r, c in rnd if c[1] == 'start')
    a = start['args']
    assert (a['arch'], a['size_ours'], a['bs_ours'], a['lr_ours'], a['recipe_ours']) == \
        (BUDGET_ARCH, BUDGET_SIZE, 32, 1e-3, 'bce-lovasz'), a
    to_confirm = bench_table._CURVE['TO_CONFIRM']
    not_confirmed = bench_table._CURVE['NOT_CONFIRMED']
    kept = [c[1] for _, _, c in rnd if c[7] == 'yes' and c[1] not in (*to_confirm, *not_confirmed)]
    assert kept == [], f'levers kept in round {last} but not in the defaults: {kept}'
    budget = ROOT/'bench'/'results'/'budget'
    for name, (start_file, lever_file) in not_confirmed.items(): # its hour on the held-out split, paired, did not win
        runs = [json.loads((budget/f).read_text()) for f in (start_file, lever_file)]
        assert {(r['args']['fold'], r['args']['seed']) for r in runs} == {bench_table.HELD_OUT}, name
        assert len({r['commit'] for r in runs}) == 1 and len({r['hardware']['cpu'] for r in runs}) == 1, name
        assert bench_table._pair_files()(budget/start_file, budget/lever_file)['low'] <= 0, name
    for name in to_confirm: # a lever waiting for confirmation was kept, in the last round
        assert any(c[1] == name and c[7] == 'yes' for _, _, c in rnd), f'{name}: not a lever kept in round {last}'


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
    for h in ('Get started', 'How good, how fast', 'Use it on your data', 'Building the docs'):
        assert re.search(rf'<h2[^>]*>\s*{h}', d), h
    assert 'pip install -e . && salt-fastai demo --out demo_run' in text
    assert 'pip install -e ".[dev]" && nbdev-test && pytest tests' in text
    assert figures(d) >= n_images(build_docs.BUILD/'docs/index.ipynb')
    screenshot(chromium, (site/'index.html').as_uri(), tmp_path/'index.png')


def test_losses_page_in_browser(site, chromium, dom, tmp_path):
    "The losses API page renders its title, the `lovasz_hinge` heading and signature, its figures; a screenshot is saved"
    page = build_docs.page_name(LOSSES_NB)
    d = dom(page)
    assert re.search(rf'<h1[^>]*>\s*{re.escape(html.escape(nb_title(LOSSES_NB), quote=False))}', d)
    assert re.search(r'<h[2-4][^>]*id="lovasz_hinge"', d), 'no lovasz_hinge heading (show_doc)'
    assert re.search(r'def lovasz_hinge\s*\(', text_of(d)), 'no lovasz_hinge signature'
    assert figures(d) >= n_images(build_docs.BUILD/'docs'/Path(page).with_suffix('.ipynb').name)
    screenshot(chromium, (site/page).as_uri(), tmp_path/'losses.png')


def test_headline_plot_in_browser(dom):
    "The index page shows the headline, as the README does: the plot under its heading, then the table's scores"
    d = dom('index.html')
    head = re.search(r'<h2[^>]*>\s*How good, how fast', d)
    assert head, 'no headline section on the index page'
    after = d[head.end():]
    img, table = re.search(r'<img\b[^>]*src="data:image/png', after), after.find('held-out score, 60 min of CPU')
    assert img and 0 < img.start() < table, 'the headline plot should come first, embedded, then the table'
    m = re.search(r'held-out score, 60 min of CPU</td>\s*<td>([0-9.]+)', after)
    o = bench_table.headline_runs()[60.]['ours'][1]
    assert m and float(m.group(1)) == round(o['figures']['crossfit_score'], 3), 'the page\'s 60-minute score'


def test_search_in_browser(site, chromium):
    "Search works from file:// with no network: a query for lovasz_hinge lists the losses page"
    dom = chromium('--virtual-time-budget=15000', '--dump-dom', (site/'index.html').as_uri() + '?q=lovasz_hinge')
    results = re.findall(r'<a href="([^"]+)" class="md-search-result__link"', dom)
    assert any(build_docs.page_name(LOSSES_NB) in r for r in results), f'search results: {results}'


def test_markdown_cells_are_short():
    "A page explains what and why in short cells; long dated tables belong in result files (bench/results/)"
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            if c['cell_type'] == 'markdown':
                n = len(''.join(c['source']))
                assert n <= 3000, f"{nb.name} cell {c.get('id')}: {n} characters of markdown (at most 3000)"


def test_code_lines_within_120():
    "Code cells wrap at 120 characters, as the exported modules and the pages show them"
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            if c['cell_type'] == 'code':
                for i, line in enumerate(''.join(c['source']).splitlines(), start=1):
                    assert len(line) <= 120, (f"{nb.name} cell {c.get('id')} line {i}: {len(line)} characters "
                                              f"(at most 120): {line[:60]}...")


def test_pages_remove_their_temporary_folders():
    """Running a page top to bottom leaves nothing in the temporary directory: each folder a page makes with
    `tempfile.mkdtemp()` is removed by a later `shutil.rmtree`, before its name is bound to another folder (the
    training page's runs alone are about 3 GB, and `nbdev-test` runs every page on each check)"""
    made = re.compile(r'^(\w+) = Path\(tempfile\.mkdtemp\(\)\)', re.M)
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        live = {} # name -> cell index of the folder it holds that is not removed yet
        for i, c in enumerate(json.loads(nb.read_text())['cells']):
            src = ''.join(c['source'])
            if c['cell_type'] != 'code' or src.startswith('#| export'): continue # the library's own names are local
            for name in list(live):
                if re.search(rf'shutil\.rmtree\({name}[,)]|for \w+ in \([^)]*\b{name}\b[^)]*\): shutil\.rmtree', src):
                    del live[name]
            for name in made.findall(src):
                assert name not in live, (f'{nb.name} cell {i}: {name} made again before the folder of cell '
                                          f'{live[name]} is removed')
                live[name] = i
        assert not live, f'{nb.name}: temporary folders never removed: {live}'
