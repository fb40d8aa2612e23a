"""The GPU path settled in one command: every step of `salt-fastai` that a CUDA machine changes, each timed, each
catching its own failure, in about 8 minutes on one H100 (issue 39).

Steps, in order (a step whose data or packages are missing is skipped with the reason, never failed):

- `environment`: the device, the autocast dtype (`salt_fastai.train.amp_dtype`), torch, CUDA and cuDNN versions, the
  GPU's name, memory and compute capability, the versions of fastai, timm, onnx, onnxscript and onnxruntime;
- `data`: the real data of `--data` (competition layout, e.g. a subset made with `--make-subset`), else a synthetic
  set from `salt-fastai synth`;
- `train`, `predict`, `export`, `predict_ort`: a 2-epoch `salt-fastai train`, its submission, its ONNX export and the
  same submission through onnxruntime (compared image by image with the torch one);
- `predict_segy`: `salt-fastai predict-segy` of a small labelled synthetic survey with the trained run, at its default
  (autocast and channels-last where the device computes bf16 or fp16 natively) and with `--no-amp`: both written,
  their largest difference and each one's IoU against the true salt;
- `heads`: a short run with `--ema 0.99 --deep-supervision --empty-head`, and `predict --use-empty-head` from it;
- `kill_resume`: a `train` run SIGKILLed as soon as its fold's `last.pth` appears, then the same command again: it
  must finish (`result.json`, one `history.csv` row per epoch, no duplicate epoch) and keep the killed run's epochs;
- `budget`: `train --minutes 1.5`: its wall time against the 90 s budget, and the epochs it fitted;
- `gpu_breakdown`: `bench/gpu_breakdown.py` (with its `--plain-tensor` row and peak GPU memory), its figures kept;
- `gpu_recipe`: `bench/gpu_recipe.py`, the Inception-ResNet-v2 recipe for `--recipe-minutes`, its seconds per epoch.

Every `salt-fastai` command runs as `python -m salt_fastai.cli` of this checkout (PYTHONPATH set to it), so the tree
that travelled is the one tested. Without CUDA the training steps are skipped unless `--smoke` (tiny sizes:
resnet18, 24 synthetic images, 1 epoch, `--minutes 0.3`), which runs every step on a CPU in a few minutes (the test
`tests/test_gpu_check.py` does). A step is skipped, with the reason, when less than its share of `--deadline` is
left, so the command ends in time. Exit code 0 when every step that ran passed, 1 otherwise.

Figures go to `bench/results/gpu_check/<date>[_smoke].json` through `hardware.record` (`--results` for another
folder; `gpu_breakdown.py` and `gpu_recipe.py` write their own files under the same folder).

    python bench/gpu_check.py --data .gpu_data          # on the lent GPU machine (see bench/README.md)
    python bench/gpu_check.py --smoke --results /tmp/smoke   # a CPU smoke run, a few minutes
    python bench/gpu_check.py --make-subset ../shared/tgs .gpu_data --n-train 1000 --n-test 400   # the data to carry
"""
import argparse, datetime, json, os, platform, re, shutil, signal, subprocess, sys, tempfile, time, traceback
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for p in (str(ROOT), str(BENCH)):  # this checkout's salt_fastai, and bench/hardware.py
    if p not in sys.path: sys.path.insert(0, p)

from hardware import RESULTS, record, results_option  # noqa: E402

STEPS = ('environment', 'data', 'train', 'predict', 'export', 'predict_ort', 'predict_segy', 'heads', 'kill_resume',
         'budget', 'gpu_breakdown', 'gpu_recipe')
# seconds each step needs on an H100 at the default sizes: a step starts only with that much of --deadline left
NEEDS = dict(environment=0, data=0, train=40, predict=20, export=30, predict_ort=20, predict_segy=30, heads=50,
             kill_resume=60,
             budget=100, gpu_breakdown=50, gpu_recipe=75)


class Skip(Exception):
    "A step that its data, packages or device do not allow: recorded as skipped, with the reason"


class StepFailed(Exception):
    "A step's check that did not hold"


def have(module) -> bool:
    import importlib.util
    try: return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError): return False


def version(dist):
    import importlib.metadata as md
    try: return md.version(dist)
    except md.PackageNotFoundError: return None


