"The paired bootstrap of `bench/paired.py`: per-image score differences of two result files and their 95% interval."
import json, sys
from pathlib import Path
import numpy as np, pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'bench'))
from paired import pair_files, paired_bootstrap  # noqa: E402


def test_interval_covers_the_shift():
    "A known shift under noise: the interval holds it and excludes 0; no shift gives an interval around 0"
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, 640)
    r = paired_bootstrap(a, a + 0.02 + rng.normal(0, 0.05, 640), resamples=2000)
    assert r['low'] < 0.02 < r['high'] and r['low'] > 0, r
    assert r['high'] - r['low'] < 0.02, r  # about 4 standard errors of 0.05/sqrt(640)
    r0 = paired_bootstrap(a, a + rng.normal(0, 0.05, 640), resamples=2000)
    assert r0['low'] < 0 < r0['high'], r0
    same = paired_bootstrap(a, a, resamples=100)
    assert (same['mean_diff'], same['low'], same['high']) == (0, 0, 0)
    with pytest.raises(ValueError, match='equal-length'): paired_bootstrap(a, a[:-1])


def _result(path, ids, scores, **extra):
    path.write_text(json.dumps(dict(figures=dict(per_image=dict(ids=ids, crossfit=scores), **extra))))
    return path


def test_files_pair_by_id(tmp_path):
    "Two files pair image by image whatever their order; other images or no per-image scores are refused"
    a = _result(tmp_path/'a.json', ['x', 'y', 'z'], [0.1, 0.5, 0.9])
    b = _result(tmp_path/'b.json', ['z', 'x', 'y'], [1.0, 0.2, 0.6])
    r = pair_files(a, b, resamples=500)
    assert abs(r['mean_diff'] - 0.1) < 1e-9 and abs(r['low'] - 0.1) < 1e-9 and abs(r['high'] - 0.1) < 1e-9, r
    c = _result(tmp_path/'c.json', ['x', 'y', 'w'], [0.1, 0.5, 0.9])
    with pytest.raises(SystemExit, match='scored different images'): pair_files(a, c)
    (tmp_path/'old.json').write_text(json.dumps(dict(figures=dict(score=0.7))))
    with pytest.raises(SystemExit, match='no per-image scores'): pair_files(a, tmp_path/'old.json')
