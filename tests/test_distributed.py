"""Training on two processes (torchrun, gloo on the CPU): what a multi-GPU run does, except the GPUs. A time budget
with one rank slowed down ends on both ranks after the same epochs with the same weights, within the budget (rank 0's
clock plans, and every rank follows it); a run killed mid-stage resumes and finishes with each epoch logged once."""
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd, pytest, torch
from test_cli import run  # tests/test_cli.py
from test_faults import check_best  # tests/test_faults.py

TORCHRUN = shutil.which('torchrun')
pytestmark = [pytest.mark.skipif(TORCHRUN is None, reason='torchrun not found (it comes with torch)')]
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}  # two processes on two cores

@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    pytest.importorskip('accelerate', reason='fastai distributed training needs accelerate (pip install -e ".[dev]")')
    out = tmp_path_factory.mktemp('ddp')/'synth'
    run('synth', '--out', out, '--n-train', 48, '--n-test', 4, '--seed', 3)
    return out

SLOW_RANK = '''
import hashlib, json, os, sys, time
from fastai.callback.core import Callback
from salt_fastai.train import train_fold
data, out, minutes, delay = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
rank = int(os.environ['RANK'])
class Record(Callback):
    "A delay in each training batch of rank 1; the epochs this rank trained and its weights when the last fit ends"
    order = 100
    epochs, lrs = 0, []
    def before_batch(self):
        if self.training and rank == 1: time.sleep(delay)
    def after_train(self): self.epochs += 1; self.lrs.append(self.opt.hypers[-1]['lr'])
    def after_fit(self):
        model = getattr(self.learn.model, 'module', self.learn.model)
        h = hashlib.sha256()
        for k, v in sorted(model.state_dict().items()): h.update(k.encode()); h.update(v.detach().cpu().numpy().tobytes())
        self.weights = h.hexdigest()
rec = Record()
t0 = time.time()
train_fold(data, arch='resnet18', minutes=minutes, bs=8, out=out, quiet=True, cbs=rec, started=t0)
json.dump(dict(epochs=rec.epochs, weights=rec.weights, lrs=rec.lrs, seconds=time.time() - t0),
          open(os.path.join(out, f'rank{rank}.json'), 'w'))
'''

def test_budget_with_a_slow_rank(synth, tmp_path):
    "Rank 1 sleeps in every batch: both ranks still train the same epochs at the same rates and end with one model"
    script, out, minutes = tmp_path/'slow_rank.py', tmp_path/'run', 0.75
    script.write_text(SLOW_RANK)
    t0 = time.time()
    r = subprocess.run([TORCHRUN, '--nproc_per_node', '2', '--master_port', '29531', str(script), str(synth), str(out),
                        str(minutes), '0.15'], capture_output=True, text=True, timeout=300, env=ENV)
    wall = time.time() - t0
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ranks = [json.loads((out/f'rank{k}.json').read_text()) for k in (0, 1)]
    assert ranks[0]['epochs'] == ranks[1]['epochs'] >= 2, ranks
    assert ranks[0]['lrs'] == ranks[1]['lrs'], ranks  # one plan: the same one-cycle position at every epoch
    assert ranks[0]['weights'] == ranks[1]['weights'], ranks
    assert ranks[0]['seconds'] <= minutes * 60 + 5, ranks  # the fold's result within its budget (rank 0's clock)
    res = json.loads((out/'fold0'/'result.json').read_text())
    assert res['epochs'] == ranks[0]['epochs'] and len(pd.read_csv(out/'fold0'/'history.csv')) == res['epochs']
    assert wall < minutes * 60 + 90, wall  # no rank waited for another that had stopped (that hangs)

def _train_cmd(synth, out):
    return [TORCHRUN, '--nproc_per_node', '2', '--master_port', '29533', '-m', 'salt_fastai.cli', 'train', '--data',
            str(synth), '--arch', 'resnet18', '--epochs', '3', '--recipe', 'bce', '--bs', '8', '--out', str(out),
            '--quiet', '--checkpoint-every', '0']

def test_kill_and_resume(synth, tmp_path):
    "Both processes killed with SIGKILL after the first epoch's checkpoint; the same command again finishes the run"
    out = tmp_path/'run'; fold = out/'fold0'
    p = subprocess.Popen(_train_cmd(synth, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
                         start_new_session=True)
    t0 = time.monotonic()
    while p.poll() is None and time.monotonic() - t0 < 300:
        if (fold/'last.pth').exists(): break
        time.sleep(0.05)
    assert p.poll() is None, p.stderr.read().decode()[-3000:]  # still training when killed
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    assert not (fold/'result.json').exists()
    epoch = torch.load(fold/'last.pth', weights_only=True)['epoch']
    r = subprocess.run(_train_cmd(synth, out), capture_output=True, text=True, timeout=600, env=ENV)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    hist = pd.read_csv(fold/'history.csv', float_precision='round_trip')
    assert hist.epoch.tolist() == [0, 1, 2] and epoch < 2, (hist, epoch)  # every epoch once, by rank 0
    check_best(fold)  # model.pth's score is result.json's and the best logged one
