"""`bench/gpu_check.py`, the prepared check of the GPU path (issue 39), end to end in its `--smoke` mode on the CPU:
every step is there, each ran or was skipped with a reason, and the kill-and-resume step really resumed."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'bench'))
import gpu_check  # noqa: E402  bench/gpu_check.py


def test_gpu_check_smoke(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(p for p in [str(ROOT), os.environ.get('PYTHONPATH', '')] if p))
    r = subprocess.run([sys.executable, str(ROOT/'bench'/'gpu_check.py'), '--smoke', '--results', str(tmp_path)],
                       capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    files = sorted((tmp_path/'gpu_check').glob('*_smoke.json'))
    assert len(files) == 1, (files, r.stdout[-3000:], r.stderr[-3000:])
    res = json.loads(files[0].read_text())
    steps = res['figures']['steps']
    assert list(steps) == list(gpu_check.STEPS)
    for name, s in steps.items():  # ok, or skipped with a reason (no onnxruntime, say); never failed
        assert s['status'] in ('ok', 'skipped'), (name, s.get('error'))
        if s['status'] == 'skipped': assert s['reason'], name
        assert s['seconds'] >= 0, name
        print(f"{name}: {s['status']} {s['seconds']} s {s.get('reason', '')}")  # shown with pytest -s
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for name in ('environment', 'data', 'train', 'predict', 'heads', 'kill_resume', 'budget', 'gpu_breakdown',
                 'gpu_recipe'):  # what needs no optional package always runs
        assert steps[name]['status'] == 'ok', (name, steps[name])
    env_f = steps['environment']['figures']
    assert env_f['device'] in ('cpu', 'cuda') and 'autocast' in env_f and env_f['torch']
    k = steps['kill_resume']['figures']  # killed once its last.pth existed, then finished every epoch from there
    assert k['killed'] and k['killed_had_last_pth'] and k['resumed'] and k['rows_kept'] >= 1
    assert k['history_rows'] == k['result_epochs'] == k['epochs'] >= 2
    b = steps['budget']['figures']
    assert b['within'] and b['epochs'] >= 1 and b['wall_s'] <= b['budget_s'] + b['slack_s']
    if gpu_check.have('segyio'): # the survey at the default autocast and in fp32 (the same on a CPU without bf16)
        sg = steps['predict_segy']
        assert sg['status'] == 'ok' and sg['figures']['max_diff'] <= 0.05, sg
    bd = steps['gpu_breakdown']['figures']
    assert any('plain tensors' in row['part'] for row in bd['rows'])
    assert steps['gpu_recipe']['figures']['seconds_per_epoch'] > 0
    assert (tmp_path/'gpu_breakdown').is_dir() and (tmp_path/'gpu_recipe').is_dir()  # their files beside it
    assert res['figures']['passed'] and res['args']['smoke']
    for name in gpu_check.STEPS: assert name in r.stdout  # one summary line per step


def test_make_subset(tmp_path):
    "`--make-subset` copies the first ids of a data set into a smaller one in the same layout"
    from salt_fastai.data import read_tgs
    from salt_fastai.synthetic import make_synthetic_tgs
    src = make_synthetic_tgs(tmp_path/'src', n_train=12, n_test=6, seed=1)
    gpu_check.make_subset(src, tmp_path/'sub', n_train=5, n_test=3)
    df = read_tgs(tmp_path/'sub')
    assert len(df) == 5 and len(list((tmp_path/'sub'/'test'/'images').glob('*.png'))) == 3
    assert len((tmp_path/'sub'/'sample_submission.csv').read_text().splitlines()) == 4
    with pytest.raises(SystemExit): gpu_check.make_subset(src, tmp_path/'sub', n_train=5, n_test=3)  # not over data


def test_steps_skip_with_reasons(tmp_path, monkeypatch):
    "Without CUDA and without --smoke the training steps are skipped, and the ONNX steps without their packages"
    import argparse
    a = argparse.Namespace(smoke=False, work=str(tmp_path), deadline=1., arch='resnet18', bs=8, limit=None)
    c = gpu_check.Check(a)
    c.cuda, c.data = False, tmp_path
    for step in (gpu_check.step_train, gpu_check.step_budget, gpu_check.step_kill_resume):
        with pytest.raises(gpu_check.Skip, match='no CUDA'): step(c)
    c.cuda = True
    monkeypatch.setattr(gpu_check, 'have', lambda m: m not in ('onnxruntime', 'onnxscript'))
    with pytest.raises(gpu_check.Skip, match='onnxscript'): gpu_check.step_export(c)
    with pytest.raises(gpu_check.Skip, match='onnxruntime'): gpu_check.step_predict_ort(c)
    c.data = None
    with pytest.raises(gpu_check.Skip, match='no data'): gpu_check.step_train(c)
