"""Per-image Lovasz hinge, forward + backward: batched `salt_fastai.losses.lovasz_hinge` vs a per-image Python loop.

Both sides run in this process on the same inputs (batch 32 x 128 x 128 by default); the loop is the straightforward
implementation of Algorithm 1 of Berman et al. (2018), one image at a time, as public implementations do.
Prints a markdown table with the hardware and the speed-up (median over repeats, after warm-up), and records the
figures in `bench/results/losses.json` (`--results` for another folder).

    python bench/bench_losses.py [--bs 32] [--size 128] [--repeats 5] [--number 10] [--results DIR]
"""
import argparse, statistics

import torch
import torch.nn.functional as F
from torch.utils.benchmark import Timer

from salt_fastai.losses import lovasz_hinge
from hardware import cpu_name, record, results_option  # bench/hardware.py (scripts run as `python bench/NAME.py`)


def lovasz_grad_ref(gt_sorted):
    "Algorithm 1: gradient of the Lovasz extension of the Jaccard loss w.r.t. sorted errors."
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1. - intersection / union
    if len(gt_sorted) > 1: jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def lovasz_hinge_loop(logits, labels):
    "Per-image Lovasz hinge averaged over the batch, with a Python loop over images."
    losses = []
    for x, y in zip(logits, labels):
        x, y = x.reshape(-1), y.reshape(-1).float()
        errors = 1. - x * (2. * y - 1.)
        errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
        losses.append(torch.dot(F.relu(errors_sorted), lovasz_grad_ref(y[perm])))
    return torch.stack(losses).mean()


def fwd_bwd(fn, logits, labels):
    logits.grad = None
    fn(logits, labels).backward()


def bench(device, bs, size, repeats, number, threads):
    g = torch.Generator().manual_seed(0)
    labels = (torch.rand(bs, size, size, generator=g) > 0.6).long()
    labels[0] = 0; labels[1] = 1  # an empty and a full mask, as in real batches
    logits = (torch.randn(bs, size, size, generator=g) * 2).to(device).requires_grad_()
    labels = labels.to(device)
    # same numbers first
    v1, v2 = lovasz_hinge(logits, labels), lovasz_hinge_loop(logits, labels)
    g1, = torch.autograd.grad(v1, logits); g2, = torch.autograd.grad(v2, logits)
    assert torch.allclose(v1, v2, atol=1e-5) and torch.allclose(g1, g2, atol=1e-5), 'batched and loop disagree'
    timers = {name: Timer('fwd_bwd(fn, logits, labels)', num_threads=threads,
                          globals=dict(fwd_bwd=fwd_bwd, fn=fn, logits=logits, labels=labels))
              for name, fn in (('loop', lovasz_hinge_loop), ('batched', lovasz_hinge))}
    for t in timers.values(): t.timeit(2)  # warm-up
    times = {name: [] for name in timers}
    for _ in range(repeats):  # interleaved, so that load from other processes hits both sides alike
        for name, t in timers.items(): times[name].append(t.timeit(number).median)
    res = {name: statistics.median(v) * 1e3 for name, v in times.items()}  # ms
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--bs', type=int, default=32)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--number', type=int, default=10)
    results_option(p)
    a = p.parse_args()
    runs = [('cpu', n) for n in sorted({1, torch.get_num_threads()})]
    if torch.cuda.is_available(): runs.append(('cuda', torch.get_num_threads()))
    else: print('CUDA not available: GPU timing skipped')
    rows, figs = [], []
    for d, nt in runs:
        r = bench(d, a.bs, a.size, a.repeats, a.number, nt)
        hw = f'{cpu_name()}, {nt} thread{"s" if nt > 1 else ""}' if d == 'cpu' else torch.cuda.get_device_name()
        target = 1.5 if d == 'cpu' else 5.
        figs.append(dict(device=d, hardware=hw, threads=nt, loop_ms=r['loop'], batched_ms=r['batched'],
                         speedup=r['loop'] / r['batched'], target=target))
        rows.append(f"| {d} ({hw}) | {r['loop']:.1f} | {r['batched']:.1f} | {r['loop'] / r['batched']:.1f}x | {target}x |")
        print(f"{d} ({hw}): loop {r['loop']:.2f} ms, batched {r['batched']:.2f} ms, ratio {r['loop'] / r['batched']:.2f}x", flush=True)
    print(f"\nper-image lovasz_hinge forward+backward, batch {a.bs} x {a.size} x {a.size}, "
          f"median of {a.repeats} x {a.number} runs; torch {torch.__version__}\n")
    print('| device | loop (ms) | batched (ms) | speed-up | target |')
    print('|---|---|---|---|---|')
    print('\n'.join(rows))
    record('losses', {k: v for k, v in vars(a).items() if k != 'results'}, dict(runs=figs), results=a.results)


if __name__ == '__main__': main()
