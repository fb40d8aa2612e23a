"""CPU training throughput and peak memory: `SaltUnet` vs segmentation_models_pytorch's U-Net, both on Inception-ResNet-v2.

SaltUnet runs the default configuration (dilated centre, hypercolumns, no scSE, no empty head) except
`stem_stride=2`, which matches smp's encoder, so both see skips at strides 2..32; smp runs
`smp.Unet('inceptionresnetv2', encoder_weights=None, in_channels=1, classes=1)`. Same batch (16x1x128x128 random
images, random {0,1} masks), same loss (`BCEWithLogitsLoss`), same optimizer (`torch.optim.Adam`, lr 1e-3).

Throughput: both models live in this process; after interleaved warm-up steps the timed steps alternate between the
two sides (order swapped every round), so load from other processes on a shared CPU hits both alike; the median
step time gives img/s. Peak memory: each side runs in a fresh subprocess, which reports two numbers: the increase of
its resident set size over the built model during a first forward+backward (activations and gradients, before any
optimizer state exists: where the two decoders differ), and its peak resident set size (VmHWM, the whole
process) over a few training steps, which Adam's state and foreach temporaries (the
parameter counts are printed and recorded) dominate. The figures are recorded in `bench/results/model.json` (`--results` for another folder).

    python bench/bench_model.py                      # fp32 and bf16-autocast+channels_last rows
    python bench/bench_model.py --modes fp32 --steps 10 --threads 2
    python bench/bench_model.py --threads 1          # steadier on a CPU shared with other jobs
"""
import argparse, json, resource, statistics, subprocess, sys, time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from salt_fastai.model import SaltUnet, timm_encoder  # noqa: E402
from hardware import record, results_option  # noqa: E402  bench/hardware.py

SIDES = ('SaltUnet', 'smp Unet')


def build(side):
    torch.manual_seed(0)
    if side == 'SaltUnet': return SaltUnet(timm_encoder('inception_resnet_v2', pretrained=False, n_in=1, stem_stride=2))
    import segmentation_models_pytorch as smp
    return smp.Unet('inceptionresnetv2', encoder_weights=None, in_channels=1, classes=1)


def batch(bs, size, channels_last):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(bs, 1, size, size, generator=g)
    y = (torch.rand(bs, 1, size, size, generator=g) > 0.5).float()
    return (x.contiguous(memory_format=torch.channels_last) if channels_last else x), y


class Trainer:
    "One side: model, optimizer, loss, and a `step` that trains on one batch"
    def __init__(self, side, mode):
        self.bf16 = mode == 'bf16'
        self.model = build(side).train()
        if self.bf16: self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss = nn.BCEWithLogitsLoss()

    def step(self, x, y):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model(x)
        loss = self.loss(out.float(), y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return out.shape


def rss_mb():
    with open('/proc/self/statm') as f: return int(f.read().split()[1])*resource.getpagesize()/2**20


def peak_rss_mb():
    "Peak resident set size of this process (VmHWM; unlike `ru_maxrss`, not inherited from the parent across exec)"
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmHWM:'))/1024  # kB


def mem_child(side, mode, bs, size, steps):
    "Run in a fresh subprocess: RSS peaks in MiB, of a first forward+backward and of whole training steps"
    t = Trainer(side, mode)
    x, y = batch(bs, size, mode == 'bf16')
    idle = rss_mb()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=t.bf16):
        out = t.model(x)
    t.loss(out.float(), y).backward()
    fwd_bwd = peak_rss_mb() - idle  # activations + gradients, nothing freed before, so RSS sees all of it
    t.opt.zero_grad(set_to_none=True)
    for _ in range(steps): t.step(x, y)
    print(json.dumps(dict(peak=peak_rss_mb(), fwd_bwd=fwd_bwd)))