class Check:
    "The steps' shared state: arguments, work folder, device, and what earlier steps produced"
    def __init__(self, a):
        self.a, self.t0 = a, time.monotonic()
        self.work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix='salt_gpu_check_'))
        self.work.mkdir(parents=True, exist_ok=True)
        self.cuda = False; self.data = None; self.state = {}
        self.env = dict(os.environ, PYTHONUNBUFFERED='1',
                        PYTHONPATH=os.pathsep.join(p for p in [str(ROOT), os.environ.get('PYTHONPATH', '')] if p))

    def left(self) -> float: return self.a.deadline * 60 - (time.monotonic() - self.t0)

    def run(self, name, cmd, timeout=None, check=True):
        "Run `cmd` (a list) from the project root, its output in `work/name.log`; its wall seconds and output's tail"
        timeout = max(5., min(timeout or 1e9, self.left() + 30))
        log = self.work/f'{name}.log'
        t0 = time.monotonic()
        with open(log, 'w') as f:
            try: rc = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=self.env, stdout=f, stderr=subprocess.STDOUT,
                                     timeout=timeout).returncode
            except subprocess.TimeoutExpired: rc = 'timeout'
        wall = time.monotonic() - t0
        tail = log.read_text(errors='replace')[-2500:]
        if check and rc != 0:
            raise StepFailed(f"{' '.join(map(str, cmd[1:]))[:300]} -> "
                             f"{'timed out after %.0f s' % timeout if rc == 'timeout' else f'exit {rc}'}:\n{tail}")
        return wall, rc, tail

    def cli(self, name, *args, timeout=None, check=True):
        return self.run(name, [sys.executable, '-m', 'salt_fastai.cli', *args], timeout=timeout, check=check)

    def need_training(self):
        if not self.cuda and not self.a.smoke:
            raise Skip('no CUDA device: the training steps run on a CPU only with --smoke')
        if self.data is None: raise Skip('no data (the data step did not pass)')

    @property
    def sizes(self):
        a = self.a
        if a.smoke: return dict(arch=['--arch', 'resnet18'], bs=8, epochs=1, resume_epochs=2, minutes=0.3,
                                limit=['--limit', 24])  # a no-op on the 24 synthetic images; real data: 24 ids
        return dict(arch=['--arch', a.arch], bs=a.bs, epochs=2, resume_epochs=3, minutes=a.minutes,
                    limit=['--limit', a.limit] if a.limit else [])


def _fold(run): return Path(run)/'fold0'


def _result(run, epochs=None):
    f = _fold(run)/'result.json'
    if not f.exists(): raise StepFailed(f'{f}: missing')
    r = json.loads(f.read_text())
    if epochs is not None and r.get('epochs') != epochs: raise StepFailed(f"{f}: {r.get('epochs')} epochs, expected {epochs}")
    return r


def _history(run):
    import pandas as pd
    f = _fold(run)/'history.csv'
    return pd.read_csv(f) if f.exists() and f.stat().st_size else None


def _submission_rows(sub, data):
    import pandas as pd
    ids = pd.read_csv(Path(data)/'sample_submission.csv', dtype={'id': str}).id.tolist()
    df = pd.read_csv(sub, dtype={'id': str}, keep_default_na=False)
    if df.id.tolist() != ids: raise StepFailed(f'{sub}: its ids are not those of sample_submission.csv')
    return df


def _check_device(c, r):
    "A run's `result.json` names the device it trained on: CUDA's when there is one"
    if c.cuda and not str(r.get('device', '')).startswith('cuda'):
        raise StepFailed(f"trained on {r.get('device')!r}, not on CUDA")
    want = c.state.get('amp')  # `amp_dtype(device)` as `result.json` names it: 'bfloat16' on an H100
    if want and r.get('amp') is not None and r['amp'] != want:
        raise StepFailed(f"trained with autocast {r['amp']!r}, expected {want!r} (amp_dtype of the device)")


# --- the steps: each returns its figures, raises Skip (with the reason) or fails with any other exception

