"""Host-side cost of a training step, before and after issue 39's fixes, measured through fastai's own loop.

Two learners of `train_fold`'s `--minutes` configuration (resnet34 at 101x101, batch 32, autocast to `amp_dtype`,
channels-last, `fused_adam`) on a synthetic data set, with the same weights:

- `before`: fastai's tensor subclasses (`TensorImage`, `TensorMask`) reach the model and the loss, and the non-finite
  check asks for the loss's value at every step (`torch.isfinite(loss).all()` as a Python bool: a host sync);
- `after`: `PlainTensors` and today's `StopOnNonFinite` (the losses stay on the device, checked once an epoch).

They train `--batches` steps each, alternating for `--rounds` rounds; a step is timed from `before_batch` to
`after_batch`, the first `--warmup` of each round left out. The figures are medians over every timed step. On a CPU a
host sync costs nothing (the host computes), so the gap there is the subclasses' dispatch; on a GPU both matter.

    python bench/bench_step.py            # writes bench/results/step.json
"""
import argparse, shutil, statistics, tempfile, time
from pathlib import Path

import torch

from hardware import record, results_option  # bench/hardware.py (scripts run as `python bench/NAME.py`)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--arch', default='resnet34')
    ap.add_argument('--size', type=int, default=101)
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--batches', type=int, default=12, help='training steps per round and side')
    ap.add_argument('--warmup', type=int, default=2, help='steps of each round not timed')
    ap.add_argument('--rounds', type=int, default=5)
    results_option(ap)
    a = ap.parse_args()

    from fastai.callback.core import Callback, CancelEpochException
    from salt_fastai.synthetic import make_synthetic_tgs
    from salt_fastai.data import salt_dls
    from salt_fastai.model import amp_dtype
    from salt_fastai.train import Stage, fold_learner, StopOnNonFinite, PlainTensors, NonFiniteLoss

    class SyncStopOnNonFinite(StopOnNonFinite):
        "The check as it was: the loss's value on the host at every step"
        def after_loss(self):
            if self.training and not torch.isfinite(self.loss).all(): raise NonFiniteLoss('non-finite loss')
        def after_train(self): pass

    class StepTimes(Callback):
        "Seconds of each training step after the warm-up; the epoch ends after `batches` steps"
        order = 100
        def __init__(self): self.times = []
        def before_batch(self): self.t0 = time.perf_counter()
        def after_batch(self):
            if not self.training: return
            if self.iter >= a.warmup: self.times.append(time.perf_counter() - self.t0)
            if self.iter + 1 >= a.batches: raise CancelEpochException()

    tmp = Path(tempfile.mkdtemp())
    data = make_synthetic_tgs(tmp/'synth', n_train=a.bs * (a.batches + 2), n_test=4, seed=0)
    dls = salt_dls(data, fold=0, bs=a.bs, size=a.size)
    learners, timers = {}, {}
    for side in ('before', 'after'):
        torch.manual_seed(0)
        learn = fold_learner(dls, tmp/side, [Stage('bce+lovasz', 1)], a.arch, dict(arch=a.arch), quiet=True)
        if side == 'before':
            learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, (StopOnNonFinite, PlainTensors))])
            learn.add_cb(SyncStopOnNonFinite())
        learn.remove_cb(learn.run_checkpoints)  # no files: only the step is timed
        timers[side] = StepTimes(); learn.add_cb(timers[side])
        learners[side] = learn
    for _ in range(a.rounds):
        for side, learn in learners.items():
            learn.fit(1, 1e-4)
    med = {side: statistics.median(t.times) for side, t in timers.items()}
    figures = {side: dict(step_ms=round(1e3 * m, 2), steps=len(timers[side].times)) for side, m in med.items()}
    figures['speedup'] = round(med['before'] / med['after'], 3)
    figures['amp'] = str(amp_dtype('cpu')).replace('torch.', '')
    figures['threads'] = torch.get_num_threads()
    print(figures)
    record('step', {k: v for k, v in vars(a).items() if k != 'results'}, figures, results=a.results)
    shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
