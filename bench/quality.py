"""Held-out TGS score after a fixed CPU budget: `salt_fastai.train.train_fold` vs a plain smp U-Net loop.

Both sides train a resnet34-encoder U-Net from scratch (no pretrained weights) on folds != `--fold` of the real
training set and are scored with the competition metric (`salt_fastai.metrics.tgs_score`, mean over images, on the
101x101 masks) on the held-out fold, in this one process:

- **ours**: `train_fold(path, fold, arch='resnet34', epochs=N, bs=16, size=S, pretrained=False, ...)`, its defaults
  otherwise (recipe, augmentations, mixed precision, channels_last). `S` is `--size-ours`, 101 by default: `SaltUnet`
  upsamples to each skip connection's size, so it trains on the original 101x101 images, about 1.3x faster per
  epoch than reflect-padded to 128 (smp's U-Net needs sides divisible by 32, so the baseline pads); its `score` (best epoch, threshold 0.5, no TTA), its
  `tta_score` (flip TTA), and flip TTA with threshold and minimum mask size cross-fitted on the held-out fold
  (`crossfit_score`: chosen by `best_postprocess` on one half, scored on the other, both ways).
- **baseline**: `smp.Unet('resnet34', encoder_weights=None, in_channels=1, classes=1)`, a plain PyTorch loop on
  in-memory tensors (reflect-padded to 128, normalised with `channel_stats(1)`), horizontal flips only,
  BCEWithLogits + `smp.losses.DiceLoss('binary')`, PyTorch's fused Adam (as ours, `salt_fastai.model.fused_adam`)
  with `OneCycleLR` (max lr 1e-3, cosine, over all steps), batch 16 (last partial batch dropped, as fastai does),
  threshold 0.5. By default it gets the same CPU speed-ups as ours, so that the comparison is about the method, not
  the arithmetic: channels_last memory, and bf16 autocast where `salt_fastai.train.amp_dtype` finds native bf16
  (AVX512-BF16 or AMX; on other CPUs emulated bf16 is many times slower than fp32, and ours trains in fp32 there
  too); `--plain-fp32` turns both off.

Each side gets the same wall-clock budget (`--minutes`). The epoch count of each side is chosen before its run from
one calibration run after a warm-up: 1 epoch on all ids, a real epoch of the benchmark. The side's own clock around
each epoch (training, validation and, for ours, checkpointing; for ours a fastai callback passed through
`train_fold(cbs=...)`) gives the time per epoch, and the rest of the run's wall time the one-off cost (data loading,
model building and, for ours, the flip-TTA out-of-fold predictions and the threshold search). (Fitting a line
through two runs of different sizes, as earlier versions did, put the one-off cost that grows with the data, such as
the final predictions, into the time per epoch, and gave ours one epoch fewer than fitted.) Epochs are fixed up front
so that the one-cycle schedules complete; the table reports the wall time each side actually took. Both sides
report the best epoch's held-out score at threshold 0.5 (ours keeps its best epoch; the baseline is scored after
every epoch too).

    python bench/quality.py                              # ~10 min per side (+ calibration), the real benchmark
    python bench/quality.py --minutes 1 --limit 300      # a smoke run of a few minutes
    python bench/quality.py --data PATH --fold 4 --seed 42 --plain-fp32

Prints a markdown table with the hardware, writes it to `bench/out/quality.md` (git-ignored) and records the
figures in `bench/results/quality/fold{F}_seed{S}_{M}min.json` (committed; the README quotes them). The recipe
defaults were chosen on fold 4 with seeds 42, 0 and 1; report figures on other splits (the file says
`chose_defaults`).
"""
import argparse, datetime, math, os, platform, random, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from salt_fastai.data import channel_stats, crop_pad, find_tgs, load_image, load_mask, pad_amounts, read_tgs
from hardware import RESULTS, hardware_info, hardware_str, record  # bench/hardware.py (scripts run as `python bench/NAME.py`)
from epochs import epoch_log  # bench/epochs.py

