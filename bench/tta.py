"""Test-time augmentation screened on a kept run's held-out fold: no TTA, flip TTA (the default) and flip TTA with
translation TTA of a few pixels (`predict_probs(shift=)`), each paired image by image against flip TTA, with what
each costs; and, on a CPU with native bf16, flip TTA under bf16 autocast with channels-last (`autocast=True`), to
see whether the faster arithmetic changes the score.

The models are a run that `bench/budget.py --keep RUN` kept: one fold trained by `train_fold(minutes=M)` on the lever
split. Every variant predicts the fold's held-out images with `inference.predict_folder`, as `salt-fastai predict`
does on this machine (fp32 on a CPU), in this one process; its threshold and minimum size are cross-fitted on the
held-out images as budget.py does (chosen on one half, scored on the other, the same halves for every variant), and
its per-image scores pair with flip TTA's (`bench/paired.py`'s bootstrap). The seconds are each variant's wall time
over the held-out images, with the machine alone.

    python bench/budget.py --fold 0 --minutes 60 --sides ours --tag epyc --keep /tmp/start60   # ~62 min
    python bench/tta.py /tmp/start60 --shifts 1 2 4                                            # a few minutes

Records `bench/results/tta/<name>.json` (default name: the budget run's, from the kept run's config).
"""
import argparse, json, time
from pathlib import Path

import numpy as np
import torch

from salt_fastai.core import load_image
from salt_fastai.data import find_tgs
from salt_fastai.inference import load_run, predict_folder
from salt_fastai.model import amp_dtype
from hardware import record, results_option  # bench/hardware.py
from paired import paired_bootstrap  # bench/paired.py
from quality import crossfit_scores, per_image  # bench/quality.py

ROOT = Path(__file__).resolve().parents[1]


def held_out(run:Path):
    "The kept run's fold folder, its config and its held-out ids and masks (from its out-of-fold file)"
    folds = sorted(run.glob('fold*/oof.npz'))
    if len(folds) != 1: raise SystemExit(f"{run}: expected one fold*/oof.npz (a run kept by budget.py --keep)")
    folder = folds[0].parent
    oof = np.load(folds[0])
    return folder, json.loads((folder/'config.json').read_text()), [str(i) for i in oof['ids']], oof['masks']


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('run', type=Path, help='a run folder kept by bench/budget.py --keep')
    p.add_argument('--data', type=Path, default=None, help='TGS folder (default: find_tgs(), else ../shared/tgs)')
    p.add_argument('--shifts', type=int, nargs='+', default=[1, 2, 4], help='translation TTA shifts in pixels')
    p.add_argument('--bs', type=int, default=64, help="batch size (default: predict's on a CPU, %(default)s)")
    p.add_argument('--name', default=None, help="the result file's name (default: the budget run's)")
    p.add_argument('--limit', type=int, default=None, help='first N held-out images only (smoke runs)')
    a = results_option(p).parse_args()
    a.data = find_tgs(a.data) or (ROOT.parent/'shared'/'tgs')
    folder, cfg, ids, masks = held_out(a.run)
    if a.limit: ids, masks = ids[:a.limit], masks[:a.limit]
    images = np.stack([load_image(a.data/'train'/'images'/f'{i}.png') for i in ids])
    models, metas, _ = load_run(folder/'model.pth', device='cpu')
    if any(m.get('n_in', 1) > 1 for m in metas): raise SystemExit(f"{a.run}: a run with depth channels; use n_in=1")
    variants = {'none': dict(tta=False, shift=0), 'flip': dict(tta=True, shift=0),
                **{f'flip+shift{s}': dict(tta=True, shift=s) for s in a.shifts}}
    if amp_dtype('cpu') is not None: # the same flip TTA in bf16 with channels-last, where the CPU computes bf16
        variants['flip, bf16'] = dict(tta=True, shift=0, autocast=True)
    res, flip_probs = {}, None
    for name, kw in variants.items():
        for m in models: m.to(memory_format=torch.channels_last if kw.get('autocast') else torch.contiguous_format)
        t0 = time.perf_counter()
        probs, _ = predict_folder(images, models, metas, bs=a.bs, **kw)
        seconds = time.perf_counter() - t0
        scores, chosen = crossfit_scores(probs, masks, cfg['seed'])
        if name == 'flip': flip_probs = probs
        res[name] = dict(kw, crossfit_score=float(scores.mean()), crossfit_chosen=chosen, seconds=seconds,
                         ms_per_image=1000 * seconds / len(ids), per_image=per_image(ids, scores),
                         max_diff_vs_flip=None if flip_probs is None else float(np.abs(probs - flip_probs).max()))
        print(f"{name}: {scores.mean():.4f} in {seconds:.1f} s", flush=True)
    base = np.asarray(res['flip']['per_image']['crossfit'])
    for name, r in res.items():
        if name != 'flip':
            r['vs_flip'] = paired_bootstrap(base, np.asarray(r['per_image']['crossfit']))
            r['cost_vs_flip'] = r['seconds'] / res['flip']['seconds']
            print(f"{name} - flip: {r['vs_flip']['mean_diff']:+.4f} [{r['vs_flip']['low']:+.4f}, "
                  f"{r['vs_flip']['high']:+.4f}], {r['cost_vs_flip']:.2f}x the time", flush=True)
    name = a.name or f"fold{cfg['fold']}_seed{cfg['seed']}_{a.run.name}" + (f'_limit{a.limit}' if a.limit else '')
    args = dict(run=a.run.name, data=a.data.name, shifts=a.shifts, bs=a.bs, limit=a.limit,
                threads=torch.get_num_threads(),
                run_config={k: cfg.get(k) for k in ('fold', 'seed', 'arch', 'size', 'recipe', 'n_train', 'n_valid',
                                                    'stages', 'aug', 'opt')})
    record('tta', args, dict(n_images=len(ids), variants=res), run=name, results=a.results)


if __name__ == '__main__':
    main()
