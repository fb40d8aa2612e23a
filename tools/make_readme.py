#!/usr/bin/env python
"""Generate `README.md` from `nbs/index.ipynb` without Quarto (what `nbdev-readme` makes with Quarto).

    python tools/make_readme.py           # write README.md (and index_files/ for figures) and bench/README.md's tables
    python tools/make_readme.py --check   # exit 1 if either is not what the notebook and the result files generate

The notebook goes through nbdev's doc processors (title cell to frontmatter, hidden and exported cells and nbdev
directives removed, backticked names linked to the docs), then nbconvert's markdown exporter. Links to notebooks
point at their pages on the hosted docs, as `nbdev-readme` does. Figures in outputs are written to `index_files/`
and referenced from the README. The marker line `<!-- bench-table -->` of the notebook becomes the headline table
that `tools/bench_table.py` generates from the result files under `bench/results/` (links relative to the README),
and the part of `bench/README.md` between its two marker lines becomes that script's tables of every result file.
"""
from __future__ import annotations

import argparse, re, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_docs import ROOT, WARNING_MD, in_root, to_page  # noqa: E402
import bench_table  # noqa: E402

FILES_DIR = 'index_files'


def render_readme(nb_path:Path|None=None) -> tuple[str, dict[str, bytes]]:
    "README text generated from `nb_path` (default: the config's `readme_nb`), and the figure files it refers to"
    with in_root(): return _render(nb_path)


def _render(nb_path):
    import nbformat
    from fastcore.nbio import read_nb
    from nbconvert import MarkdownExporter
    from nbdev.config import get_config
    from nbdev.processors import FilterDefaults
    cfg = get_config()
    nb_path = Path(nb_path or Path(cfg.nbs_path)/cfg.readme_nb).resolve()
    src = nb_path.relative_to(ROOT).as_posix() if ROOT in nb_path.parents else nb_path.name
    nb = read_nb(nb_path)
    FilterDefaults()(nb)
    doc_url = str(cfg.get('doc_url') or '')
    page, title = to_page(nbformat.from_dict(nb), link_base=doc_url)
    if not title: raise ValueError(f'{nb_path}: expected a first markdown cell with an H1 title (`# Title`)')
    cells = page['cells']
    for c in cells:  # after nbdev's processing, which would link the table's backticked names
        if c['cell_type'] == 'markdown' and bench_table.MARKER in c['source']:
            c['source'] = bench_table.fill(c['source'], root=ROOT)
    # keep the title cell first, then nbdev's warning that the file is generated, as `nbdev-readme` does
    cells.insert(1, {'cell_type': 'markdown', 'id': 'readme-warning', 'metadata': {}, 'source': WARNING_MD[:-4].rstrip() +
                     f' Edit {src} and run `python tools/make_readme.py`. -->'})
    for c in cells:
        for o in c.get('outputs', []):
            if 'text/html' in o.get('data', {}):  # GitHub drops <style>: keep the table, not its CSS as text
                h = o['data']['text/html']
                o['data']['text/html'] = re.sub(r'<style[^>]*>.*?</style>\s*', '', ''.join(h) if isinstance(h, list) else h, flags=re.S)
    ex = MarkdownExporter(config={
        'TagRemovePreprocessor': {'enabled': True, 'remove_input_tags': {'remove_input'}},
        'ExtractOutputPreprocessor': {'enabled': True, 'output_filename_template': 'cell-{cell_index}-output-{index}{extension}'},
        'MarkdownExporter': {'exclude_input_prompt': True, 'exclude_output_prompt': True},
    })
    body, res = ex.from_notebook_node(nbformat.from_dict(page), resources={'output_files_dir': FILES_DIR})
    body = re.sub(r'\n{3,}', '\n\n', '\n'.join(l.rstrip() for l in body.splitlines())).strip() + '\n'
    return body, {k: v for k, v in res.get('outputs', {}).items()}


def write_readme(text:str, files:dict[str, bytes], root:Path=ROOT):
    "Write README.md and its figures under `root`, removing figures it no longer refers to"
    d = root/FILES_DIR
    if d.exists():
        for f in d.rglob('*'):
            if f.is_file() and f.relative_to(root).as_posix() not in files: f.unlink()
    for name, data in files.items():
        (root/name).parent.mkdir(parents=True, exist_ok=True)
        (root/name).write_bytes(data)
    (root/'README.md').write_text(text, encoding='utf-8')


BENCH_README = Path('bench')/'README.md'


def render_bench_readme(root:Path=ROOT) -> str:
    "bench/README.md under `root` with its generated part rebuilt from `root`/bench/results (links relative to it)"
    f = root/BENCH_README
    return bench_table.fill_between(f.read_text(encoding='utf-8'),
                                    bench_table.all_tables(root/'bench'/'results', root=root/'bench'), str(f))


def readme_drift(root:Path=ROOT) -> list[str]:
    "What differs between README.md (and its figures) in `root` and what the notebook generates; empty when in sync"
    text, files = render_readme()
    readme = root/'README.md'
    res = []
    if not readme.exists(): res.append('README.md is missing')
    elif readme.read_text(encoding='utf-8') != text:
        import difflib
        diff = difflib.unified_diff(readme.read_text(encoding='utf-8').splitlines(), text.splitlines(),
                                    'README.md', 'generated from the notebook', lineterm='', n=1)
        res.append('README.md differs from the notebook:\n' + '\n'.join(list(diff)[:40]))
    for name, data in files.items():
        if not (root/name).exists() or (root/name).read_bytes() != data: res.append(f'{name} is missing or differs')
    if render_bench_readme(root) != (root/BENCH_README).read_text(encoding='utf-8'):
        res.append(f'{BENCH_README} differs from what bench/results generate')
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--check', action='store_true', help='only check that README.md is up to date')
    a = ap.parse_args(argv)
    if a.check:
        drift = readme_drift()
        for d in drift: print(d, file=sys.stderr)
        if drift: sys.exit('README.md is out of date: run `python tools/make_readme.py`')
        return print('README.md is up to date')
    text, files = render_readme()
    write_readme(text, files)
    (ROOT/BENCH_README).write_text(render_bench_readme(), encoding='utf-8')
    print(f'wrote README.md' + (f' and {len(files)} figure(s) in {FILES_DIR}/' if files else '') + f', {BENCH_README}')


if __name__ == '__main__': main()
