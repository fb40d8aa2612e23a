"""One resnet18 fold of `salt_fastai.train.train_fold` on synthetic data: bf16 autocast + channels-last vs plain fp32.

Both sides run in this process on the same synthetic data set (`make_synthetic_tgs`, 120
training images by default, a fifth of them held out), with the same seed and recipe (`train_fold`'s default
'bce-lovasz' recipe, resnet18 from scratch, batch 16): `train_fold(..., mixed_precision=False,
channels_last=False)` against `train_fold`'s defaults, which autocast to `amp_dtype('cpu')` (bf16 where the CPU
computes it natively: AVX512-BF16 or AMX) and use channels-last memory. On a CPU without native bf16 the defaults
train in fp32 with channels-last memory, and the figures say so (`amp` of each side).

Each side trains `--rounds` times (5 by default), in the order fp32, defaults, defaults, fp32, ... so that load from
other processes on a shared CPU hits both alike. Time per epoch of a run: the median wall time of its epochs after
the first (the first pays one-off costs), from `bench/epochs.py`'s `epoch_log`; of a side: the median over its runs,
so that one disturbed run moves neither side (every epoch's time is recorded too). The speed-up is the ratio of the
two medians; the ratios of the runs paired round by round give its range. Held-out
scores (the same in every run of a side: training is seeded) are recorded too; on ~24 held-out images one image moves the mean
by about 0.04, so they say only that both sides learn. Prints a markdown table with the hardware and records the
figures in `bench/results/amp.json` (`--results` for another folder).

    python bench/bench_amp.py                       # 120 images, 5 runs of 3 epochs per side: a few minutes on 2 cores
    python bench/bench_amp.py --n-train 48 --epochs 2 --rounds 1 --results /tmp/smoke   # a smoke run
"""
import argparse, statistics, tempfile, time
from pathlib import Path

import torch

from hardware import hardware_str, record, results_option  # bench/hardware.py (scripts run as `python bench/NAME.py`)
from epochs import epoch_log  # bench/epochs.py


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n-train', type=int, default=120, help='synthetic training images (default: %(default)s)')
    p.add_argument('--epochs', type=int, default=3, help='epochs per run (default: %(default)s)')
    p.add_argument('--rounds', type=int, default=5, help='runs per side, alternating (default: %(default)s)')
    p.add_argument('--arch', default='resnet18')
    p.add_argument('--bs', type=int, default=16)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--fold', type=int, default=2)
    p.add_argument('--seed', type=int, default=42, help="seed of the data set's folds and of both sides' training")
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    results_option(p)
    a = p.parse_args()
    if a.epochs < 2: raise SystemExit(f'--epochs must be at least 2 (the first epoch is not timed), got {a.epochs}')
    torch.set_num_threads(a.threads)
    from salt_fastai.synthetic import make_synthetic_tgs
    from salt_fastai.train import amp_dtype, train_fold
    print(hardware_str(), flush=True)

    sides = {'fp32': dict(mixed_precision=False, channels_last=False),
             'defaults (autocast + channels_last)': dict()}
    names = list(sides)
    order = [n for i in range(a.rounds) for n in (names if i % 2 == 0 else names[::-1])]
    res = {}
    with tempfile.TemporaryDirectory(prefix='salt_bench_amp_') as tmp:
        data = make_synthetic_tgs(Path(tmp)/'synth', n_train=a.n_train, n_test=0, seed=0)
        for k, name in enumerate(order):
            log = epoch_log(log=lambda s, name=name: print(f'{name}:{s}', flush=True))
            t0 = time.perf_counter()
            r = train_fold(data, fold=a.fold, arch=a.arch, epochs=a.epochs, bs=a.bs, lr=a.lr, seed=a.seed,
                           out=Path(tmp)/f'run_{k}', quiet=True, resume=False, cbs=log, **sides[name])
            v = res.setdefault(name, dict(amp=r['amp'], channels_last=sides[name].get('channels_last', True),
                                          epoch_seconds=[], wall_s=[], score=[], n_train=r['n_train'], n_valid=r['n_valid']))
            v['epoch_seconds'].append(log.times); v['wall_s'].append(time.perf_counter() - t0); v['score'].append(r['score'])
    for v in res.values():
        v['run_seconds_per_epoch'] = [statistics.median(run[1:]) for run in v['epoch_seconds']]
        v['seconds_per_epoch'] = statistics.median(v['run_seconds_per_epoch'])
    fp32, amp = res['fp32'], res['defaults (autocast + channels_last)']
    speedup = fp32['seconds_per_epoch']/amp['seconds_per_epoch']
    paired = [f/d for f, d in zip(fp32['run_seconds_per_epoch'], amp['run_seconds_per_epoch'])]  # round by round
    print(f"\n{a.arch} fold {a.fold} of {a.n_train} synthetic images ({fp32['n_train']} training / "
          f"{fp32['n_valid']} held out), {a.epochs} epochs, batch {a.bs}, {a.threads} torch threads, "
          f"torch {torch.__version__}; seconds per epoch: median of epochs 2..{a.epochs} of a run, median of {a.rounds} run(s) per side\n")
    print('| side | autocast | channels_last | s/epoch | whole run (s), median | held-out score of each run |\n|---|---|---|---:|---:|---:|')
    for name, v in res.items():
        print(f"| {name} | {v['amp']} | {v['channels_last']} | {v['seconds_per_epoch']:.1f} | "
              f"{statistics.median(v['wall_s']):.0f} | {', '.join(f'{x:.3f}' for x in v['score'])} |")
    print(f'\nspeed-up of the defaults over fp32: {speedup:.2f}x per epoch (runs paired by round: '
          f'{min(paired):.2f}x to {max(paired):.2f}x)')
    record('amp', {k: v for k, v in vars(a).items() if k != 'results'},
           dict(amp_dtype=str(amp_dtype('cpu')).replace('torch.', ''), fp32=fp32, defaults=amp, speedup=speedup,
                speedup_range=[min(paired), max(paired)]),
           results=a.results)


if __name__ == '__main__': main()
