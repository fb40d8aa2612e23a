"""Paired comparison of two runs on the same held-out images: the mean per-image score difference with a 95% bootstrap
interval, so a lever is judged against run-to-run noise rather than a fixed delta.

Every result file of `budget.py` and `quality.py` keeps its per-image cross-fitted scores (`per_image`: the held-out
ids and their scores). Two files on the same split pair image by image; the difference `b - a` is resampled over the
images (`--resamples` times, with replacement, seeded), and the 2.5th and 97.5th percentiles of the resampled means
are the interval. A lever becomes a default when the low end of its interval against its baseline is above 0 on the
lever split, and is then confirmed once on the held-out split (issue 32).

    python bench/paired.py bench/results/budget/A.json bench/results/budget/B.json
"""
import argparse, json
from pathlib import Path

import numpy as np

RESAMPLES = 10_000


def per_image_scores(path, side=None):
    "The `(ids, scores)` a result file keeps (`side`: 'ours' or 'baseline' in a quality.py file holding both)"
    res = json.loads(Path(path).read_text())
    fig = res['figures']
    if side is not None: fig = fig[side]
    if 'per_image' not in fig:
        raise SystemExit(f"{path}: no per-image scores (made before they were kept); run it again to pair it")
    return fig['per_image']['ids'], np.asarray(fig['per_image']['crossfit'], dtype=np.float64)


def paired_bootstrap(a, b, resamples=RESAMPLES, seed=0, level=0.95) -> dict:
    "Mean of `b - a` over paired images and its bootstrap interval (percentiles of `resamples` resampled means)"
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"expected two equal-length 1-d score arrays, got shapes {a.shape} and {b.shape}")
    d = b - a
    idx = np.random.default_rng(seed).integers(0, len(d), (resamples, len(d)))
    means = d[idx].mean(1)
    lo, hi = np.percentile(means, [50*(1 - level), 50*(1 + level)])
    return dict(mean_diff=float(d.mean()), low=float(lo), high=float(hi), n_images=len(d), resamples=resamples,
                level=level, a_mean=float(a.mean()), b_mean=float(b.mean()))


def pair_files(path_a, path_b, side_a=None, side_b=None, **kw) -> dict:
    "`paired_bootstrap` of two result files, after checking they scored the same images"
    ids_a, a = per_image_scores(path_a, side_a)
    ids_b, b = per_image_scores(path_b, side_b)
    if sorted(ids_a) != sorted(ids_b):
        raise SystemExit(f"{path_a} and {path_b} scored different images ({len(ids_a)} and {len(ids_b)}): "
                         f"only runs on the same split pair")
    order = {i: k for k, i in enumerate(ids_b)}
    return paired_bootstrap(a, b[[order[i] for i in ids_a]], **kw)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('a', type=Path, help='the baseline result file')
    p.add_argument('b', type=Path, help='the lever result file')
    p.add_argument('--resamples', type=int, default=RESAMPLES)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    r = pair_files(a.a, a.b, resamples=a.resamples, seed=a.seed)
    print(f"{a.b.name} - {a.a.name}: {r['mean_diff']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}] "
          f"({r['level']:.0%} bootstrap over {r['n_images']} images)")


if __name__ == '__main__': main()