def step_environment(c):
    import torch
    c.cuda = torch.cuda.is_available()  # before the library's import: a missing fastai fails this step, not CUDA
    from salt_fastai.train import amp_dtype
    dev = torch.device('cuda' if c.cuda else 'cpu')
    dt = amp_dtype(dev)
    c.state['amp'] = str(dt).replace('torch.', '') if dt else 'fp32'
    f = dict(device=str(dev), autocast=str(dt), torch=torch.__version__, cuda=torch.version.cuda,
             cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
             python=platform.python_version(), cpus=os.cpu_count(), torch_threads=torch.get_num_threads(),
             packages={d: version(d) for d in ('fastai', 'fastcore', 'timm', 'numpy', 'onnx', 'onnxscript',
                                              'onnxruntime')})
    if c.cuda:
        p = torch.cuda.get_device_properties(dev)
        f.update(gpu=p.name, gpu_memory_gib=round(p.total_memory/2**30, 1), capability=f'{p.major}.{p.minor}',
                 sms=p.multi_processor_count, bf16=torch.cuda.is_bf16_supported(), gpus=torch.cuda.device_count())
    if have('onnxruntime'):
        import onnxruntime
        f['ort_providers'] = onnxruntime.get_available_providers()
    return f


def step_data(c):
    a = c.a
    if a.data:
        from salt_fastai.data import read_tgs
        path = Path(a.data).resolve()
        df = read_tgs(path)
        n_test = sum(1 for _ in open(path/'sample_submission.csv')) - 1 if (path/'sample_submission.csv').exists() else 0
        if not n_test: raise StepFailed(f'{path}: no sample_submission.csv with test ids (predict needs them)')
        c.data = path
        return dict(kind='real', path=path.name, n_train=len(df), n_test=n_test)
    n_train, n_test = (24, 8) if a.smoke else (a.n_train, a.n_test)
    out = c.work/'synth'
    wall, _, _ = c.cli('synth', 'synth', '--out', out, '--n-train', n_train, '--n-test', n_test, '--seed', 3)
    c.data = out
    return dict(kind='synthetic', n_train=n_train, n_test=n_test, seconds=wall)


def step_train(c):
    c.need_training(); s = c.sizes
    run = c.work/'run'
    wall, _, _ = c.cli('train', 'train', '--data', c.data, '--out', run, *s['arch'], '--epochs', s['epochs'],
                       '--bs', s['bs'], *s['limit'], '--quiet')
    r = _result(run, s['epochs']); _check_device(c, r)
    h = _history(run)
    if h is None or len(h) != s['epochs']: raise StepFailed(f'history.csv: {0 if h is None else len(h)} rows')
    c.state['run'] = run
    return dict(wall_s=wall, epochs=r['epochs'], device=r.get('device'), amp=r.get('amp'), score=r['score'],
                tta_score=r.get('tta_score'), n_train=r['n_train'], n_valid=r['n_valid'], run_seconds=r.get('seconds'),
                epoch_times=h['time'].tolist() if 'time' in h else None)


def step_predict(c):
    c.need_training()
    if 'run' not in c.state: raise Skip('no trained run (the train step did not pass)')
    sub = c.work/'sub_torch.csv'
    wall, _, _ = c.cli('predict', 'predict', '--data', c.data, '--run', c.state['run'], '--out', sub, '--quiet')
    df = _submission_rows(sub, c.data)
    c.state['sub'] = sub
    return dict(wall_s=wall, n_images=len(df), salt_images=int((df.rle_mask != '').sum()))


def step_export(c):
    c.need_training()
    missing = [m for m in ('onnx', 'onnxscript') if not have(m)]
    if missing: raise Skip(f"no {', '.join(missing)}: pip install 'salt_fastai[onnx]'")
    if 'run' not in c.state: raise Skip('no trained run (the train step did not pass)')
    onnx = c.work/'model.onnx'
    wall, _, _ = c.cli('export', 'export', '--run', c.state['run'], '--out', onnx)
    if not onnx.exists(): raise StepFailed(f'{onnx}: not written')
    c.state['onnx'] = onnx
    return dict(wall_s=wall, onnx_mib=round(onnx.stat().st_size/2**20, 1))


