"""Fault injection: `salt-fastai train` killed with SIGKILL at random moments (mid-epoch, and while a checkpoint is
being written), then run again with the same arguments, ends with a whole run folder: a loadable best checkpoint, a
valid `result.json`, one log row per epoch and no temporary file."""
import json, os, random, signal, subprocess, time
from pathlib import Path
import pandas as pd, pytest, torch
from test_cli import CLI, run

EPOCHS = 3

@pytest.fixture(scope='module')
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp('faults')/'synth'
    run('synth', '--out', out, '--n-train', 40, '--n-test', 4, '--seed', 5)
    return out

def _train_args(data, out, *extra):
    return [CLI, 'train', '--data', str(data), '--out', str(out), '--arch', 'resnet18', '--epochs', str(EPOCHS),
            '--recipe', 'bce', '--bs', '8', '--quiet', '--checkpoint-every', '0', *extra]  # last.pth every epoch

def _saved_score(path):
    return torch.load(path, map_location='cpu', weights_only=True)['meta']['score']

def _lost_score(fold):
    """The score of a `model.pth` written in an epoch that `last.pth` does not cover (a kill between the two files):
    the resumed run keeps it as its best, but drops that epoch's row from `history.csv` and trains the epoch again"""
    if not (fold/'model.pth').exists() or not (fold/'last.pth').exists(): return None # no last.pth: trained afresh
    score, best = _saved_score(fold/'model.pth'), torch.load(fold/'last.pth', weights_only=True)['best']
    if score <= best: return None
    logged = pd.read_csv(fold/'history.csv', float_precision='round_trip').tgs_score.tolist()
    assert score in logged, (score, logged)  # the epoch's row is written before its checkpoint
    return score

def check_best(fold, lost=()):
    """A finished fold's best score: `model.pth`'s is `result.json`'s, and it is the best `tgs_score` of
    `history.csv` (the validated average's with `--ema`), or a `lost` score of an epoch a kill took out of the log"""
    hist = pd.read_csv(fold/'history.csv', float_precision='round_trip')
    best = max([*hist.tgs_score, *lost])
    res = json.loads((fold/'result.json').read_text())
    saved = _saved_score(fold/'model.pth')
    assert saved == res['score'] == best, dict(model=saved, result=res['score'], history=hist.tgs_score.tolist(),
                                               lost=list(lost))

def _kill_when(p, ready, timeout=120):
    "SIGKILL process `p` as soon as `ready()` is true (or at `timeout`); False if it ended first"
    t0 = time.monotonic()
    while p.poll() is None:
        if ready() or time.monotonic() - t0 > timeout:
            p.send_signal(signal.SIGKILL); p.wait(); return True
        time.sleep(0.0005)
    return False

