"""`salt-fastai train --minutes M`: the whole command (imports, data, every fold, the out-of-fold pass, the threshold
search and the figures) ends within M minutes, 5% allowed, on one fold and on all folds; it does not stop far
short of the budget; a killed budget run resumes with its plan and the time it had left.

These are checks of what the command promises about time, on this machine, whatever its speed: the epochs are
fitted to the machine as the run goes, so a slow or busy machine trains fewer of them, not longer."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd, pytest
from test_cli import CLI, run
from test_faults import _kill_when
from salt_fastai.train import BUDGET_ARCH


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp('budget')/'synth'
    run('synth', '--out', out, '--n-train', 120, '--n-test', 4, '--seed', 9)
    return out


def _train(data, out, minutes, *extra, arch='resnet18'):
    return [CLI, 'train', '--data', str(data), '--out', str(out), *(['--arch', arch] if arch else []), '--bs', '8',
            '--minutes', str(minutes), '--quiet', *map(str, extra)]


@pytest.mark.parametrize('fold,minutes', [('0', 1.0), ('all', 1.5)])
def test_budget_is_kept(data, tmp_path, fold, minutes):
    out = tmp_path/'run'
    t0 = time.monotonic()
    r = subprocess.run(_train(data, out, minutes, '--fold', fold, '--n-folds', 3, arch=None), # --minutes' encoder
                       capture_output=True, text=True)
    wall = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    results = [json.loads(p.read_text()) for p in sorted(out.glob('fold*/result.json'))]
    assert len(results) == (3 if fold == 'all' else 1)
    budget = minutes * 60
    assert wall <= 1.05 * budget, (wall, budget, [(x['epochs'], x['seconds']) for x in results])
    assert wall >= 0.6 * budget, (wall, budget)  # the budget is used, not left idle
    for res in results:
        assert res['minutes'] > 0 and res['epoch_seconds'] > 0 and res['arch'] == BUDGET_ARCH
        assert res['epochs'] == sum(e for _, e, _ in res['stages']) == len(pd.read_csv(out/f"fold{res['fold']}"/'history.csv'))
    assert (out/'threshold.json').exists() and (out/'fold0'/'predictions.png').exists()


def test_killed_budget_run_resumes(data, tmp_path):
    "Killed after its second epoch, the same command finishes the fold with the plan it had and the time it had left"
    out = tmp_path/'run'; fold = out/'fold0'
    args = _train(data, out, 1.0, '--checkpoint-every', 0)  # last.pth after every epoch, so the kill finds one
    hist = fold/'history.csv'
    rows = lambda: hist.exists() and len(hist.read_text().splitlines()) >= 3  # header and two epochs
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert _kill_when(p, rows, timeout=120), p.stderr.read().decode()[-2000:]
    import torch
    last = torch.load(fold/'last.pth', weights_only=True)
    assert last['spent'] > 0 and last['stages'], last.keys()
    t0 = time.monotonic()
    r = run(*args[1:])
    assert r.stderr == '', r.stderr
    res = json.loads((fold/'result.json').read_text())
    assert time.monotonic() - t0 <= 1.05 * (60 - last['spent']) + 10, res  # the time left, and the restart's imports
    assert pd.read_csv(hist).shape[0] == res['epochs'] >= 2


def test_bench_keeps_another_cpus_result(data, tmp_path):
    """`bench/budget.py` never replaces a figure measured on another CPU: it stops before training, names the file
    and asks for `--tag`, and the file stays as it was"""
    old = tmp_path/'budget'/'fold1_seed11_1min_ours.json'
    old.parent.mkdir(parents=True)
    text = json.dumps(dict(hardware=dict(cpu='Another CPU'), figures={}))
    old.write_text(text)
    bench = Path(__file__).resolve().parents[1]/'bench'/'budget.py'
    r = subprocess.run([sys.executable, str(bench), '--data', str(data), '--minutes', '1', '--sides', 'ours',
                        '--results', str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0, r.stdout[-2000:]
    assert str(old) in r.stderr and 'measured on Another CPU' in r.stderr and '--tag' in r.stderr, r.stderr[-2000:]
    assert old.read_text() == text and [p.name for p in old.parent.iterdir()] == [old.name]