def step_predict_ort(c):
    c.need_training()
    if not have('onnxruntime'): raise Skip("no onnxruntime: pip install 'salt_fastai[onnx]'")
    if 'onnx' not in c.state: raise Skip('no ONNX file (the export step did not pass or was skipped)')
    sub = c.work/'sub_ort.csv'
    wall, _, _ = c.cli('predict_ort', 'predict', '--data', c.data, '--run', c.state['onnx'], '--out', sub, '--quiet')
    df = _submission_rows(sub, c.data)
    f = dict(wall_s=wall, n_images=len(df))
    if 'sub' in c.state:  # the same masks as torch's, up to autocast's rounding near the threshold
        import numpy as np
        from salt_fastai.data import rle_decode
        ref = _submission_rows(c.state['sub'], c.data)
        a = np.stack([rle_decode(r) for r in df.rle_mask]).astype(bool)
        b = np.stack([rle_decode(r) for r in ref.rle_mask]).astype(bool)
        f.update(same_masks=float((df.rle_mask.values == ref.rle_mask.values).mean()),
                 pixel_agreement=float((a == b).mean()))
    return f


def step_predict_segy(c):
    c.need_training()
    if not have('segyio'): raise Skip("no segyio: pip install 'salt_fastai[segy]'")
    if 'run' not in c.state: raise Skip('no trained run (the train step did not pass)')
    import numpy as np, segyio
    from salt_fastai.synthetic import synthetic_survey
    amp, true = synthetic_survey(0, (8, 60, 80) if c.a.smoke else (16, 200, 200))
    src = c.work/'survey.sgy'
    segyio.tools.from_array(str(src), amp, format=5, dt=4000)
    f = {}
    for name, extra in (('default', []), ('no_amp', ['--no-amp'])):
        out = c.work/f'survey_{name}.npy'
        f[f'{name}_wall_s'], _, _ = c.cli(f'predict_segy_{name}', 'predict-segy', '--segy', src, '--run', c.state['run'],
                                          '--out', out, '--quiet', *extra)
        p = np.load(out)
        if p.shape != true.shape or not (0 <= p.min() and p.max() <= 1):
            raise StepFailed(f'{out}: shape {p.shape} (the survey is {true.shape}), or values outside [0, 1]')
        f[f'{name}_iou'] = float(np.logical_and(p > 0.5, true).sum() / max(1, np.logical_or(p > 0.5, true).sum()))
        f[name] = p
    f['max_diff'] = float(np.abs(f.pop('default') - f.pop('no_amp')).max())
    if f['max_diff'] > 0.05: raise StepFailed(f"autocast and fp32 differ by {f['max_diff']:.3g} (more than 0.05)")
    return dict(f, traces=int(true.shape[0] * true.shape[1]))


def step_heads(c):
    c.need_training(); s = c.sizes
    run = c.work/'heads'
    wall, _, _ = c.cli('heads_train', 'train', '--data', c.data, '--out', run, *s['arch'], '--epochs', s['epochs'],
                       '--bs', s['bs'], *s['limit'], '--ema', '0.99', '--deep-supervision', '--empty-head', '--quiet')
    r = _result(run, s['epochs']); _check_device(c, r)
    import torch
    last = torch.load(_fold(run)/'last.pth', map_location='cpu', weights_only=True)
    if last.get('average') is None: raise StepFailed('last.pth holds no EMA average')
    kw = torch.load(_fold(run)/'model.pth', map_location='cpu', weights_only=True)['meta'].get('model_kwargs', {})
    if not (kw.get('empty_head') and kw.get('deep_supervision')):
        raise StepFailed(f'model.pth meta: {kw} (expected empty_head and deep_supervision)')
    sub = c.work/'sub_heads.csv'
    pwall, _, _ = c.cli('heads_predict', 'predict', '--data', c.data, '--run', run, '--out', sub, '--use-empty-head',
                        '--quiet')
    df = _submission_rows(sub, c.data)
    return dict(wall_s=wall, predict_wall_s=pwall, epochs=r['epochs'], device=r.get('device'), score=r['score'],
                ema_steps=int(last['average'].get('n_averaged', -1)) if 'n_averaged' in last['average'] else None,
                n_images=len(df))


