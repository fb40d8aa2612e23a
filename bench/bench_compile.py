"""Is `torch.compile` (inductor, CPU) worth it for a `--minutes` budget? Training step time of the budget's model,
eager against compiled, both in this one process, and what the compile costs up front.

The model and batch are what `salt-fastai train --minutes M` trains by default: `salt_model(arch)` from scratch,
batch 32 of one-channel 101×101 images, bf16 autocast where the CPU computes it natively (fp32 elsewhere),
channels-last memory, fused Adam, BCE on the logits. Two copies of the model start from the same weights: one eager,
one wrapped in `torch.compile` (default mode). The compile cost is the wall time of the compiled copy's first training
step and of its first evaluation-mode forward (a second graph: fastai validates every epoch) beyond an eager step,
with inductor's caches off (a user's first run; `--warm-cache` measures a rerun that finds its kernels cached).
Then the timed steps alternate between the two sides (order swapped every round), so load from other processes
hits both alike; the median gives each side's step time.

From those it works out what a budget of `--budget` minutes would gain: an epoch is `--n-train / --bs` steps, the
compiled side first pays its compile cost, and the figures record the epochs each side fits and the break-even
budget below which compiling loses. Records `bench/results/compile.json` (`--results` for another folder).

    python bench/bench_compile.py                        # resnet34, batch 32 at 101x101: ~3 min on 2 cores
    python bench/bench_compile.py --steps 2 --results /tmp/r   # a smoke run
"""
import argparse, copy, os, statistics, time, sys

if '--warm-cache' not in sys.argv: os.environ['TORCHINDUCTOR_FORCE_DISABLE_CACHES'] = '1'  # before torch: a cold compile
import torch
import torch.nn as nn

from salt_fastai.train import BUDGET_ARCH
from bench_model import alternate, batch  # bench/bench_model.py: its batch and its alternating timing loop
from hardware import hardware_str, record, results_option  # bench/hardware.py (scripts run as `python bench/NAME.py`)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--arch', default=BUDGET_ARCH, help="timm encoder (default: train --minutes's, %(default)s)")
    p.add_argument('--bs', type=int, default=32, help="batch size (default: train --minutes's, %(default)s)")
    p.add_argument('--size', type=int, default=101, help="image side (default: train --minutes's, %(default)s)")
    p.add_argument('--steps', type=int, default=16, help='timed steps per side (default: %(default)s)')
    p.add_argument('--n-train', type=int, default=2560, help='training images per epoch (default: a fold of the '
                   'shared data, %(default)s)')
    p.add_argument('--n-valid', type=int, default=640, help='validation images per epoch (default: %(default)s)')
    p.add_argument('--warm-cache', action='store_true', help="let inductor reuse kernels cached by earlier runs "
                   "(default: caches off, so the compile cost is what a user's first run pays)")
    p.add_argument('--budget', type=float, default=60., help='the budget to work out gains for, minutes')
    a = results_option(p).parse_args()
    from salt_fastai.model import salt_model
    from salt_fastai.train import amp_dtype
    dtype = amp_dtype('cpu')
    torch.manual_seed(0)
    eager = salt_model(a.arch, n_in=1, pretrained=False).to(memory_format=torch.channels_last)
    sides = {'eager': eager, 'compiled': torch.compile(copy.deepcopy(eager))}
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3, fused=True) for k, m in sides.items()}
    x, y = batch(a.bs, a.size, channels_last=True)
    loss_fn = nn.BCEWithLogitsLoss()
    autocast = lambda: torch.autocast('cpu', dtype=dtype or torch.bfloat16, enabled=dtype is not None)

    def step(k):
        m = sides[k].train()
        with autocast(): out = m(x)
        loss_fn(out.float().reshape(y.shape), y).backward()
        opts[k].step(); opts[k].zero_grad()

    def evaluate(k):
        with torch.no_grad(), autocast(): sides[k].eval()(x)

    def train_and_eval(k):
        "Seconds of one training step and of one validation forward after it"
        t0 = time.perf_counter(); step(k); t1 = time.perf_counter(); evaluate(k)
        return t1 - t0, time.perf_counter() - t1

    firsts = {k: train_and_eval(k) for k in sides}  # the compiled side compiles both graphs here
    first, first_eval = ({k: v[i] for k, v in firsts.items()} for i in (0, 1))
    for k in sides: evaluate(k)  # one more warm evaluation each
    split = {k: [] for k in sides}
    alternate({k: (lambda k=k: split[k].append(train_and_eval(k))) for k in sides}, a.steps,
              log=lambda m: print(m, flush=True))
    times = {k: [t for t, _ in v] for k, v in split.items()}
    eval_times = {k: [e for _, e in v] for k, v in split.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    med_eval = {k: statistics.median(v) for k, v in eval_times.items()}
    compile_s = (first['compiled'] - med['eager']) + (first_eval['compiled'] - med_eval['eager'])
    epoch = {k: a.n_train // a.bs * med[k] + -(-a.n_valid // a.bs) * med_eval[k] for k in sides}
    budget = a.budget * 60
    epochs = {'eager': budget / epoch['eager'], 'compiled': max(budget - compile_s, 0) / epoch['compiled']}
    saved = epoch['eager'] - epoch['compiled']
    figures = dict(arch=a.arch, amp=str(dtype).replace('torch.', '') if dtype else 'fp32',
                   step_s={k: round(v, 4) for k, v in med.items()}, eval_step_s={k: round(v, 4) for k, v in med_eval.items()},
                   step_times={k: [round(t, 4) for t in v] for k, v in times.items()},
                   first_step_s={k: round(v, 2) for k, v in first.items()},
                   first_eval_s={k: round(v, 2) for k, v in first_eval.items()},
                   compile_s=round(compile_s, 1), speedup=med['eager'] / med['compiled'],
                   epoch_s={k: round(v, 1) for k, v in epoch.items()},
                   epochs_in_budget={k: round(v, 1) for k, v in epochs.items()},
                   epochs_gained=round(epochs['compiled'] - epochs['eager'], 1),
                   break_even_minutes=round(compile_s * epoch['eager'] / saved / 60, 1) if saved > 0 else None)
    print(f"{hardware_str()}: {a.arch} batch {a.bs} at {a.size}x{a.size}, {figures['amp']}: step {med['eager']:.3f} s eager, "
          f"{med['compiled']:.3f} s compiled ({figures['speedup']:.2f}x), compile {compile_s:.0f} s; in {a.budget:g} min "
          f"{epochs['eager']:.1f} vs {epochs['compiled']:.1f} epochs; break-even {figures['break_even_minutes']} min")
    record('compile', a, figures, results=a.results)


if __name__ == '__main__':
    main()