ROOT = Path(__file__).resolve().parents[1]
ARCH, BS, SIZE, TARGET = 'resnet34', 16, 128, 0.03
CHOSEN_ON = {(4, 42), (4, 0), (4, 1), (0, 11)}  # (fold, seed) splits that chose defaults: the recipe, `--minutes` levers


# ---------------------------------------------------------------------------------------------------------- utils
def seed_everything(seed):
    random.seed(seed); np.random.seed(seed); torch.manual_seed(seed)
    os.environ['PYTHONHASHSEED'] = str(seed)


def hardware():
    h = hardware_info()
    load = ', '.join(f'{l:.1f}' for l in h['load_average'] or []) or 'n/a'
    return (f'{hardware_str(h)} ({h["torch_threads"]} torch threads, torch CPU capability {h["cpu_capability"]}), '
            f'torch {torch.__version__}, Python {platform.python_version()}; load average at the end {load}')


def mean_score(preds, targets):
    "Mean per-image competition score of binary masks [B,101,101]"
    from salt_fastai.metrics import tgs_score
    return float(np.mean(np.asarray(tgs_score(preds, targets), dtype=np.float64)))


def crossfit_scores(probs, targets, seed=0):
    """Per-image held-out scores with threshold and minimum mask size chosen by `best_postprocess` on the *other*
    half of the held-out fold (2-fold cross-fitting): no image is scored with settings chosen on itself, as when a
    run's out-of-fold search is applied to test images. Returns (scores `[N]`, [(threshold, min_size) of each half])"""
    from salt_fastai.metrics import best_postprocess, drop_small, tgs_score
    idx = np.random.default_rng(seed).permutation(len(probs))
    halves, scores, chosen = (idx[::2], idx[1::2]), np.empty(len(probs)), []
    for fit, score in (halves, halves[::-1]):
        th, ms, _, _ = best_postprocess(probs[fit], targets[fit])
        scores[score] = tgs_score(drop_small(probs[score] > th, ms), targets[score]); chosen.append((th, ms))
    return scores, chosen


def crossfit_score(probs, targets, seed=0):
    "The mean of `crossfit_scores`, and the settings chosen on each half"
    scores, chosen = crossfit_scores(probs, targets, seed)
    return float(scores.mean()), chosen


def per_image(ids, scores):
    "Per-image scores as a result file keeps them, so that two runs on the same split can be paired (bench/paired.py)"
    return dict(ids=[str(i) for i in ids], crossfit=[round(float(s), 4) for s in scores])


def select(df, fold, limit):
    "Rows used (first `limit` ids, as `salt_dls` does) and the train/valid positions"
    if limit is not None: df = df.iloc[:limit].reset_index(drop=True)
    valid = np.flatnonzero(df.fold.values == fold); train = np.flatnonzero(df.fold.values != fold)
    if len(valid) == 0 or len(train) < BS:
        raise SystemExit(f'--limit {limit} with --fold {fold} leaves {len(train)} training and {len(valid)} '
                         f'validation ids; use a larger --limit')
    return df, train, valid


# ------------------------------------------------------------------------------------------------------- baseline
def load_tensors(path, ids):
    "Images normalised and reflect-padded to SIZE ([N,1,S,S] float), padded masks ([N,1,S,S] float), raw masks"
    imgs = np.stack([load_image(path/'train'/'images'/f'{i}.png') for i in ids])
    masks = np.stack([load_mask(path/'train'/'masks'/f'{i}.png') for i in ids])
    (mean,), (std,) = channel_stats(1)
    b, a = pad_amounts(SIZE)
    x = (torch.from_numpy(imgs).float()[:, None] / 255. - mean) / std
    x = F.pad(x, (b, a, b, a), mode='reflect')
    y = F.pad(torch.from_numpy(masks).float()[:, None], (b, a, b, a), mode='reflect')
    return x, y, masks