def step_kill_resume(c):
    c.need_training(); s = c.sizes
    import pandas as pd, torch
    run, epochs = c.work/'resume', s['resume_epochs']
    fold = _fold(run)
    cmd = [sys.executable, '-m', 'salt_fastai.cli', 'train', '--data', c.data, '--out', run, *s['arch'],
           '--epochs', epochs, '--bs', s['bs'], *s['limit'], '--quiet', '--checkpoint-every', 0] # last.pth each epoch
    cmd = [str(x) for x in cmd]
    t0 = time.monotonic(); limit = min(300., c.left())
    with open(c.work/'kill_first.log', 'w') as log:
        p = subprocess.Popen(cmd, cwd=ROOT, env=c.env, stdout=log, stderr=subprocess.STDOUT)
        while p.poll() is None and not (fold/'last.pth').exists() and time.monotonic() - t0 < limit: time.sleep(0.02)
        finished_first = p.poll() is not None
        if not finished_first: p.send_signal(signal.SIGKILL)
        p.wait()
    killed_at = time.monotonic() - t0
    if finished_first:
        raise StepFailed(f'the first run ended (exit {p.returncode}) before its last.pth appeared: nothing was killed\n'
                         + (c.work/'kill_first.log').read_text(errors='replace')[-2000:])
    if not (fold/'last.pth').exists(): raise StepFailed(f'no last.pth after {killed_at:.0f} s: killed on the time limit')
    last = torch.load(fold/'last.pth', map_location='cpu', weights_only=True)
    at = (int(last['stage']), int(last['epoch']))
    before = _history(run)
    kept = None if before is None else before[(before.stage < at[0]) | ((before.stage == at[0]) & (before.epoch <= at[1]))]
    wall, _, _ = c.run('kill_resume', cmd)
    r = _result(run, epochs)
    after = _history(run)
    if after is None or len(after) != epochs:
        raise StepFailed(f'history.csv after the resume: {0 if after is None else len(after)} rows, expected {epochs}')
    dup = after.duplicated(['stage', 'epoch']).sum()
    if dup: raise StepFailed(f'history.csv after the resume: {dup} duplicate epochs\n{after}')
    # resumed, not trained afresh: the epochs `last.pth` covered are the killed run's rows, unchanged
    resumed = kept is not None and len(kept) > 0 and \
        after.iloc[:len(kept)].reset_index(drop=True).equals(kept.reset_index(drop=True))
    if not resumed: raise StepFailed(f'the rows of the killed run are not kept:\nbefore\n{before}\nafter\n{after}')
    leftovers = sorted(p.name for p in run.rglob('*') if p.name.startswith('.'))
    if leftovers: raise StepFailed(f'temporary files left: {leftovers}')
    return dict(killed=True, killed_after_s=round(killed_at, 1), killed_had_last_pth=True,
                last_pth_stage_epoch=list(at), rows_before_kill=0 if before is None else len(before),
                rows_kept=len(kept), resumed=resumed, resumed_wall_s=wall, epochs=epochs,
                history_rows=len(after), result_epochs=r['epochs'], device=r.get('device'))


def step_budget(c):
    c.need_training(); s = c.sizes
    run = c.work/'budget'
    # the budget's own defaults on a GPU (resnet34 at 101x101, batch 32); smoke: batch 8, since a training set
    # smaller than one batch has no batches (drop_last), and `--minutes` cannot time an epoch of none
    arch = [*s['arch'], '--bs', s['bs']] if c.a.smoke else []
    wall, _, _ = c.cli('budget', 'train', '--data', c.data, '--out', run, '--minutes', s['minutes'], *arch,
                       *s['limit'], '--quiet')
    r = _result(run); _check_device(c, r)
    budget = s['minutes'] * 60
    slack = c.a.budget_slack
    f = dict(wall_s=round(wall, 1), budget_s=budget, within=wall <= budget + slack, slack_s=slack,
             epochs=r['epochs'], run_seconds=r.get('seconds'), arch=r.get('arch'), device=r.get('device'),
             score=r['score'], epoch_seconds=r.get('epoch_seconds'))
    if not f['within']: raise StepFailed(f'{wall:.1f} s for a {budget:.0f} s budget (+{slack:g} s allowed): {f}')
    return f


def _recorded(tail):
    "The result file a benchmark's `hardware.record` wrote, from its 'result written to PATH' line"
    m = re.findall(r'result written to (.+)', tail)
    if not m: return None, None
    p = Path(m[-1].strip()); p = p if p.is_absolute() else ROOT/p
    return p, json.loads(p.read_text()) if p.exists() else None


