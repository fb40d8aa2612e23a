"""Held-out TGS score against a wall-clock budget: `train_fold(minutes=M)` (what `salt-fastai train --minutes M`
runs) against a plain smp U-Net given the same M minutes, both in this one process, on a fold that chose nothing.

- **ours**: `train_fold(path, fold, minutes=M, pretrained=False, seed=S)`, what `train --minutes` runs by default
  (resnet34, batch 32, 101×101 unpadded, recipe 'bce-lovasz', bf16 autocast where the CPU has it natively). Its
  `TimeBudget` fits the epochs and stages to the budget as it runs; its wall time covers data loading, model
  building, training, the flip-TTA out-of-fold pass and the threshold search.
- **baseline**: `bench/quality.py`'s plain smp U-Net loop (resnet34 from scratch, BCE+Dice, fused Adam one-cycle,
  horizontal flips, the same CPU speed-ups as ours), with the most epochs that fit M minutes by a calibration epoch
  run before it (not counted), as its users would choose them.

Both report, on the held-out fold, the best epoch's score at threshold 0.5 without TTA, with flip TTA, and with
flip TTA and threshold/minimum size cross-fitted on the held-out fold (chosen on one half, scored on the other).
The cross-fitted score is the honest estimate of `salt-fastai predict` on unseen images.

    python bench/budget.py --minutes 10                     # both sides, ~22 min
    python bench/budget.py --minutes 60 --sides ours        # the one-hour CPU recipe
    python bench/budget.py --minutes 1 --limit 300 --results /tmp/r   # a smoke run

Records `bench/results/budget/fold{F}_seed{S}_{M}min_{side}.json` per side (committed; the training page plots
them and the README quotes them). The recipe defaults were chosen on fold 4 of seeds 42, 0 and 1; the default
split here, fold 1 of seed 11, chose nothing.
"""
import argparse, inspect, json, os, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

from salt_fastai.data import AUG_PRESETS, find_tgs, read_tgs, salt_aug_transforms
from salt_fastai.train import BUDGET_ARCH, PSEUDO_MAX_UNCERTAIN
from hardware import hardware_info, record, results_option  # bench/hardware.py (scripts run as `python bench/NAME.py`)
from quality import (BS, CHOSEN_ON, calibrate, crossfit_scores, per_image, run_baseline, seed_everything,
                     select)  # bench/quality.py

ROOT = Path(__file__).resolve().parents[1]
MAX_ZOOM = inspect.signature(salt_aug_transforms).parameters['max_zoom'].default


