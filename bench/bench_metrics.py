"""`salt_fastai.metrics.tgs_score` on 800 masks vs the reference solution's per-image evaluate loop.

The loop is the Kaggle-kernel `iou_metric` the reference solution evaluates with: for each image, the
intersection from `np.histogram2d`, the areas from `np.histogram`, then precision at each IoU threshold (with the
empty-mask rule of the competition made explicit). Both sides run in this process on the same masks: real
training masks from ../shared/tgs when present (predictions: the masks shifted by one pixel, eroded on some
images, emptied on others), else random rectangles. Prints a markdown table with the hardware and the
speed-up (median over repeats, after warm-up), and records the figures in `bench/results/metrics.json`
(`--results` for another folder).

    python bench/bench_metrics.py [--n 800] [--repeats 7] [--data ../shared/tgs] [--results DIR]
"""
import argparse, platform, statistics, time
from pathlib import Path

import numpy as np

from salt_fastai.metrics import tgs_score
from hardware import cpu_name, record, results_option  # bench/hardware.py (scripts run as `python bench/NAME.py`)


def iou_metric_hist(y_true, y_pred):
    "One image, as the reference solution's evaluate code: histograms for intersection and areas."
    if y_true.sum() == 0: return float(y_pred.sum() == 0)
    intersection = np.histogram2d(y_true.flatten(), y_pred.flatten(), bins=(2, 2), range=((0, 2), (0, 2)))[0]
    area_true = np.histogram(y_true, bins=2, range=(0, 2))[0][:, None]
    area_pred = np.histogram(y_pred, bins=2, range=(0, 2))[0][None, :]
    union = area_true + area_pred - intersection
    iou = intersection[1:, 1:] / np.maximum(union[1:, 1:], 1e-9)
    prec = []
    for t in np.arange(0.5, 1.0, 0.05):
        matches = iou > t
        tp, fp, fn = np.sum(matches.sum(1) == 1), np.sum(matches.sum(0) == 0), np.sum(matches.sum(1) == 0)
        prec.append(tp / (tp + fp + fn) if tp + fp + fn > 0 else 0)
    return np.mean(prec)


def loop_scores(preds, targets): return np.array([iou_metric_hist(t, p) for p, t in zip(preds, targets)])


def load_masks(data, n):
    files = sorted((Path(data) / 'train' / 'masks').glob('*.png'))[:n]
    if len(files) < n: return None
    from PIL import Image
    return np.stack([np.array(Image.open(f)) > 0 for f in files]).astype(np.uint8)


def random_masks(n, size=101, seed=0):
    rng = np.random.default_rng(seed)
    m = np.zeros((n, size, size), np.uint8)
    for i, (r0, r1, c0, c1) in enumerate(rng.integers(0, size + 1, (n, 4))):
        m[i, min(r0, r1):max(r0, r1), min(c0, c1):max(c0, c1)] = 1
    m[rng.random(n) < 0.35] = 0
    return m


def median_time(f, repeats, number):
    f()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number): f()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times) * 1e3  # ms


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=800)
    p.add_argument('--repeats', type=int, default=7)
    p.add_argument('--data', default=str(Path(__file__).resolve().parents[2] / 'shared' / 'tgs'))
    results_option(p)
    a = p.parse_args()
    targets = load_masks(a.data, a.n)
    source, real = f'{a.n} real training masks from {a.data}', targets is not None
    if targets is None:
        print(f'fewer than {a.n} masks under {a.data}: using random rectangles instead')
        targets, source = random_masks(a.n), f'{a.n} random 101x101 masks'
    rng = np.random.default_rng(0)
    preds = np.roll(targets, 1, axis=2)
    preds[rng.random(a.n) < 0.2] = 0  # some empty predictions
    eroded = targets & np.roll(targets, 1, 1) & np.roll(targets, -1, 1) & np.roll(targets, 1, 2) & np.roll(targets, -1, 2)
    pick = rng.random(a.n) < 0.3
    preds[pick] = eroded[pick]

    s_vec, s_loop = tgs_score(preds, targets), loop_scores(preds, targets)
    assert np.array_equal(s_vec, s_loop), f'disagree on {np.sum(s_vec != s_loop)} images'
    t_loop = median_time(lambda: loop_scores(preds, targets), a.repeats, 1)
    t_vec = median_time(lambda: tgs_score(preds, targets), a.repeats, 10)
    print(f'loop {t_loop:.1f} ms, tgs_score {t_vec:.2f} ms, ratio {t_loop / t_vec:.1f}x (mean score {s_vec.mean():.4f})')
    print(f'\ntgs_score on {source}, median of {a.repeats} runs; numpy {np.__version__}, {platform.python_version()}\n')
    print('| hardware | per-image histogram loop (ms) | `tgs_score` (ms) | speed-up | target |')
    print('|---|---|---|---|---|')
    print(f'| {cpu_name()} CPU | {t_loop:.1f} | {t_vec:.2f} | {t_loop / t_vec:.0f}x | 20x |')
    args = {k: v for k, v in vars(a).items() if k != 'results'}
    args['data'] = Path(a.data).name
    record('metrics', args, dict(masks=f'{a.n} real training masks' if real else source, real_masks=real,
                                 loop_ms=t_loop, tgs_score_ms=t_vec, speedup=t_loop / t_vec, target=20.,
                                 mean_score=float(s_vec.mean()), numpy=np.__version__), results=a.results)


if __name__ == '__main__': main()
