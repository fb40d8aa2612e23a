"""Time per epoch and held-out score of the full recipe (`train_fold`'s defaults: Inception-ResNet-v2 U-Net with
scSE, BCE+Lovasz then Lovasz, one-cycle, batch 32 at 128x128, bf16 autocast + channels_last) on one fold of the real
data, within a wall-clock budget, on a GPU.

The recipe of the 06_train page is 5 folds x 40 epochs; a lent GPU gives a session about 15 minutes, so this script
trains one fold and fits the epoch count to `--minutes`: a 1-epoch calibration run of the same recipe on all ids
(its first epoch includes CUDA's warm-up, so the estimate errs on the short side) gives the time per epoch and the
one-off cost (data, model, flip-TTA out-of-fold predictions), then `min(--max-epochs, what fits)` epochs are trained
with `train_fold(resume=False)`. The encoder starts from scratch (the machine cannot download ImageNet weights).

    python bench/gpu_recipe.py --data PATH --minutes 6 --out DIR   # on a GPU machine
    python bench/gpu_recipe.py --arch resnet18 --limit 200 --minutes 0.5 --bs 16  # a smoke run (CPU too)

Writes to `--out`: `gpu_recipe.md` (a markdown table with the hardware), `result.json`, `history.csv` (fastai's
per-epoch log), `epochs.csv` (the wall time of every epoch) and `oof.npz` (the flip-TTA held-out probabilities of
the best epoch, for figures). The figures of the table are recorded, one file per run, in
`bench/results/gpu_recipe/<arch>_fold<N>_<minutes>min_<date>.json` (`--results` for another folder): the README's
benchmark table shows the runs that had a GPU.
"""
import argparse, datetime, json, platform, shutil, tempfile, time
from pathlib import Path

import torch

from hardware import cpu_name, record, results_option  # bench/hardware.py (scripts run as `python bench/NAME.py`)
from epochs import epoch_log  # bench/epochs.py

ROOT = Path(__file__).resolve().parents[1]