def step_gpu_breakdown(c):
    c.need_training()
    a = c.a
    size = (['--arch', 'resnet18', '--limit', '24', '--steps', '2', '--bs', '8', '--workers', '1'] if a.smoke else
            ['--limit', a.breakdown_limit, '--steps', a.breakdown_steps, '--bs', a.bs])
    wall, _, tail = c.run('gpu_breakdown', [sys.executable, BENCH/'gpu_breakdown.py', '--data', c.data, *size,
                                            '--plain-tensor', '--results', a.results], timeout=300)
    path, res = _recorded(tail)
    if res is None: raise StepFailed(f'no result file in its output:\n{tail}')
    rows = res['figures']['rows']
    if not any('plain' in r['part'] for r in rows): raise StepFailed('no plain-tensor row')
    return dict(wall_s=wall, result_file=str(path.relative_to(ROOT) if ROOT in path.parents else path),
                **{k: res['figures'][k] for k in res['figures']})


def step_gpu_recipe(c):
    c.need_training()
    a = c.a
    if a.smoke: size, minutes = ['--arch', 'resnet18', '--limit', '40', '--bs', '8'], 0.3
    else:
        minutes = min(a.recipe_minutes, (c.left() - NEEDS['gpu_recipe']) / 60)
        if minutes < 0.5: raise Skip(f'{c.left():.0f} s left of --deadline: too little for the recipe')
        size = ['--limit', a.limit] if a.limit else []
        minutes = round(minutes, 2)
    out = c.work/'recipe'
    wall, _, tail = c.run('gpu_recipe', [sys.executable, BENCH/'gpu_recipe.py', '--data', c.data, '--minutes', minutes,
                                         *size, '--out', out, '--results', a.results], timeout=minutes*60 + 240)
    path, res = _recorded(tail)
    if res is None: raise StepFailed(f'no result file in its output:\n{tail}')
    fig = res['figures']
    return dict(wall_s=wall, minutes=minutes, result_file=str(path.relative_to(ROOT) if ROOT in path.parents else path),
                seconds_per_epoch=fig['mean_epoch_s'], first_epoch_s=fig['first_epoch_s'], epochs=fig['epochs'],
                device=fig['device'], autocast=fig['autocast'], score=fig['score'], tta_score=fig.get('tta_score'),
                arch=res['args'].get('arch'))


