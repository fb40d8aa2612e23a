"""What the seismic benchmarks (`seams.py`, `survey_iou.py`) share: a resnet18 run trained on synthetic 101x101
images, or the one given with `--run`, and the IoU they score a prediction with."""
import json, time
from pathlib import Path

import numpy as np


def run_options(parser):
    "Add the options of a benchmark's own trained run: `--run`, `--arch`, `--epochs`, `--n-train`"
    parser.add_argument('--run', default=None, help='a trained run folder (default: train one on synthetic images)')
    parser.add_argument('--arch', default='resnet18', help='encoder of the trained run (default: %(default)s)')
    parser.add_argument('--epochs', type=int, default=8, help='epochs of the trained run (default: %(default)s)')
    parser.add_argument('--n-train', type=int, default=400, help='synthetic training images (default: %(default)s)')
    return parser


def synthetic_run(a, tmp:Path) -> tuple:
    """`a.run`, or a run of `a.arch` trained `a.epochs` epochs on `a.n_train` synthetic images (as `salt-fastai demo`
    does) in `tmp`: the run folder, the seconds training took and the run's threshold (0.5 without one)"""
    run, t0 = (Path(a.run) if a.run else tmp/'run'), time.time()
    if not a.run:
        from salt_fastai.synthetic import make_synthetic_tgs
        from salt_fastai.train import train_fold
        make_synthetic_tgs(tmp/'data', n_train=a.n_train, n_test=0, seed=1)
        train_fold(tmp/'data', arch=a.arch, epochs=a.epochs, out=run, quiet=True)
    info = json.loads((run/'threshold.json').read_text()) if (run/'threshold.json').exists() else {}
    return run, time.time() - t0, info.get('threshold', 0.5)


def iou(pred, true) -> float:
    "Intersection over union of two boolean arrays (1 when both are empty)"
    union = np.logical_or(pred, true).sum()
    return float(np.logical_and(pred, true).sum()/union) if union else 1.
