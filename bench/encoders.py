"""What resolution costs: each encoder that `--minutes` may train, in its `SaltUnet`, timed in this one process.

For resnet34 as timm builds it (stride-2 stem and max-pool: `layer1` at 26×26 of a 101×101 image), resnet34 without
the max-pool (`maxpool=False`: `layer1` at 51×51) and the native `salt_resnet` (first stage at 101×101), this records:

- **GFLOPs per image** of one training step, forward and backward (`torch.utils.flop_counter.FlopCounterMode`, which
  counts the convolutions and matrix products, 2 FLOPs per multiply-add);
- **images per second** of that training step: batch `--bs` of one-channel 101×101 images, bf16 autocast where the
  CPU computes it natively, channels-last memory, Adam, BCE on the logits, as `train --minutes` runs them. The steps
  of all encoders alternate (`bench_model.alternate`, order swapped every round), so other load hits all alike; the
  median step gives the rate;
- **the fraction of this CPU's bf16 peak** it reaches: achieved GFLOP/s over the GFLOP/s of a large bf16 matrix
  product measured here first (`--peak-n`, a square matmul: what the cores reach on the best-suited work, not a
  datasheet figure).

    python bench/encoders.py                     # ~2 min on 2 cores
    python bench/encoders.py --steps 2 --results /tmp/r   # a smoke run

Records `bench/results/encoders.json` (committed; the model page reads it).
"""
import argparse, statistics, time

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from salt_fastai.model import salt_model
from salt_fastai.train import BUDGET_ARCH, amp_dtype
from bench_model import alternate, batch  # bench/bench_model.py: its batch and its alternating timing loop
from hardware import hardware_str, record, results_option  # bench/hardware.py (scripts run as `python bench/NAME.py`)

ENCODERS = {BUDGET_ARCH: dict(arch=BUDGET_ARCH), f'{BUDGET_ARCH}, maxpool=False': dict(arch=BUDGET_ARCH, maxpool=False),
            'salt_resnet': dict(arch='salt_resnet')}


def peak_gflops(n, dtype, reps=5):
    "GFLOP/s of an `n`×`n` matrix product in `dtype` on this CPU: the best of `reps` after a warm-up"
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * n**3 / best / 1e9


def _timed(f):
    t0 = time.perf_counter(); f(); return time.perf_counter() - t0


class Step:
    "One encoder's `SaltUnet` and a training step on a fixed batch"
    def __init__(self, arch, bs, dtype, **kw):
        torch.manual_seed(0)
        self.model = salt_model(arch, **kw).train().to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.x, self.y = batch(bs, 101, True)
        self.dtype, self.loss = dtype, nn.BCEWithLogitsLoss()
    def __call__(self):
        with torch.autocast('cpu', dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None):
            out = self.model(self.x)
        self.loss(out.float(), self.y).backward()
        self.opt.step(); self.opt.zero_grad(set_to_none=True)
    def gflops_per_image(self):
        with FlopCounterMode(display=False) as fc:
            with torch.autocast('cpu', dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None):
                out = self.model(self.x)
            self.loss(out.float(), self.y).backward()
        self.opt.zero_grad(set_to_none=True)
        return fc.get_total_flops() / len(self.x) / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--bs', type=int, default=32, help="batch size (default: train --minutes's, %(default)s)")
    p.add_argument('--steps', type=int, default=12, help='timed steps of each encoder (default: %(default)s)')
    p.add_argument('--peak-n', type=int, default=4096, help='side of the matrices of the peak measurement')
    a = results_option(p).parse_args()
    dtype = amp_dtype('cpu')
    peak = peak_gflops(a.peak_n, dtype or torch.float32)
    print(f'{hardware_str()}: {"bf16" if dtype else "fp32"} matmul peak {peak:.0f} GFLOP/s', flush=True)
    steps = {name: Step(bs=a.bs, dtype=dtype, **kw) for name, kw in ENCODERS.items()}
    flops = {name: s.gflops_per_image() for name, s in steps.items()}
    for s in steps.values(): s(); s() # warm-up: the first steps allocate and pick kernels
    times = alternate(steps, a.steps, log=lambda m: print(m, flush=True))
    figures = dict(peak_gflops=round(peak, 1), dtype='bfloat16' if dtype else 'float32', encoders={})
    for name in steps:
        sec = statistics.median(times[name])
        rate = flops[name] * a.bs / sec
        figures['encoders'][name] = dict(
            gflops_per_image=round(flops[name], 3), step_s=round(sec, 4), images_per_s=round(a.bs / sec, 1),
            gflops_per_s=round(rate, 1), peak_fraction=round(rate / peak, 3),
            params_m=round(sum(p.numel() for p in steps[name].model.parameters()) / 1e6, 2),
            feature_sizes=[f.shape[-1] for f in steps[name].model.encoder(steps[name].x[:1])])
        print(name, figures['encoders'][name], flush=True)
    record('encoders', a, figures, results=a.results)


if __name__ == '__main__':
    main()