def measure_memory(side, mode, args):
    cmd = [sys.executable, __file__, '--mem-child', side, mode, '--bs', str(args.bs), '--size', str(args.size),
           '--threads', str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def alternate(fns, steps, log=None):
    "Wall times of `steps` calls of each of `fns` (name -> callable), alternating sides and swapping their order every round"
    names, times = list(fns), {k: [] for k in fns}
    for i in range(steps):
        for k in (names if i % 2 == 0 else names[::-1]):
            t0 = time.perf_counter(); fns[k](); times[k].append(time.perf_counter() - t0)
        if log: log(f'round {i + 1}/{steps}: ' + ', '.join(f'{k} {times[k][-1]:.3f} s' for k in names))
    return times


def measure_speed(mode, args):
    trainers = {s: Trainer(s, mode) for s in SIDES}
    x, y = batch(args.bs, args.size, mode == 'bf16')
    shapes = {s: t.step(x, y) for s, t in trainers.items()}
    assert len(set(shapes.values())) == 1 and tuple(shapes[SIDES[0]]) == (args.bs, 1, args.size, args.size), shapes
    for _ in range(args.warmup - 1):
        for t in trainers.values(): t.step(x, y)
    times = alternate({s: (lambda t=t: t.step(x, y)) for s, t in trainers.items()}, args.steps)
    n_params = {s: sum(p.numel() for p in t.model.parameters()) for s, t in trainers.items()}
    return {s: args.bs/statistics.median(v) for s, v in times.items()}, n_params


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--modes', default='fp32,bf16', help="comma-separated: fp32, bf16 (autocast + channels_last)")
    p.add_argument('--bs', type=int, default=16)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--steps', type=int, default=4, help='timed steps per side (default: %(default)s)')
    p.add_argument('--warmup', type=int, default=1, help='warm-up steps per side (default: %(default)s)')
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    p.add_argument('--no-memory', action='store_true')
    p.add_argument('--mem-child', nargs=2, metavar=('SIDE', 'MODE'), help=argparse.SUPPRESS)
    results_option(p)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.mem_child: return mem_child(*args.mem_child, args.bs, args.size, steps=2)

    rows = []
    for mode in args.modes.split(','):
        speed, n_params = measure_speed(mode, args)
        mem = {s: None if args.no_memory else measure_memory(s, mode, args) for s in SIDES}
        ratio = speed['SaltUnet']/speed['smp Unet']
        print(f"{mode}: SaltUnet {speed['SaltUnet']:.2f} img/s, smp {speed['smp Unet']:.2f} img/s, ratio {ratio:.2f}x "
              f"(target >= 0.80x)", flush=True)
        rows.append((mode, speed, ratio, mem, n_params))

    print(f"\nCPU training, batch {args.bs}x1x{args.size}x{args.size}, Adam + BCE, {args.threads} threads, "
          f"median of {args.steps} interleaved steps per side, torch {torch.__version__}\n")
    print("| mode | SaltUnet img/s | smp Unet img/s | ratio | SaltUnet peak RSS: training / fwd+bwd | "
          "smp Unet peak RSS: training / fwd+bwd |")
    print("|---|---|---|---|---|---|")
    for mode, speed, ratio, mem, n_params in rows:
        m = {s: 'n/a' if mem[s] is None else f"{mem[s]['peak']/1024:.2f} GiB / {mem[s]['fwd_bwd']/1024:.2f} GiB" for s in SIDES}
        name = 'fp32' if mode == 'fp32' else 'bf16 autocast + channels_last'
        print(f"| {name} | {speed['SaltUnet']:.2f} | {speed['smp Unet']:.2f} | {ratio:.2f}x | {m['SaltUnet']} | {m['smp Unet']} |")
    print(f"\nparameters: SaltUnet {n_params['SaltUnet']/1e6:.1f}M, smp Unet {n_params['smp Unet']/1e6:.1f}M")
    figs = [dict(mode=mode, img_per_s=speed, ratio=ratio, target=0.8,
                 peak_rss_mib={s: None if mem[s] is None else mem[s]['peak'] for s in SIDES},
                 fwd_bwd_rss_mib={s: None if mem[s] is None else mem[s]['fwd_bwd'] for s in SIDES})
            for mode, speed, ratio, mem, n_params in rows]
    record('model', {k: v for k, v in vars(args).items() if k not in ('results', 'mem_child')},
           dict(modes=figs, n_params=n_params), results=args.results)


if __name__ == '__main__': main()