def run_ours(path, fold, seed, minutes, limit, arch, keep=None, **kw):
    "`train_fold` with a time budget; its held-out scores and what its budget chose (its run folder kept in `keep`)"
    from salt_fastai.train import train_fold
    preset = kw.pop('aug', None)  # a name in data.AUG_PRESETS, or None: train_fold's default
    if (zoom := kw.pop('max_zoom', MAX_ZOOM)) != MAX_ZOOM: kw['aug'] = {**AUG_PRESETS[preset or 'light'], 'max_zoom': zoom}
    elif preset is not None: kw['aug'] = preset
    if kw.get('opt') is None: kw.pop('opt', None)  # train_fold's default
    if kw.get('snapshots') is None: kw.pop('snapshots', None)
    if kw.pop('no_maxpool', False): kw['maxpool'] = False
    if not kw.get('deep_supervision'): kw.pop('deep_supervision', None) # a model option: in the config only when set
    seed_everything(seed)
    with tempfile.TemporaryDirectory(prefix='salt_budget_') as tmp:
        out = keep or tmp
        t0 = time.time()
        r = train_fold(path, fold=fold, arch=arch, minutes=minutes, started=t0, pretrained=False, seed=seed,
                       limit=limit, out=out, quiet=True, resume=False, **kw)
        wall = time.time() - t0
        oof = np.load(Path(out)/f'fold{fold}'/'oof.npz')
        cf_scores, cf_chosen = crossfit_scores(oof['probs'].astype(np.float32), oof['masks'], seed)
    return dict(score=r['score'], tta_score=r['tta_score'], crossfit_score=float(cf_scores.mean()),
                crossfit_chosen=cf_chosen, per_image=per_image(oof['ids'], cf_scores),
                tuned_score=r['tuned_score'], epochs=r['epochs'], stages=r['stages'], epoch_seconds=r['epoch_seconds'],
                n_pseudo=r['n_pseudo'],
                wall=wall, budget_s=minutes * 60, n_train=r['n_train'], n_valid=r['n_valid'], amp=r['amp'], settings=kw)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, default=None, help='TGS folder (default: find_tgs(), else ../shared/tgs)')
    p.add_argument('--fold', type=int, default=1, help='held-out fold (fold 4 of seeds 42, 0, 1 chose the recipe, '
                   'fold 0 of seed 11 the levers of --minutes)')
    p.add_argument('--seed', type=int, default=11, help="seed of the fold assignment and of both sides' training")
    p.add_argument('--minutes', type=float, default=10., help='wall-clock budget of each side')
    p.add_argument('--sides', nargs='+', choices=['ours', 'baseline'], default=['ours', 'baseline'])
    p.add_argument('--arch', default=BUDGET_ARCH,
                   help="our encoder (default: train --minutes's, %(default)s; the baseline is resnet34)")
    p.add_argument('--bs-ours', type=int, default=32, help='our batch size (default: the CLI\'s, %(default)s)')
    p.add_argument('--size-ours', type=int, default=101,
                   help="our padded side (default: train --minutes's, %(default)s, chosen on fold 0 of seed 11)")
    p.add_argument('--lr-ours', type=float, default=1e-3, help='our learning rate (default: the CLI\'s, %(default)s)')
    p.add_argument('--recipe-ours', default='bce-lovasz', help="our recipe's name (default: the CLI's, %(default)s)")
    p.add_argument('--scse-ours', action='store_true', help="scSE attention in our decoder (the CLI's --scse)")
    p.add_argument('--empty-head-ours', action='store_true',
                   help="our empty-image head, trained as an auxiliary loss only (the CLI's --empty-head)")
    p.add_argument('--max-zoom-ours', type=float, default=MAX_ZOOM,
                   help="our augmentations' largest zoom (default: salt_aug_transforms', %(default)s)")
    p.add_argument('--aug-ours', default=None, choices=['light', 'strong'],
                   help="our augmentation preset (data.AUG_PRESETS; default: the CLI's, light)")
    p.add_argument('--snapshots-ours', type=int, default=None,
                   help="our last stage in this many cosine cycles, their ends averaged (the CLI's --snapshots)")
    p.add_argument('--opt-ours', default=None, choices=['adam', 'sgd'],
                   help="our optimizer (model.OPTIMIZERS; default: the CLI's, adam); sgd wants its own --lr-ours")
    p.add_argument('--wd-ours', type=float, default=None,
                   help="our decoupled weight decay (default: the optimizer's, 0.01)")
    p.add_argument('--no-maxpool-ours', action='store_true',
                   help="drop our ResNet encoder's max-pool after the stem (the CLI's --no-maxpool)")
    p.add_argument('--deep-supervision-ours', action='store_true',
                   help="a BCE on each of our decoder stages' own logits, fading out (the CLI's --deep-supervision)")
    p.add_argument('--ema-ours', type=float, default=None,
                   help="validate and keep a moving average of our weights with this decay (the CLI's --ema)")
    p.add_argument('--train-seed-ours', type=int, default=None,
                   help="seed of our weights and batches, when it should differ from --seed's split (another run "
                   "of the same settings, to measure the noise between runs)")
    p.add_argument('--pseudo-uncertain-ours', type=float, default=PSEUDO_MAX_UNCERTAIN,
                   help="with a pseudo-label recipe: the largest part of a test image's pixels with 0.2 < p < 0.8 "
                   "(default: %(default)s)")
    p.add_argument('--limit', type=int, default=None, help='first N ids only (smoke runs)')
    p.add_argument('--keep', type=Path, default=None, help="keep our run folder there (a new folder), so that "
                   "inference-only levers (TTA) can be screened on the same models")
    p.add_argument('--tag', default='', help="appended to the result files' names: runs on another CPU keep "
                   "their own files (e.g. --tag xeon)")
    a = results_option(p).parse_args()
    a.data = find_tgs(a.data) or (ROOT.parent/'shared'/'tgs')
    if not (a.data/'train.csv').exists():
        raise SystemExit(f'--data {a.data}: no train.csv; expected the TGS competition layout (see salt_fastai.data)')
    if a.minutes <= 0: raise SystemExit(f'--minutes must be positive, got {a.minutes}')
    if a.keep and a.keep.exists(): raise SystemExit(f'--keep {a.keep}: exists; give a new folder')
    budget = a.minutes * 60
    df_all = read_tgs(a.data, seed=a.seed)
    df, tr, va = select(df_all, a.fold, a.limit)
    from salt_fastai.train import amp_dtype
    amp = amp_dtype('cpu') is not None
    args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items() if k not in ('results', 'sides')}
    args['data'] = a.data.name
    ours = dict(bs=a.bs_ours, size=a.size_ours, lr=a.lr_ours, recipe=a.recipe_ours, scse=a.scse_ours,
                empty_head=a.empty_head_ours, wd=a.wd_ours, max_zoom=a.max_zoom_ours,
                pseudo_uncertain=a.pseudo_uncertain_ours, no_maxpool=a.no_maxpool_ours, ema=a.ema_ours,
                deep_supervision=a.deep_supervision_ours,
                train_seed=a.train_seed_ours, aug=a.aug_ours, opt=a.opt_ours, snapshots=a.snapshots_ours)
    lever = ''.join(f'_{k}' if isinstance(v, bool) else f'_{k}{v:g}' if isinstance(v, float) else f'_{k}{v}'
                    for k, v in ours.items() if v != p.get_default(f'{k}_ours')) # a lever's own file
    if a.arch != 'resnet34': lever = f'_{a.arch}{lever}' # the baseline's encoder: its runs came first
    name = f'fold{a.fold}_seed{a.seed}_{a.minutes:g}min' + (f'_limit{a.limit}' if a.limit else '')
    if a.tag: name += f'_{a.tag}'
    runs = {side: f'{name}_{side}' + (lever if side == 'ours' else '') for side in a.sides}
    cpu = hardware_info()['cpu']
    for side, run in runs.items(): # a run on another CPU never replaces a figure measured on this one's files
        old = a.results/'budget'/f'{run}.json'
        if old.exists() and (was := json.loads(old.read_text())['hardware']['cpu']) != cpu:
            raise SystemExit(f'{old}: measured on {was}, this machine is {cpu}; give --tag to keep both results')
    for side in a.sides:
        load0 = os.getloadavg()[0]
        print(f'{side}: {a.minutes:g} min on {len(tr)} training / {len(va)} held-out ids (fold {a.fold}, seed {a.seed})',
              flush=True)
        if side == 'ours':
            r = run_ours(a.data, a.fold, a.seed, a.minutes, a.limit, a.arch, keep=a.keep, **ours)
        else:
            run = lambda d, t, v, ep, lim, log=print: run_baseline(a.data, d, t, v, ep, 1e-3, amp, True, a.seed, log=log)
            epochs, cal = calibrate('baseline', run, df_all, a.fold, a.limit, budget)
            r = run(df, tr, va, epochs, a.limit)
            r.update(epochs=epochs, calibration=cal, budget_s=budget, n_train=len(tr), n_valid=len(va),
                     amp='bfloat16' if amp else 'fp32')
            r.pop('epoch_times', None)
        r.update(side=side, load_average_before=load0, chose_defaults=(a.fold, a.seed) in CHOSEN_ON)
        print({k: v for k, v in r.items() if k != 'crossfit_chosen'}, flush=True)
        record('budget', {**args, 'side': side}, r, run=runs[side], results=a.results)


if __name__ == '__main__':
    main()