@pytest.mark.parametrize('extra', [(), ('--ema', '0.9')], ids=['plain', 'ema'])
def test_sigkill_then_resume(small, tmp_path, extra):
    "With `--ema` the average is saved in `last.pth` next to the weights, and `model.pth` holds the average"
    out = tmp_path/'run'; fold = out/'fold0'
    rng = random.Random(0)
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    writing = lambda: any(fold.glob('.last.pth.*.tmp')) or any(fold.glob('.model.pth.*.tmp'))  # a checkpoint being written
    def after_log(delay):
        "Ready `delay` seconds after the log first exists: in the middle of a later epoch"
        seen = []
        def ready():
            if not (fold/'history.csv').exists(): return False
            seen or seen.append(time.monotonic())
            return time.monotonic() - seen[0] >= delay
        return ready
    kills, lost = [], []
    for attempt in range(4):
        p = subprocess.Popen(_train_args(small, out, *extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        if attempt % 2: ready, what = writing, 'during a file write'
        else: ready, what = after_log(rng.uniform(0.2, 1.5)), 'mid-epoch'
        if _kill_when(p, ready):
            kills.append(what)
            if (score := _lost_score(fold)) is not None: lost.append(score)
        else: assert p.returncode == 0, p.stderr.read().decode()[-2000:]
    assert 'mid-epoch' in kills and 'during a file write' in kills, kills
    r = run(*_train_args(small, out, *extra)[1:])  # the same command again finishes the run
    assert r.stderr == '', r.stderr
    res = json.loads((fold/'result.json').read_text())
    assert res['epochs'] == EPOCHS and 0 <= res['score'] <= 1
    hist = pd.read_csv(fold/'history.csv', float_precision='round_trip')
    assert hist.epoch.tolist() == list(range(EPOCHS)), hist  # one row per epoch, however often it was killed
    from salt_fastai.model import load_checkpoint
    model, meta = load_checkpoint(fold/'model.pth')
    assert meta['arch'] == 'resnet18'
    check_best(fold, lost)  # the best logged epoch's score, or that of a checkpoint whose epoch a kill un-logged
    last = torch.load(fold/'last.pth', weights_only=True)
    if extra:  # the average went on from last.pth after every kill: one update per training batch of every epoch
        assert int(last['average']['n_averaged']) == EPOCHS * (res['n_train'] // 8), last['average']['n_averaged']
    else: assert last['average'] is None
    assert sorted(p.name for p in fold.iterdir()) == ['config.json', 'history.csv', 'history.png', 'last.pth', 'model.pth',
                                                      'oof.npz', 'predictions.png', 'result.json']
    assert json.loads((out/'threshold.json').read_text())['n_oof'] == res['n_valid']
    assert not [p for p in out.rglob('*') if p.name.startswith('.')]

def test_changed_arguments_are_refused(small, tmp_path):
    """A finished fold run again with other settings stops before touching anything; --restart trains it afresh,
    and `check_best` passes that run but fails it once its best score is corrupted"""
    out = tmp_path/'run'
    args = _train_args(small, out)[1:]
    args[args.index('--epochs') + 1] = '1'
    run(*args)
    before = {p.name: p.stat().st_mtime_ns for p in (out/'fold0').iterdir()}
    args[args.index('--epochs') + 1] = '2'
    r = run(*args, check=False)
    assert r.returncode == 2 and 'epochs 1 -> 2' in r.stderr and '--restart' in r.stderr and r.stderr.count('\n') == 1, r.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (out/'fold0').iterdir()} == before
    run(*args, '--restart')
    assert json.loads((out/'fold0'/'result.json').read_text())['epochs'] == 2
    assert len(pd.read_csv(out/'fold0'/'history.csv')) == 2
    check_best(out/'fold0')
    check_best_catches_a_wrong_best(out/'fold0', tmp_path)  # the same 2-epoch run, not another one

def check_best_catches_a_wrong_best(good, tmp_path):
    "`check_best` fails finished fold `good` once its best score is changed in any of the three files (on copies)"
    import shutil
    hist = pd.read_csv(good/'history.csv', float_precision='round_trip')
    best = float(hist.tgs_score.max())
    def history(edit): return lambda f: edit(hist.copy()).to_csv(f/'history.csv', index=False)
    def other_best(h): h.loc[h.tgs_score.idxmin(), 'tgs_score'] = best + 0.01; return h  # another epoch was better
    def lower_best(h): h.loc[h.tgs_score == best, 'tgs_score'] -= 0.01; return h  # the best epoch was worse
    def result(f): (f/'result.json').write_text(json.dumps({**json.loads((f/'result.json').read_text()),
                                                            'score': best - 0.01}))
    def model(f):
        ckpt = torch.load(f/'model.pth', weights_only=True); ckpt['meta']['score'] = best - 0.01
        torch.save(ckpt, f/'model.pth')
    for k, corrupt in enumerate((history(other_best), history(lower_best), result, model)):
        bad = tmp_path/f'bad{k}'; shutil.copytree(good, bad)
        corrupt(bad)
        with pytest.raises(AssertionError): check_best(bad)
    assert len(hist) == 2
