"""One optimizer step on the parameters of a resnet34 `SaltUnet`: fastai's `Adam` vs `salt_fastai.model.fused_adam`.

Both optimizers get the model's two parameter groups (`salt_splitter`), fastai's defaults (lr 1e-3, betas 0.9/0.99,
eps 1e-5, weight decay 0.01) and the same random gradients. After warm-up steps, the timed steps alternate between
the two sides (order swapped every round), so load from other processes on a shared CPU hits both alike; the median
step time is reported. PyTorch's `foreach` AdamW (`fused_adam(..., fused=False)`) is a third row. The figures (and the
model's parameter and tensor counts) are recorded in `bench/results/optim.json` (`--results` for another folder).

    python bench/bench_optim.py                       # resnet34, 2 threads
    python bench/bench_optim.py --arch inception_resnet_v2 --steps 20 --threads 1
"""
import argparse, os, statistics, sys, time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fastai.optimizer import Adam  # noqa: E402
from salt_fastai.model import fused_adam, salt_model, salt_splitter  # noqa: E402
from hardware import cpu_name, record, results_option  # noqa: E402  bench/hardware.py


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--arch', default='resnet34', help='timm encoder of the SaltUnet (default: %(default)s)')
    p.add_argument('--steps', type=int, default=30, help='timed steps per side (default: %(default)s)')
    p.add_argument('--threads', type=int, default=2, help='torch threads (default: %(default)s)')
    results_option(p)
    a = p.parse_args()
    if a.steps < 1: raise SystemExit(f'--steps must be at least 1, got {a.steps}')
    torch.set_num_threads(a.threads)
    sides = {"fastai Adam": Adam, 'fused_adam': fused_adam, 'fused_adam(fused=False) (foreach)': partial(fused_adam, fused=False)}
    opts = {}
    for name, opt_func in sides.items():
        torch.manual_seed(0)
        m = salt_model(a.arch, n_in=1)
        for q in m.parameters(): q.grad = torch.randn_like(q) * 1e-3
        opts[name] = opt_func(salt_splitter(m), lr=1e-3)
    n_tensors = sum(len(g) for g in salt_splitter(m)); n_params = sum(q.numel() for q in m.parameters())
    times = {k: [] for k in opts}
    for o in opts.values():
        for _ in range(3): o.step()  # warm-up
    names = list(opts)
    for r in range(a.steps):
        for k in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter(); opts[k].step(); times[k].append(time.perf_counter() - t0)
    ref = statistics.median(times["fastai Adam"])
    print(f'{a.arch} SaltUnet: {n_tensors} parameter tensors, {n_params/1e6:.1f}M parameters; '
          f'{cpu_name()}, {os.cpu_count()} cores, {a.threads} torch threads, torch {torch.__version__}; '
          f'median of {a.steps} steps\n')
    print('| optimizer | ms per step | speed-up over fastai Adam |\n|---|---:|---:|')
    rows = []
    for k, v in times.items():
        med = statistics.median(v)
        print(f'| {k} | {med*1000:.1f} | {ref/med:.2f}x |')
        rows.append(dict(optimizer=k, ms_per_step=med * 1000, speedup=ref / med))
    record('optim', {k: v for k, v in vars(a).items() if k != 'results'},
           dict(arch=a.arch, n_tensors=n_tensors, n_params=n_params, rows=rows), results=a.results)


if __name__ == '__main__':
    main()