def make_subset(src, dest, n_train, n_test):
    "A folder in the competition layout with the first `n_train` training and `n_test` test ids of `src`"
    import csv
    src, dest = Path(src), Path(dest)
    if dest.exists() and any(dest.iterdir()): raise SystemExit(f'{dest}: exists and is not empty')
    for sub in ('train/images', 'train/masks', 'test/images'): (dest/sub).mkdir(parents=True, exist_ok=True)
    def head(name, n):
        with open(src/name, newline='') as f: rows = list(csv.reader(f))
        with open(dest/name, 'w', newline='') as f: csv.writer(f).writerows(rows[:n + 1])
        return [r[0] for r in rows[1:n + 1]]
    train, test = head('train.csv', n_train), head('sample_submission.csv', n_test)
    for i in train:
        for sub in ('train/images', 'train/masks'): shutil.copy(src/sub/f'{i}.png', dest/sub/f'{i}.png')
    for i in test: shutil.copy(src/'test/images'/f'{i}.png', dest/'test/images'/f'{i}.png')
    keep = set(train) | set(test)
    with open(src/'depths.csv', newline='') as f: rows = list(csv.reader(f))
    with open(dest/'depths.csv', 'w', newline='') as f: csv.writer(f).writerows([rows[0]] + [r for r in rows[1:] if r[0] in keep])
    size = sum(p.stat().st_size for p in dest.rglob('*') if p.is_file())
    print(f'wrote {dest}: {len(train)} training and {len(test)} test images, {size/2**20:.1f} MiB')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default=None, help='real data in the competition layout (default: synthetic)')
    p.add_argument('--smoke', action='store_true', help='tiny sizes, every step on a CPU too (a few minutes)')
    p.add_argument('--arch', default='resnet34', help='encoder of the train, heads and resume steps (default: %(default)s)')
    p.add_argument('--bs', type=int, default=32, help='batch size (default: %(default)s)')
    p.add_argument('--limit', type=int, default=1000, help='first N training ids of --data (default: %(default)s; 0: all)')
    p.add_argument('--n-train', type=int, default=400, help='synthetic training images without --data')
    p.add_argument('--n-test', type=int, default=100, help='synthetic test images without --data')
    p.add_argument('--minutes', type=float, default=1.5, help='budget of the budget step (default: %(default)s)')
    p.add_argument('--budget-slack', type=float, default=5.,
                   help='seconds over the budget still counted within it: the interpreter starts before the '
                        "command's clock (default: %(default)s)")
    p.add_argument('--breakdown-limit', type=int, default=800, help='ids of the gpu_breakdown loader passes')
    p.add_argument('--breakdown-steps', type=int, default=20, help='timed steps per gpu_breakdown row')
    p.add_argument('--recipe-minutes', type=float, default=2., help="gpu_recipe.py's --minutes (default: %(default)s)")
    p.add_argument('--deadline', type=float, default=8.5,
                   help='minutes for the whole check: a step starts only with its share left (default: %(default)s; '
                        '30 with --smoke)')
    p.add_argument('--only', default=None, help=f'comma-separated steps to run (of {",".join(STEPS)}); '
                                                'environment and data always run')
    p.add_argument('--work', default=None, help='folder for the runs (default: a temporary folder, removed at the end)')
    p.add_argument('--keep', action='store_true', help='keep the work folder')
    p.add_argument('--commit', default=None,
                   help="the commit the copied tree is (the device machine's copy has no .git): kept in the result")
    p.add_argument('--make-subset', nargs=2, metavar=('SRC', 'DEST'), default=None,
                   help='only write DEST: the first --n-train training and --n-test test ids of SRC, then exit')
    results_option(p)
    a = p.parse_args()
    if a.make_subset:
        make_subset(*a.make_subset, a.n_train, a.n_test); return 0
    if a.smoke and '--deadline' not in ' '.join(sys.argv): a.deadline = 30.
    a.limit = a.limit or None
    only = set(a.only.split(',')) | {'environment', 'data'} if a.only else set(STEPS)
    if unknown := only - set(STEPS): p.error(f'--only: unknown steps {sorted(unknown)}')

    c = Check(a)
    print(f'gpu_check: {"smoke, " if a.smoke else ""}work folder {c.work}, deadline {a.deadline:g} min', flush=True)
    steps = {}
    for name in STEPS:
        t0 = time.monotonic()
        try:
            if name not in only: raise Skip('not in --only')
            if c.left() < NEEDS[name] * (0 if a.smoke else 1):
                raise Skip(f'{c.left():.0f} s left of the {a.deadline:g}-minute deadline, the step needs ~{NEEDS[name]} s')
            rec = dict(status='ok', figures=globals()[f'step_{name}'](c))
        except Skip as e: rec = dict(status='skipped', reason=str(e))
        except Exception as e:
            rec = dict(status='failed', error=(str(e) if isinstance(e, StepFailed) else
                                               traceback.format_exc())[-4000:])
        rec['seconds'] = round(time.monotonic() - t0, 1)
        steps[name] = rec
        what = rec.get('reason') or (rec.get('error', '').strip().splitlines() or [''])[-1][:160] or \
            ', '.join(f'{k}={v:.3g}' if isinstance(v, float) else f'{k}={v}' for k, v in
                      [kv for kv in rec.get('figures', {}).items() if not isinstance(kv[1], (dict, list))][:6])
        print(f'{name:<14} {rec["status"]:<8} {rec["seconds"]:>7.1f} s  {what}', flush=True)

    failed = [n for n, r in steps.items() if r['status'] == 'failed']
    total = round(time.monotonic() - c.t0, 1)
    env = steps['environment'].get('figures', {})
    figures = dict(mode='smoke' if a.smoke else 'gpu', source_commit=a.commit, device=env.get('device'), autocast=env.get('autocast'),
                   gpu=env.get('gpu'), total_seconds=total, passed=not failed, failed=failed,
                   skipped={n: r['reason'] for n, r in steps.items() if r['status'] == 'skipped'}, steps=steps)
    args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items() if k not in ('results', 'work')}
    if a.data: args['data'] = Path(a.data).name
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%d-%H%M')
    record('gpu_check', args, figures, run=stamp + ('_smoke' if a.smoke else ''), results=a.results)
    print(f'gpu_check: {len(steps) - len(failed) - len(figures["skipped"])} ok, {len(figures["skipped"])} skipped, '
          f'{len(failed)} failed{" (" + ", ".join(failed) + ")" if failed else ""}, {total:.0f} s', flush=True)
    if not (a.keep or a.work): shutil.rmtree(c.work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