def baseline_predict(model, x, amp, cl, bs=64, tta=False):
    "Probabilities of `model` on `x`, cropped to 101x101; with `tta`, averaged with those of the flipped images"
    model.eval(); out = []
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
        for i in range(0, len(x), bs):
            xb = x[i:i+bs]
            if cl: xb = xb.contiguous(memory_format=torch.channels_last)
            p = torch.sigmoid(model(xb).float())
            if tta: p = (p + torch.sigmoid(model(xb.flip(-1)).float()).flip(-1)) / 2
            out.append(p)
    return crop_pad(torch.cat(out)[:, 0]).numpy()


def run_baseline(path, df, train_idx, valid_idx, epochs, lr, amp, cl, seed, log=print):
    "Train the plain smp U-Net for `epochs` and score it on `valid_idx` after every epoch"
    import segmentation_models_pytorch as smp
    t0 = time.perf_counter()
    seed_everything(seed)
    x, y, masks = load_tensors(path, df.id.tolist())
    xt, yt, xv, mv = x[train_idx], y[train_idx], x[valid_idx], masks[valid_idx]
    model = smp.Unet(ARCH, encoder_weights=None, in_channels=1, classes=1)
    if cl: model = model.to(memory_format=torch.channels_last)
    dice, bce = smp.losses.DiceLoss('binary'), torch.nn.BCEWithLogitsLoss()
    steps = len(xt) // BS  # drop the last partial batch, as fastai's training loader does
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)  # one kernel per step, as ours (`fused_adam`)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    g = torch.Generator().manual_seed(seed)
    best, best_state, scores, epoch_times = -1., None, [], []
    for ep in range(epochs):
        te = time.perf_counter()
        model.train(); perm = torch.randperm(len(xt), generator=g); tot = 0.
        for s in range(steps):
            j = perm[s*BS:(s+1)*BS]
            xb, yb = xt[j], yt[j]
            flip = torch.rand(len(j), generator=g) < 0.5  # horizontal flips only
            xb[flip], yb[flip] = xb[flip].flip(-1), yb[flip].flip(-1)
            if cl: xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
                logits = model(xb)
            logits = logits.float()
            loss = bce(logits, yb) + dice(logits, yb)
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sched.step()
            tot += loss.item()
        probs = baseline_predict(model, xv, amp, cl)
        sc = mean_score(probs > 0.5, mv); scores.append(sc)
        if sc > best: best, best_state = sc, {k: v.detach().clone() for k, v in model.state_dict().items()}
        epoch_times.append(time.perf_counter() - te)
        log(f'  baseline epoch {ep+1}/{epochs}: train loss {tot/max(steps,1):.4f}, held-out score {sc:.4f} '
            f'({time.perf_counter()-t0:.0f} s)')
    wall = time.perf_counter() - t0
    # the best epoch with flip TTA, as ours predicts its held-out fold: same TTA and post-processing on both sides
    model.load_state_dict(best_state)
    tta_probs = baseline_predict(model, xv, amp, cl, tta=True)
    cf_scores, cf_chosen = crossfit_scores(tta_probs, mv, seed)
    return dict(score=best, final_score=scores[-1], tta_score=mean_score(tta_probs > 0.5, mv),
                crossfit_score=float(cf_scores.mean()), crossfit_chosen=cf_chosen, images=epochs * steps * BS,
                wall=wall, epoch_times=epoch_times, per_image=per_image(df.id.values[valid_idx], cf_scores))


