"""fastai's learning-rate finder for each optimizer in `model.OPTIMIZERS`, on the lever split, with the model, data
and loss `salt-fastai train --minutes` starts from: how issue 41 finds SGD's own learning rate once.

Each optimizer starts from the same fresh weights (the same seed) and runs `Learner.lr_find` over the first stage
('bce+lovasz') of the default recipe: resnet34, 101x101, batch 32, bf16 autocast where native, the training images
of fold 0 of split seed 11 (the split that chose the levers). AdamW's learning rate, 1e-3, was chosen by 10- and
20-minute screens (`bench/README.md`: 2e-3 scored +0.008 and +0.004 there, inside the noise); its suggestions here
show where a screened rate sits on the curve. For each optimizer the record keeps fastai's four suggestions and the
bracket between `valley` (the steepest long descent) and `minimum` (a tenth of the loss's minimum), the range the
finder's authors advise picking from.

    python bench/lr_find.py                      # both optimizers, ~3 min on 2 CPU cores
    python bench/lr_find.py --limit 300 --results /tmp/r     # a smoke run

Records `bench/results/lr_find.json`.
"""
import argparse, sys, tempfile, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fastai.callback.schedule import minimum, slide, steep, valley  # noqa: E402
from salt_fastai.data import find_tgs, salt_dls  # noqa: E402
from salt_fastai.model import OPTIMIZERS  # noqa: E402
from salt_fastai.train import BUDGET_ARCH, fold_learner, fold_plan, set_seed  # noqa: E402
from hardware import record, results_option  # noqa: E402  bench/hardware.py

ADAM_LR = 1e-3 # the CLI's learning rate for AdamW (train_fold's default)


def find(path, opt, a, folder):
    "One optimizer's `lr_find` from fresh weights: its suggestions and curve"
    arch, size, stages, _ = fold_plan('bce-lovasz', 10, ADAM_LR, None, BUDGET_ARCH, 101, 1)
    set_seed(a.seed, reproducible=True)
    dls = salt_dls(path, fold=a.fold, seed=a.seed, bs=32, size=size, limit=a.limit)
    set_seed(a.seed, reproducible=True)
    learn = fold_learner(dls, folder/opt, stages, arch, dict(arch=arch, n_in=1, size=size, fold=a.fold),
                         quiet=True, opt=opt, wd=a.wd if opt == 'sgd' else None)
    learn.path = folder/opt
    t0 = time.time()
    res = learn.lr_find(start_lr=a.start_lr, end_lr=a.end_lr, num_it=a.num_it, show_plot=False,
                        suggest_funcs=(valley, slide, minimum, steep))
    rec = learn.recorder
    return dict(suggestions={k: float(v) for k, v in res._asdict().items()}, seconds=round(time.time() - t0, 1),
                wd=a.wd if opt == 'sgd' else 0.01, lrs=[float(l) for l in rec.lrs],
                losses=[float(l) for l in rec.losses])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, default=None, help='TGS folder (default: find_tgs(), else ../shared/tgs)')
    p.add_argument('--fold', type=int, default=0, help='held-out fold (default: the lever split, %(default)s)')
    p.add_argument('--seed', type=int, default=11, help='seed of the split and the weights (default: %(default)s)')
    p.add_argument('--wd', type=float, default=1e-4, help="SGD's L2 weight decay (default: %(default)s, the TGS "
                   "entries' value; AdamW keeps its decoupled 0.01)")
    p.add_argument('--start-lr', type=float, default=1e-5)
    p.add_argument('--end-lr', type=float, default=3.)
    p.add_argument('--num-it', type=int, default=100)
    p.add_argument('--limit', type=int, default=None, help='first N ids only (smoke runs)')
    a = results_option(p).parse_args()
    path = find_tgs(a.data) or (ROOT.parent/'shared'/'tgs')
    if not (path/'train.csv').exists():
        raise SystemExit(f'--data {path}: no train.csv; expected the TGS competition layout (see salt_fastai.data)')
    with tempfile.TemporaryDirectory() as tmp:
        runs = {opt: find(path, opt, a, Path(tmp)) for opt in OPTIMIZERS}
    brackets = {o: sorted([r['suggestions']['valley'], r['suggestions']['minimum']]) for o, r in runs.items()}
    figures = dict(runs=runs, adam_lr=ADAM_LR, brackets=brackets)
    args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items() if k != 'results'}
    out = record('lr_find', args, figures, results=a.results)
    for opt, r in runs.items():
        print(opt, {k: f'{v:.2e}' for k, v in r['suggestions'].items()}, f"{r['seconds']} s")
    print('brackets', {o: [f'{l:.1e}' for l in b] for o, b in figures['brackets'].items()}, out)


if __name__ == '__main__': main()
