"""The README's figure of real predictions: held-out images of a kept run with predicted and true salt outlines.

    python bench/quality.py --only ours --keep-run RUN     # trains our side, keeps RUN/fold4/oof.npz
    python bench/figure.py --run RUN --out nbs/images/real_predictions.png --note "..."

It draws `salt_fastai.inference.plot_predictions` of the run's out-of-fold (flip-TTA) probabilities on the images of
`--data`, titled with the fold, epochs (from `history.csv`) and the flip-TTA score of those probabilities at 0.5.
The PNG is written next to `--out` and renamed, so an existing figure is never left half-written.
"""
import argparse, os, tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--run', type=Path, required=True, help='a run directory with fold*/oof.npz (from --keep-run)')
    p.add_argument('--data', type=Path, default=None, help='the competition folder (default: find_tgs())')
    p.add_argument('--fold', type=int, default=None, help='which fold*/oof.npz (default: the only one)')
    p.add_argument('--out', type=Path, required=True, help='the PNG to write')
    p.add_argument('--note', default='', help='what trained the run, for the title (arch, budget, hardware)')
    p.add_argument('--n', type=int, default=8, help='how many images')
    a = p.parse_args(argv)

    import matplotlib; matplotlib.use('Agg')
    from salt_fastai.data import find_tgs, load_image
    from salt_fastai.metrics import tgs_score
    from salt_fastai.inference import plot_predictions

    folds = sorted(a.run.glob('fold*/oof.npz')) if a.fold is None else [a.run/f'fold{a.fold}'/'oof.npz']
    if len(folds) != 1 or not folds[0].exists():
        raise SystemExit(f'--run {a.run}: expected exactly one fold*/oof.npz (or --fold K), found {[str(f) for f in folds]}')
    oof = np.load(folds[0])
    ids, probs, masks = oof['ids'], oof['probs'].astype(np.float32), oof['masks']
    data = find_tgs(a.data)
    images = np.stack([load_image(data/'train'/'images'/f'{i}.png') for i in ids])
    hist = folds[0].parent/'history.csv'
    epochs = len(pd.read_csv(hist)) if hist.exists() else None
    score = float(tgs_score(probs > 0.5, masks).mean())
    title = (f'Real TGS images, held-out {folds[0].parent.name.replace("fold", "fold ")}: '
             + (f'{a.note}, ' if a.note else '') + (f'{epochs} epochs, ' if epochs else '') + f'flip-TTA score {score:.3f}')
    fig = plot_predictions(images, probs, masks, ids=list(ids), n=a.n, title=title)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.png', dir=a.out.parent); os.close(fd)
    try:
        fig.savefig(tmp, dpi=80)
        os.replace(tmp, a.out)
    finally:
        if os.path.exists(tmp): os.remove(tmp)
    print(f'{title}\nwritten to {a.out}')


if __name__ == '__main__': main()