# ------------------------------------------------------------------------------------------------------------ ours
def run_ours(path, df, train_idx, valid_idx, epochs, lr, fold, seed, limit, log=print, keep=None, size=SIZE):
    "`train_fold` with the benchmark's arch, budget, batch size and input `size`; its other settings are its defaults"
    from salt_fastai.train import train_fold
    timer = epoch_log(log=lambda *a: None)
    kw = dict(fold=fold, arch=ARCH, epochs=epochs, bs=BS, size=size, pretrained=False, seed=seed, limit=limit,
              quiet=True, cbs=timer)
    if lr is not None: kw['lr'] = lr
    t0 = time.perf_counter()
    seed_everything(seed)
    with tempfile.TemporaryDirectory(prefix='salt_quality_') as out:
        r = train_fold(path, out=keep or out, resume=False, **kw)
        wall = time.perf_counter() - t0
        oof = np.load(Path(keep or out)/f'fold{fold}'/'oof.npz')  # flip-TTA probabilities of the best epoch
        cf_scores, cf_chosen = crossfit_scores(oof['probs'].astype(np.float32), oof['masks'], seed)
        cf, per = float(cf_scores.mean()), per_image(oof['ids'], cf_scores)
    for k in ('score', 'threshold', 'tuned_score'):
        if k not in r: raise SystemExit(f'train_fold returned no {k!r} (keys: {sorted(r)}); the benchmark needs it')
    log(f'  ours: held-out score {r["score"]:.4f} at 0.5, {r["tuned_score"]:.4f} at {r["threshold"]:.2f} '
        f'({wall:.0f} s)')
    n_train = int(r.get('n_train', len(train_idx)))
    return dict(score=float(r['score']), threshold=float(r['threshold']), tuned_score=float(r['tuned_score']),
                tta_score=r.get('tta_score'), crossfit_score=cf, crossfit_chosen=cf_chosen,
                images=epochs * (n_train // BS) * BS, wall=wall, epoch_times=timer.times, per_image=per)


# ----------------------------------------------------------------------------------------------------- calibration
def calibrate(name, run, df_all, fold, limit, budget, log=print):
    "Epochs of `run(df, train_idx, valid_idx, epochs, limit)` that fit `budget` seconds on the benchmark's ids"
    df, tr, va = select(df_all, fold, 5 * BS)  # warm-up (imports, kernel selection), not timed
    run(df, tr, va, 1, 5 * BS, log=lambda *a: None)
    df, tr, va = select(df_all, fold, limit)  # one real epoch of the benchmark
    t0 = time.perf_counter(); r = run(df, tr, va, 1, limit, log=lambda *a: None); total = time.perf_counter() - t0
    (epoch,) = r['epoch_times']
    fixed = max(total - epoch, 0.)
    epochs = max(1, int((budget - fixed) // epoch))
    log(f'{name}: a 1-epoch run on {len(df)} ids took {total:.1f} s: {epoch:.1f} s for the epoch + {fixed:.1f} s '
        f'one-off; {epochs} epoch(s) fit {budget:.0f} s (expect {fixed + epochs*epoch:.0f} s)')
    return epochs, dict(per_epoch=epoch, fixed=fixed, calib_s=total)


# -------------------------------------------------------------------------------------------------------- the table
def table(rows, a, n_train, n_valid, hw, chosen):
    b, o = rows['baseline'], rows.get('ours')
    prec = ('bf16 autocast' if a.amp else 'fp32') + (', contiguous' if a.plain_fp32 else ', channels_last')
    lines = [f'### Held-out TGS score after a {a.minutes:g}-minute CPU budget per side',
             '',
             f'Data: `{a.data}`, {n_train} training / {n_valid} held-out ids (fold {a.fold} of 5, seed {a.seed}'
             f'{f", first {a.limit} ids" if a.limit else ""}); resnet34 encoder from scratch, batch {BS}, '
             f'baseline reflect-padded to 128x128, ours at {a.size_ours}x{a.size_ours}; scored on the 101x101 masks.',
             f'Hardware: {hw}.',
             f'Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; epochs chosen from calibration '
             f'runs: {chosen}.',
             '',
             '| side | epochs | images seen | wall time (s) | img/s | held-out score |',
             '|---|---:|---:|---:|---:|---:|']
    def row(name, r, ep, score):
        return f'| {name} | {ep} | {r["images"]} | {r["wall"]:.0f} | {r["images"]/r["wall"]:.1f} | {score:.4f} |'
    def chosen_str(r): return ', '.join(f'{t:.2f}/{m}' for t, m in r['crossfit_chosen'])
    lines.append(row(f'baseline: smp.Unet, BCE+Dice, fused Adam one-cycle, hflip, {prec}; threshold 0.5, no TTA',
                     b, b['epochs'], b['score']))
    lines.append(row('baseline, best epoch with flip TTA; threshold 0.5', b, b['epochs'], b['tta_score']))
    lines.append(row(f'baseline, flip TTA, threshold/min size cross-fitted ({chosen_str(b)})', b, b['epochs'],
                     b['crossfit_score']))
    if o:
        ours_prec = 'bf16 autocast + channels_last' if a.amp_ours else 'fp32 (no native bf16) + channels_last'
        lines.append(row(f'ours: `train_fold` defaults (recipe, augmentations, fused Adam, {ours_prec}) at size={a.size_ours}; threshold 0.5, no TTA', o, o['epochs'], o['score']))
        if o.get('tta_score') is not None:
            lines.append(row('ours, best epoch with flip TTA; threshold 0.5', o, o['epochs'], o['tta_score']))
        lines.append(row(f'ours, flip TTA, threshold/min size cross-fitted ({chosen_str(o)})', o, o['epochs'],
                         o['crossfit_score']))
        d = o['score'] - b['score']
        lines += ['', f'**ours - baseline, both at threshold 0.5 without TTA: {d:+.4f}** (target >= +{TARGET}: '
                      f'{"met" if d >= TARGET else "NOT met"}); ratio {o["score"]/max(b["score"],1e-9):.3f}. '
                      f'Both with flip TTA at 0.5: {o["tta_score"]-b["tta_score"]:+.4f}; both with flip TTA and '
                      f'cross-fitted post-processing: {o["crossfit_score"]-b["crossfit_score"]:+.4f}.']
    lines += ['', 'Scores: mean competition score over the held-out images, of the best epoch (each side is scored after '
                  'every epoch). Cross-fitted rows choose threshold and minimum mask size with `best_postprocess` on one '
                  'random half of the held-out fold and score the other half, both ways (chosen threshold/min size of '
                  'each half in brackets), so no image is scored with settings chosen on itself. img/s = images seen / '
                  'wall time (training, per-epoch validation, data loading and model set-up included).']
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, default=None, help='TGS folder (default: salt_fastai.data.find_tgs(), '
                   'else ../shared/tgs from the project root)')
    p.add_argument('--fold', type=int, default=0, help='held-out fold (0..4; fold 4 of seeds 42, 0, 1 chose the defaults)')
    p.add_argument('--minutes', type=float, default=10., help='wall-clock training budget of each side')
    p.add_argument('--limit', type=int, default=None, help='use only the first N ids of train.csv (smoke runs)')
    p.add_argument('--lr', type=float, default=1e-3, help='max learning rate of the baseline')
    p.add_argument('--lr-ours', type=float, default=None, help="learning rate passed to train_fold (default: its own)")
    p.add_argument('--size-ours', type=int, default=101, help="input side of our model: 101 trains on the original "
                   "images, 128 reflect-pads them as the baseline must (default: %(default)s)")
    p.add_argument('--seed', type=int, default=7, help='seed of the fold assignment and of both sides\' training')
    p.add_argument('--plain-fp32', action='store_true', help='baseline in fp32 without channels_last (default: '
                   'channels_last, and bf16 autocast where the CPU has native bf16, as ours)')
    p.add_argument('--only', choices=['baseline', 'ours'], default=None, help='run one side only (debugging)')
    p.add_argument('--out', type=Path, default=ROOT/'bench'/'out'/'quality.md')
    p.add_argument('--keep-run', type=Path, default=None, help="keep our side's final run directory here (for figures)")
    p.add_argument('--results', type=Path, default=RESULTS, help='folder of the result files (default: bench/results; '
                   'give another for smoke runs)')
    a = p.parse_args()

    a.data = find_tgs(a.data) or (ROOT.parent/'shared'/'tgs')
    if not (a.data/'train.csv').exists():
        raise SystemExit(f'--data {a.data}: no train.csv; expected the TGS competition layout (see salt_fastai.data)')
    if not 0 <= a.fold < 5: raise SystemExit(f'--fold must be in 0..4, got {a.fold}')
    if a.minutes <= 0: raise SystemExit(f'--minutes must be positive, got {a.minutes}')
    if a.limit is not None and a.limit < 5 * BS: raise SystemExit(f'--limit must be at least {5*BS}, got {a.limit}')
    budget = a.minutes * 60
    df_all = read_tgs(a.data, seed=a.seed)  # the folds `train_fold(seed=...)` uses too
    df, tr, va = select(df_all, a.fold, a.limit)
    print(f'data {a.data}: {len(tr)} training / {len(va)} held-out ids (fold {a.fold}); budget {budget:.0f} s per side',
          flush=True)

    from salt_fastai.train import amp_dtype
    a.amp_ours = amp_dtype('cpu') is not None  # what `train_fold`'s defaults do on this CPU
    a.amp, cl = a.amp_ours and not a.plain_fp32, not a.plain_fp32
    sides = dict(
        baseline=lambda d, t, v, ep, lim, log=print: run_baseline(a.data, d, t, v, ep, a.lr, a.amp, cl, a.seed, log=log),
        ours=lambda d, t, v, ep, lim, log=print, keep=None: run_ours(a.data, d, t, v, ep, a.lr_ours, a.fold, a.seed, lim, log=log, keep=keep, size=a.size_ours))
    order = [s for s in ('baseline', 'ours') if a.only in (None, s)]
    if 'ours' in order:
        try: from salt_fastai.train import train_fold  # noqa: F401  fail before spending the budget
        except ImportError as e: raise SystemExit(f'salt_fastai.train.train_fold is not importable ({e}); '
                                                  f'run with --only baseline') from None
    rows, chosen = {}, []
    for s in order:
        epochs, cal = calibrate(s, sides[s], df_all, a.fold, a.limit, budget)
        load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
        chosen.append(f'{s} {epochs} ({cal["per_epoch"]:.0f} s/epoch + {cal["fixed"]:.0f} s one-off, '
                      f'calibration {cal["calib_s"]:.0f} s, load average {load:.1f} after it)')
        if load > 1.5 * torch.get_num_threads():  # our own run counts for about the number of threads
            print(f'warning: load average {load:.1f} on {os.cpu_count()} cores: other processes share the CPU, '
                  f'so the timings and epoch counts of the two sides may not be comparable', flush=True)
        print(f'{s}: training {epochs} epoch(s)', flush=True)
        rows[s] = sides[s](df, tr, va, epochs, a.limit, **({'keep': a.keep_run} if s == 'ours' and a.keep_run else {}))
        rows[s]['epochs'] = epochs
    if 'baseline' not in rows:
        print({k: v for k, v in rows['ours'].items()}); return
    md = table(rows, a, len(tr), len(va), hardware(), '; '.join(chosen))
    print('\n' + md)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(md + '\n')
    print(f'\nwritten to {a.out}')
    keys = ('epochs', 'score', 'tta_score', 'crossfit_score', 'crossfit_chosen', 'images', 'wall', 'epoch_times',
            'per_image')
    o, b = rows['ours'], rows['baseline']
    figures = dict(n_train=len(tr), n_valid=len(va), calibration=chosen,
                   **{s: {k: rows[s].get(k) for k in keys} for s in rows},
                   delta=o['score'] - b['score'], delta_tta=o['tta_score'] - b['tta_score'],
                   delta_crossfit=o['crossfit_score'] - b['crossfit_score'], target=TARGET,
                   target_met=o['score'] - b['score'] >= TARGET,
                   # `CHOSEN_ON`'s splits chose defaults of `train_fold` or of `--minutes`; any other split chose nothing
                   chose_defaults=(a.fold, a.seed) in CHOSEN_ON)
    args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items() if k not in ('out', 'keep_run', 'results')}
    args['data'] = a.data.name
    record('quality', args, figures, run=f'fold{a.fold}_seed{a.seed}_{a.minutes:g}min' + (f'_limit{a.limit}' if a.limit else ''),
           results=a.results)


if __name__ == '__main__':
    main()