def hardware(device):
    from salt_fastai.train import amp_dtype
    dt = amp_dtype(device)
    if device.type == 'cuda':
        p = torch.cuda.get_device_properties(device)
        dev = f'{p.name} ({p.total_memory/2**30:.0f} GiB, {p.multi_processor_count} SMs), CUDA {torch.version.cuda}'
    else: dev = f'CPU (torch capability {torch.backends.cpu.get_cpu_capability()})'
    return (f'{dev}; host {cpu_name()}, {torch.get_num_threads()} torch threads; autocast {dt}; '
            f'torch {torch.__version__}, Python {platform.python_version()}')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, default=None, help='TGS folder (default: salt_fastai.data.find_tgs())')
    p.add_argument('--fold', type=int, default=0, help='held-out fold (0..4)')
    p.add_argument('--minutes', type=float, default=6., help='wall-clock budget of the recipe run (calibration not counted)')
    p.add_argument('--max-epochs', type=int, default=40, help="the recipe's epoch count, an upper bound")
    p.add_argument('--arch', default='inception_resnet_v2')
    p.add_argument('--bs', type=int, default=32)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--limit', type=int, default=None, help='use only the first N ids (smoke runs)')
    p.add_argument('--no-scse', action='store_true', help='leave out scSE attention (on in the recipe)')
    p.add_argument('--out', type=Path, default=ROOT/'bench'/'out'/'gpu_recipe')
    results_option(p)
    a = p.parse_args()

    from salt_fastai.data import find_tgs
    from salt_fastai.train import amp_dtype, train_fold
    a.data = find_tgs(a.data)
    if a.data is None or not (a.data/'train.csv').exists():
        raise SystemExit(f'--data {a.data}: no train.csv; expected the TGS competition layout (see salt_fastai.data)')
    if a.minutes <= 0: raise SystemExit(f'--minutes must be positive, got {a.minutes}')
    a.out.mkdir(parents=True, exist_ok=True)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    hw = hardware(device)
    print(hw, flush=True)
    kw = dict(fold=a.fold, arch=a.arch, bs=a.bs, lr=a.lr, limit=a.limit, scse=not a.no_scse, resume=False, quiet=True)

    with tempfile.TemporaryDirectory(prefix='salt_gpu_calib_') as tmp:  # calibration: 1 epoch of the recipe
        cal = epoch_log(log=lambda *x: None)
        t0 = time.perf_counter(); train_fold(a.data, epochs=1, out=tmp, cbs=cal, **kw); total = time.perf_counter() - t0
    per_epoch = cal.rows[0]['seconds']; fixed = max(total - per_epoch, 0.)
    budget = a.minutes * 60
    epochs = max(1, min(a.max_epochs, int((budget - fixed) // per_epoch)))
    print(f'calibration: 1 epoch {per_epoch:.1f} s + {fixed:.1f} s one-off; training {epochs} epoch(s) '
          f'(budget {budget:.0f} s, recipe {a.max_epochs})', flush=True)

    run = a.out/'run'
    if run.exists(): shutil.rmtree(run)  # our own scratch folder under --out
    log = epoch_log(); t0 = time.perf_counter()
    r = train_fold(a.data, epochs=epochs, out=run, cbs=log, **kw)
    wall = time.perf_counter() - t0
    folder = run/f'fold{a.fold}'
    for f in ('history.csv', 'oof.npz', 'result.json'): shutil.copy(folder/f, a.out/f)
    import pandas as pd
    pd.DataFrame(log.rows).to_csv(a.out/'epochs.csv', index=False)
    secs = [row['seconds'] for row in log.rows]
    steady = secs[1:] or secs
    best = max(range(len(log.rows)), key=lambda i: log.rows[i].get('score', -1))
    n_train = r.get('n_train'); n_valid = r.get('n_valid')
    md = [f'### The recipe on one fold of `{a.data.name}` ({a.arch}{", scSE" if not a.no_scse else ""}, '
          f'batch {a.bs}, lr {a.lr:g}, {epochs} of {a.max_epochs} epochs)', '',
          f'Hardware: {hw}.',
          f'Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, `bench/gpu_recipe.py --minutes {a.minutes:g}`; '
          f'fold {a.fold} of 5 held out{f" ({n_train} training / {n_valid} held-out ids)" if n_train else ""}'
          f'{f", first {a.limit} ids" if a.limit else ""}; encoder from scratch.', '',
          '| measure | value |', '|---|---:|',
          f'| time per epoch, first (warm-up) | {secs[0]:.1f} s |',
          f'| time per epoch, mean of the others | {sum(steady)/len(steady):.1f} s |',
          f'| whole run (data, model, {epochs} epochs, flip-TTA out-of-fold) | {wall:.0f} s |',
          f'| best epoch | {best+1} |',
          f'| held-out score, threshold 0.5, no TTA | {r["score"]:.4f} |']
    if r.get('tta_score') is not None: md.append(f'| held-out score, flip TTA, threshold 0.5 | {r["tta_score"]:.4f} |')
    md.append(f'| held-out score, flip TTA, threshold {r["threshold"]:.2f} and min size {r["min_size"]} searched on this fold '
              f'(optimistic) | {r["tuned_score"]:.4f} |')
    md = '\n'.join(md)
    print('\n' + md, flush=True)
    (a.out/'gpu_recipe.md').write_text(md + '\n')
    (a.out/'summary.json').write_text(json.dumps(dict(epochs=epochs, per_epoch_calib=per_epoch, fixed_calib=fixed,
                                                      wall=wall, epoch_seconds=secs, result=r, hardware=hw), default=str))
    figures = dict(device=str(device), autocast=str(amp_dtype(device)), epochs=epochs, max_epochs=a.max_epochs,
                   calibration_epoch_s=per_epoch, calibration_one_off_s=fixed, first_epoch_s=secs[0],
                   mean_epoch_s=sum(steady)/len(steady), epoch_seconds=secs, wall_s=wall, best_epoch=best+1,
                   n_train=n_train, n_valid=n_valid, score=r['score'], tta_score=r.get('tta_score'),
                   tuned_threshold=r.get('threshold'), tuned_min_size=r.get('min_size'), tuned_score=r.get('tuned_score'))
    args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items() if k not in ('out', 'results')}
    args['data'] = a.data.name
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%d-%H%M')
    record('gpu_recipe', args, figures, results=a.results,
           run=f'{a.arch}_fold{a.fold}_{a.minutes:g}min' + (f'_limit{a.limit}' if a.limit else '') + f'_{stamp}')
    shutil.rmtree(run)  # checkpoints are hundreds of MB; the table, logs and oof are kept


if __name__ == '__main__':
    main()
