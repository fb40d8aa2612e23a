#!/usr/bin/env python
"""The README's benchmark table, generated from the result files the benchmarks write (`bench/results/`).

    python tools/bench_table.py           # print the table
    python tools/make_readme.py           # put it in README.md, in place of the marker line of nbs/index.ipynb

Each row comes from one result file (`bench/hardware.record`: date, commit, hardware, torch, arguments, figures),
names the hardware it ran on and links to the file; a benchmark without a result file has no row. Quality and
budget rows come from `bench/results/quality/*.json` and `bench/results/budget/*.json`, only runs on a split that
chose none of the defaults (`chose_defaults` false, and not `LEVER_SPLIT`: its levers are on the training page) and
on all the data (no `--limit`); GPU rows from `bench/results/gpu_recipe/*.json` runs that had a GPU.
Only json and pathlib: `tools/make_readme.py`, `tools/build_docs.py` and the tests import it cheaply.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT/'bench'/'results'
MARKER = '<!-- bench-table -->'
HEADER = ['benchmark', 'ours', 'against', 'result', 'target', 'hardware', 'run (result file)']


def load(path:Path) -> dict:
    "A result file as a dict"
    return json.loads(Path(path).read_text(encoding='utf-8'))


def hardware_cell(res:dict) -> str:
    "CPU model, cores, native bf16 (and AMX tiles) or not (AVX2 only), GPU where one ran, and the load average when the run ended"
    h = res.get('hardware') or {}
    flags = h.get('cpu_flags') or []
    if h.get('cpu_native_bf16'): kind = 'native bf16' + (' and AMX' if 'amx_bf16' in flags else '')
    elif 'avx512f' in flags: kind = 'AVX512, no native bf16'
    elif 'avx2' in flags: kind = 'AVX2 only, no native bf16'
    else: kind = 'no native bf16'
    s = f"{h.get('cpu', 'unknown CPU')}, {h.get('cores', '?')} cores, {kind}"
    if h.get('gpu'): s = f"GPU {h['gpu']}; host {s}"
    load = h.get('load_average')
    if load: s += f'; load {load[0]:.1f}'
    return s


def run_cell(res:dict, path:Path, root:Path, link_base:str='') -> str:
    "Date and commit of the run, linked to its result file"
    rel = Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    commit = str(res.get('commit', 'unknown'))
    sha, dirty = commit.split('+')[0], '+dirty' if commit.endswith('+dirty') else ''
    return f"[{str(res.get('date', '?')).split(' ')[0]}, {sha[:7]}{dirty}]({link_base}{rel})"


def _n(n:int, word:str) -> str: return f"{n} {word}{'' if n == 1 else 's'}"


def _x(v:float) -> str: return f'{v:.1f}×' if v < 10 else f'{v:.0f}×'


def row_losses(r):
    f, a = r['figures'], r['args']
    runs = [x for x in f['runs'] if x['device'] == 'cpu']
    res = ', '.join(f"{_x(x['speedup'])} faster ({x['threads']} thread{'s' if x['threads'] > 1 else ''}: "
                    f"{x['loop_ms']:.0f} vs {x['batched_ms']:.0f} ms)" for x in runs)
    res += ''.join(f"; {x['hardware']}: {_x(x['speedup'])}" for x in f['runs'] if x['device'] != 'cpu')
    return [f"per-image `lovasz_hinge`, forward+backward, {a['bs']}×{a['size']}×{a['size']}", 'one batched sort',
            'a Python loop over images', res, f"≥ {runs[0]['target']:g}×" if runs else '']


def row_metrics(r):
    f = r['figures']
    return [f"`tgs_score` on {f['masks']}", 'vectorised over images and thresholds', 'a per-image `histogram2d` loop',
            f"{_x(f['speedup'])} faster ({f['loop_ms']:.0f} vs {f['tgs_score_ms']:.1f} ms)", f"≥ {f['target']:g}×"]


def row_model(r):
    f, a = r['figures'], r['args']
    n = f['n_params']
    names = {'fp32': 'fp32', 'bf16': 'bf16 autocast + channels-last'}
    res = '; '.join(f"{m['ratio']:.2f}× ({names.get(m['mode'], m['mode'])}: {m['img_per_s']['SaltUnet']:.2f} vs "
                    f"{m['img_per_s']['smp Unet']:.2f} img/s)" for m in f['modes'])
    return [f"training throughput, Inception-ResNet-v2 U-Net, batch {a['bs']} at {a['size']}×{a['size']}, "
            f"{_n(a['threads'], 'torch thread')}",
            f"`SaltUnet` ({n['SaltUnet']/1e6:.1f}M parameters)",
            f"smp `Unet('inceptionresnetv2')` ({n['smp Unet']/1e6:.1f}M parameters)", res,
            f"≥ {f['modes'][0]['target']:g}×" if f['modes'] else '']


def row_optim(r):
    f = r['figures']
    rows = {x['optimizer']: x for x in f['rows']}
    ours, ref = rows['fused_adam'], rows['fastai Adam']
    return [f"one optimizer step, {f['arch']} `SaltUnet` ({f['n_tensors']} tensors, {f['n_params']/1e6:.2f}M parameters), "
            f"{_n(r['args']['threads'], 'torch thread')}",
            "`fused_adam` (PyTorch's fused AdamW)", "fastai's `Adam`",
            f"{_x(ours['speedup'])} faster ({ours['ms_per_step']:.1f} vs {ref['ms_per_step']:.1f} ms)", '']


def row_amp(r):
    f, a = r['figures'], r['args']
    d, p = f['defaults'], f['fp32']
    ours = f"`train_fold`'s defaults: {d['amp']} autocast + channels-last" if d['amp'] != 'fp32' else \
        "`train_fold`'s defaults: fp32 (no native bf16) + channels-last"
    runs = f", {a['rounds']} runs per side" if a.get('rounds', 1) > 1 else ''
    return [f"one {a['arch']} fold on {d['n_train'] + d['n_valid']} synthetic images, {a['epochs']} epochs{runs}", ours,
            'fp32, contiguous memory',
            f"{f['speedup']:.2f}× faster per epoch ({d['seconds_per_epoch']:.1f} vs {p['seconds_per_epoch']:.1f} s)", '']


def row_onnx(r):
    f, a = r['figures'], r['args']
    sp = f['speed']
    t, o, q = (sp[k]['img_per_s'] for k in ('pytorch fp32', 'onnxruntime fp32', 'onnxruntime int8'))
    res = (f"fp32: {f['speedup_ort_fp32']:.2f}× PyTorch's speed ({o:.1f} vs {t:.1f} img/s); "
           f"int8: {f['speedup_ort_int8']:.2f}× PyTorch's speed ({q:.1f} img/s)")
    qual = f.get('quality')
    if qual:
        s = qual['sides']
        res += (f"; held-out score (no TTA, {qual['n_valid']} images, threshold 0.5) fp32 "
                f"{s['onnxruntime fp32']['score_05']:.3f}, int8 {s['onnxruntime int8']['score_05']:.3f} "
                f"({qual['delta_int8_05']:+.3f})")
    return [f"CPU inference, {f['arch']} `SaltUnet` at {f['size']}×{f['size']} (exported graph, no TTA), "
            f"batch {a['bs']}, "
            f"{f['n_images']} real test images, {_n(a['threads'], 'thread')}",
            f"onnxruntime {f['onnxruntime']} (`salt-fastai export`), fp32 and dynamic int8",
            'PyTorch fp32 (`inference_mode`)',
            res, '']


def row_quality(r):
    f, a = r['figures'], r['args']
    o, b = f['ours'], f['baseline']
    res = (f"threshold 0.5, no TTA: {o['score']:.3f} vs {b['score']:.3f} ({f['delta']:+.3f}); "
           f"flip TTA: {o['tta_score']:.3f} vs {b['tta_score']:.3f} ({f['delta_tta']:+.3f}); "
           f"flip TTA + cross-fitted post-processing: {o['crossfit_score']:.3f} vs {b['crossfit_score']:.3f} "
           f"({f['delta_crossfit']:+.3f})")
    return [f"held-out TGS score after {a['minutes']:g} min of CPU training per side, resnet34 from scratch, "
            f"real data ({f['n_train']} training / {f['n_valid']} held-out ids: fold {a['fold']}, split seed {a['seed']})",
            f"`train_fold` at {a.get('size_ours', 101)}×{a.get('size_ours', 101)}: {_n(o['epochs'], 'epoch')} in {o['wall']:.0f} s",
            f"smp `Unet` at 128×128, BCE+Dice: {_n(b['epochs'], 'epoch')} in {b['wall']:.0f} s", res,
            f"≥ +{f['target']:g} at 0.5 without TTA ({'met' if f['target_met'] else 'not met'})"]


def row_gpu_recipe(r):
    f, a = r['figures'], r['args']
    res = f"{f['mean_epoch_s']:.1f} s per epoch; held-out score {f['score']:.3f}"
    if f.get('tta_score') is not None: res += f" ({f['tta_score']:.3f} with flip TTA)"
    return [f"one fold of the full recipe on a GPU ({a['arch']}{'' if a.get('no_scse') else ', scSE'}, batch {a['bs']}, "
            f"{_n(f['epochs'], 'epoch')} fitted to {a['minutes']:g} min, from scratch)", '`train_fold`', '', res, '']


def row_budget(r):
    f, a = r['figures'], r['args']
    what = (f"held-out TGS score after a {a['minutes']:g}-min CPU budget, from scratch, real data "
            f"({f['n_train']} training / {f['n_valid']} held-out ids: fold {a['fold']}, split seed {a['seed']})")
    res = (f"threshold 0.5, no TTA: {f['score']:.3f}; flip TTA: {f['tta_score']:.3f}; flip TTA + cross-fitted "
           f"post-processing: {f['crossfit_score']:.3f}")
    if f['side'] == 'ours':
        stages = ' + '.join(f"{e} {loss}" for loss, e, _ in f['stages'])
        return [what, f"`train --arch {a.get('arch', 'resnet34')} --minutes {a['minutes']:g}{' --scse' if a.get('scse_ours') else ''}` (batch {a['bs_ours']}, "
                f"{a['size_ours']}×{a['size_ours']}): "
                f"{stages} epochs, whole fold in {f['wall']:.0f} s", '', res,
                (f"≥ 0.78 cross-fitted in 60 min ({'met' if f['crossfit_score'] >= 0.78 else 'not met'})"
                 if a['minutes'] >= 60 else '')]
    return [what, '', f"smp `Unet` resnet34, BCE+Dice: {_n(f['epochs'], 'epoch')} (calibrated) in {f['wall']:.0f} s", res, '']


def row_compile(r):
    f, a = r['figures'], r['args']
    st, ep = f['step_s'], f['epochs_in_budget']
    return [f"one training step of the `--minutes` model ({f['arch']} `SaltUnet`, batch {a['bs']} at {a['size']}×{a['size']}, "
            f"{f['amp']}), and the epochs a {a['budget']:g}-min budget fits", '`torch.compile` (inductor)', 'eager',
            f"{f['speedup']:.2f}× per step ({st['compiled']:.3f} vs {st['eager']:.3f} s) after {f['compile_s']:.0f} s of "
            f"compiling{'' if a.get('warm_cache') else ' (cold cache)'}: {ep['compiled']:.1f} vs {ep['eager']:.1f} epochs in {a['budget']:g} min", '']


def row_same_result(r):
    f, a = r['figures'], r['args']
    b, o = f['before'], f['after']
    same = 'identical' if f['all_identical'] else 'DIFFERENT: ' + ', '.join(k for k, v in f['identical'].items() if not v)
    return [f"a seeded resnet34 fold ({a['epochs']} epochs on the first {a['limit']} real ids) before and after a "
            f"refactor", f"after ({o['commit'][:7]}): score {o['score']:.4f}, {o['n_params']:,} parameters",
            f"before ({b['commit'][:7]}): score {b['score']:.4f}, {b['n_params']:,} parameters",
            f"{same} (scores, per-epoch scores and losses, parameter count)", 'identical']


LEVER_SPLIT = (0, 11) # (fold, seed) on which `bench/budget.py`'s levers chose what `--minutes` does


def _quality_ok(r) -> bool:
    a = r['args']
    return (r['figures'].get('chose_defaults') is False and not a.get('limit')
            and (a.get('fold'), a.get('seed')) != LEVER_SPLIT)


def _gpu_ok(r) -> bool: return bool((r.get('hardware') or {}).get('gpu')) and not r['args'].get('limit')


# (what, file or folder under the results folder, row function, which files of a folder count)
ROWS = [('losses', 'losses.json', row_losses, None), ('metrics', 'metrics.json', row_metrics, None),
        ('model', 'model.json', row_model, None), ('optim', 'optim.json', row_optim, None),
        ('amp', 'amp.json', row_amp, None), ('onnx', 'onnx.json', row_onnx, None),
        ('quality', 'quality', row_quality, _quality_ok), ('budget', 'budget', row_budget, _quality_ok),
        ('compile', 'compile.json', row_compile, None), ('same_result', 'same_result.json', row_same_result, None),
        ('gpu_recipe', 'gpu_recipe', row_gpu_recipe, _gpu_ok)]


def table_rows(results:Path=RESULTS, root:Path=ROOT, link_base:str='') -> list[tuple[Path, list[str]]]:
    "The rows of the table, each with the result file it comes from, in the order of `ROWS`"
    results = Path(results)
    out = []
    for _, name, fn, ok in ROWS:
        p = results/name
        files = sorted(p.glob('*.json')) if ok else ([p] if p.is_file() else [])
        for f in files:
            r = load(f)
            if ok and not ok(r): continue
            out.append((f, fn(r) + [hardware_cell(r), run_cell(r, f, root, link_base)]))
    return out


def bench_table(results:Path=RESULTS, root:Path=ROOT, link_base:str='') -> str:
    """The markdown table of every result file under `results`; links are `link_base` + the file's path from `root`
    (relative, for the README; the repository's URL for the docs site)"""
    lines = ['| ' + ' | '.join(HEADER) + ' |', '|' + '---|' * len(HEADER)]
    lines += ['| ' + ' | '.join(c.replace('|', '/') for c in cells) + ' |' for _, cells in table_rows(results, root, link_base)]
    return '\n'.join(lines)


def fill(md:str, results:Path=RESULTS, root:Path=ROOT, link_base:str='') -> str:
    "Markdown `md` with the line `MARKER` replaced by the table"
    if MARKER not in md: return md
    return '\n'.join(bench_table(results, root, link_base) if l.strip() == MARKER else l for l in md.split('\n'))


if __name__ == '__main__': print(bench_table())
