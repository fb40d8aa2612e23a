"End-to-end checks of the `salt-fastai` console script: they run real subprocesses, so they live here, not on a page."
import json, os, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest
from salt_fastai.data import find_tgs, rle_decode

ROOT = Path(__file__).resolve().parents[1]
CLI = shutil.which('salt-fastai') or pytest.fail("the salt-fastai console script is not installed (pip install -e .)")

def run(*args, check=True, env=None, timeout=900):
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode: raise AssertionError(f"salt-fastai {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r

def check_submission(sub, data):
    ids = pd.read_csv(data/'sample_submission.csv', dtype={'id': str}).id.tolist()
    df = pd.read_csv(sub, dtype={'id': str}, keep_default_na=False)
    assert list(df.columns) == ['id', 'rle_mask']
    assert df.id.tolist() == ids
    assert {rle_decode(r).shape for r in df.rle_mask} == {(101, 101)}
    return df

@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp('cli')/'synth'
    run('synth', '--out', out, '--n-train', 60, '--n-test', 10, '--seed', 3)
    return out

def test_help_lists_every_option():
    "Every option of every subcommand, as the parser defines it, is in that subcommand's --help"
    import argparse
    from salt_fastai.cli import salt_parser
    sub = next(a for a in salt_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(sub.choices) == ['demo', 'download', 'export', 'predict', 'predict-segy', 'submit', 'synth', 'train']
    for cmd, parser in sub.choices.items():
        r = run(cmd, '--help')
        assert r.stderr == '', (cmd, r.stderr)
        opts = [o for a in parser._actions for o in a.option_strings]
        assert '--help' in opts and len(opts) > 2, (cmd, opts)
        for o in opts: assert o in r.stdout, (cmd, o)

def test_help_and_version_need_no_torch():
    "`--help` and `--version` import only the standard library (torch, fastai, timm take seconds), and print nothing on stderr"
    code = ("import sys; from salt_fastai.cli import main\n"
            "try: main(sys.argv[1:])\nexcept SystemExit as e: assert e.code == 0, e.code\n"
            "heavy = sorted(m for m in ('torch', 'fastai', 'timm', 'numpy', 'pandas', 'matplotlib') if m in sys.modules)\n"
            "assert not heavy, heavy")
    for args in (['--help'], ['--version'], ['train', '--help'], ['predict', '--help'], ['demo', '--help'],
                 ['export', '--help']):
        r = subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stderr == '', (args, r.stderr)
    from salt_fastai import __version__
    assert run('--version').stdout.strip() == f'salt-fastai {__version__}'

def test_train_predict_synthetic(synth, tmp_path):
    run_dir = tmp_path/'run'
    r = run('train', '--data', synth, '--arch', 'resnet18', '--epochs', 1, '--out', run_dir, '--fold', 0, '--bs', 8, '--quiet')
    assert r.stderr == '', r.stderr  # normal use is quiet on stderr (no third-party warnings)
    assert (run_dir/'fold0'/'model.pth').exists() and (run_dir/'threshold.json').exists()
    for f in ('fold0/history.png', 'fold0/predictions.png', 'threshold.png', 'config.json', 'fold0/config.json'):
        assert (run_dir/f).stat().st_size > 0, f  # every run folder gets its figures and its configuration
    stamp = (run_dir/'fold0'/'model.pth').stat().st_mtime_ns
    r = run('train', '--config', run_dir/'config.json')  # the same run again, from its config: nothing to train
    assert (run_dir/'fold0'/'model.pth').stat().st_mtime_ns == stamp and 'resnet18' in r.stdout
    r = run('train', '--config', run_dir/'config.json', '--epochs', 2, check=False)  # the config's options can be overridden
    assert r.returncode == 2 and 'epochs 1 -> 2' in r.stderr
    sub = tmp_path/'sub.csv'
    r = run('predict', '--data', synth, '--run', run_dir, '--out', sub, '--quiet')
    assert r.stderr == '' and r.stdout == f'wrote {sub}\n', (r.stdout, r.stderr)
    check_submission(sub, synth)
    r = run('predict', '--data', synth, '--run', run_dir, '--out', sub, check=False)
    assert r.returncode == 2 and 'exists' in r.stderr and 'Traceback' not in r.stderr
    run('predict', '--data', synth, '--run', run_dir, '--out', sub, '--force')

def test_train_tensorboard(synth, tmp_path):
    """`train --tensorboard DIR` writes TensorBoard event files of the fold, with the losses of every batch and the
    score of every epoch, steps counted on across the recipe's stages; without the tensorboard package it is one line
    with the fix, before any folder is made"""
    pytest.importorskip('tensorboard', reason="pip install -e '.[dev]' (or '.[tensorboard]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    tb = tmp_path/'tb'
    run('train', '--data', synth, '--arch', 'resnet18', '--epochs', 2, '--limit', 24, '--bs', 8,
        '--out', tmp_path/'run', '--quiet', '--tensorboard', tb)
    assert list((tb/'fold0').glob('events.out.tfevents.*'))
    acc = EventAccumulator(str(tb/'fold0')).Reload()
    assert {'train_loss', 'tgs_score'} <= set(acc.Tags()['scalars']), acc.Tags()['scalars']
    # fastai restarts its step count at every fit, and a recipe of 10 epochs or more is two fits: steps go on
    from fastai.test_utils import synth_learner
    from salt_fastai.cli import _tensorboard_cb
    learn = synth_learner(n_trn=2, cbs=_tensorboard_cb(tmp_path/'two_fits'))
    with learn.no_logging(), learn.no_bar(): learn.fit(1); learn.fit(1)
    steps = [e.step for e in EventAccumulator(str(tmp_path/'two_fits')).Reload().Scalars('train_loss')]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 4, steps
    code = ("import sys; sys.modules['tensorboard'] = None\nfrom salt_fastai.cli import main; main(sys.argv[1:])")
    r = subprocess.run([sys.executable, '-c', code, 'train', '--data', str(synth), '--out', str(tmp_path/'r2'),
                        '--tensorboard', str(tmp_path/'tb2')], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "pip install 'salt_fastai[tensorboard]'" in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'r2').exists() and not (tmp_path/'tb2').exists()

def test_bad_data_is_one_line_error(tmp_path):
    r = run('train', '--data', tmp_path/'nope', '--arch', 'resnet18', '--epochs', 1, '--out', tmp_path/'r', check=False)
    assert r.returncode == 2 and 'missing train/images' in r.stderr and 'Traceback' not in r.stderr

REAL = find_tgs()

# a run must score this much more than all-empty masks on its validation images; on 2026-12-06 (2-core Xeon, bf16) it
# scored 0.582 (0.583 with flip TTA) on 115 images where all-empty masks score 0.365 (a 1-epoch run scored 0.16)
REAL_MARGIN = 0.1

@pytest.mark.skipif(REAL is None, reason='real TGS data (../shared/tgs) not present')
def test_train_predict_real(tmp_path):
    """Train resnet18 for 5 BCE epochs on 600 real images, then predict a Kaggle-layout test folder. The run scores
    clearly more on its validation images than all-empty masks do (the share of images without salt, about 0.39): a
    model that predicts nothing scores that, one that predicts noise about 0"""
    from salt_fastai.metrics import tgs_score
    run_dir, env = tmp_path/'run', {**os.environ, 'OMP_NUM_THREADS': '1'}  # one thread: steady on a busy machine
    run('train', '--data', REAL, '--arch', 'resnet18', '--epochs', 5, '--recipe', 'bce', '--size', 101, '--lr', 3e-3,
        '--limit', 600, '--bs', 16, '--out', run_dir, '--quiet', env=env)
    res = json.loads((run_dir/'fold0'/'result.json').read_text())
    oof = np.load(run_dir/'fold0'/'oof.npz')
    masks = oof['masks'].astype(bool)
    assert res['n_valid'] == len(oof['ids']) == len(masks) >= 100, (res['n_valid'], masks.shape)
    empty = float(tgs_score(np.zeros_like(masks), masks).mean())  # all-empty masks: the images without salt
    assert abs(empty - (~masks.any((1, 2))).mean()) < 1e-9 and 0.2 < empty < 0.6, empty
    assert abs(res['tta_score'] - tgs_score(oof['probs'].astype(np.float32) > 0.5, masks).mean()) < 1e-6, res
    for key in ('score', 'tta_score'):
        assert res[key] >= empty + REAL_MARGIN, (key, res[key], empty)
    # a Kaggle-layout test folder: the real test images (linked, not copied) of the first 300 sample_submission ids
    test = tmp_path/'kaggle'; (test/'test'/'images').mkdir(parents=True)
    ss = pd.read_csv(REAL/'sample_submission.csv', dtype={'id': str}).iloc[:300]
    ss.to_csv(test/'sample_submission.csv', index=False)
    shutil.copy(REAL/'depths.csv', test/'depths.csv')
    for i in ss.id: os.symlink(REAL/'test'/'images'/f'{i}.png', test/'test'/'images'/f'{i}.png')
    sub = tmp_path/'submission.csv.gz'
    run('predict', '--data', test, '--run', run_dir, '--out', sub, env=env)
    check_submission(sub, test)

def test_demo_scores_held_out_images(tmp_path):
    "The demo scores its submission on synthetic test images that chose nothing, says which score is tuned, and is quiet on stderr"
    out = tmp_path/'demo'
    r = run('demo', '--out', out, '--n-train', 60, '--n-test', 12, '--epochs', 1, '--quiet')
    assert r.stderr == '', r.stderr
    assert 'held-out test score' in r.stdout and 'chose nothing' in r.stdout, r.stdout
    assert 'tuned' in r.stdout and 'optimistic' in r.stdout, r.stdout
    assert (out/'predictions.png').stat().st_size > 0
    from salt_fastai.cli import demo_test_score
    score = float(r.stdout.split('held-out test score ')[1].split(':')[0])
    assert abs(score - demo_test_score(out/'data', out/'submission.csv')) < 5e-4  # the printed score is the submission's
    r = run('demo', '--out', out, check=False)
    assert r.returncode == 2 and 'exists and is not empty' in r.stderr and 'Traceback' not in r.stderr

FAKE_KAGGLE = '''
import os, shutil, zipfile
from pathlib import Path
class _Api:
    def competition_download_files(self, competition, path, quiet=False):
        "Write the competition bundle from $FAKE_BUNDLE, as Kaggle does: a zip holding train.zip, test.zip and the CSVs"
        dest = Path(path)/f'{competition}.zip'
        if os.environ.get('FAKE_KAGGLE_FAIL'):
            dest.write_bytes(b'PK half a zip'); raise ConnectionError('connection reset by peer')
        shutil.copy(os.environ['FAKE_BUNDLE'], dest)
api = _Api()
'''

def _bundle(synth, path):
    "A competition bundle (zip in zip) built from a synthetic data set"
    import zipfile
    inner = {}
    for split in ('train', 'test'):
        z = path.parent/f'{split}.zip'
        with zipfile.ZipFile(z, 'w') as f:
            for p in (synth/split).rglob('*.png'): f.write(p, p.relative_to(synth/split))
        inner[f'{split}.zip'] = z
    with zipfile.ZipFile(path, 'w') as f:
        for name, z in inner.items(): f.write(z, name)
        for name in ('train.csv', 'depths.csv', 'sample_submission.csv'): f.write(synth/name, name)
    return path

def test_download_unpacks_nested_archives(synth, tmp_path):
    "`download` through a fake kaggle package: the bundle's train.zip/test.zip are unpacked; a failed download leaves nothing"
    from salt_fastai.data import check_layout, read_tgs
    (tmp_path/'fake'/'kaggle').mkdir(parents=True)
    (tmp_path/'fake'/'kaggle'/'__init__.py').write_text(FAKE_KAGGLE)
    env = {**os.environ, 'PYTHONPATH': str(tmp_path/'fake'), 'FAKE_BUNDLE': str(_bundle(synth, tmp_path/'bundle.zip'))}
    out = tmp_path/'data'/'tgs'
    r = run('download', '--out', out, env=env)
    assert r.stderr == '', r.stderr
    check_layout(out, train=True, test=True)
    assert len(read_tgs(out)) == 60 and not list(out.rglob('*.zip'))
    r = run('download', '--out', out, env=env, check=False)  # never into a folder that holds data
    assert r.returncode == 2 and 'not empty' in r.stderr
    failed = tmp_path/'failed'
    r = run('download', '--out', failed, env={**env, 'FAKE_KAGGLE_FAIL': '1'}, check=False)
    assert r.returncode == 2 and 'network error' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not failed.exists() and [p.name for p in tmp_path.iterdir() if 'failed' in p.name] == []


FAKE_KAGGLE_SUBMIT = FAKE_KAGGLE + """
def _submit(file, message, competition):
    Path(os.environ['FAKE_SUBMITTED']).write_text(f'{competition}|{message}|{Path(file).read_text()[:20]}')
api.competition_submit = _submit
"""

def test_submit_checks_then_uploads(synth, tmp_path):
    "`submit` through a fake kaggle package: a valid file is uploaded with its message; a broken one is refused first"
    (tmp_path/'fake'/'kaggle').mkdir(parents=True)
    (tmp_path/'fake'/'kaggle'/'__init__.py').write_text(FAKE_KAGGLE_SUBMIT)
    env = {**os.environ, 'PYTHONPATH': str(tmp_path/'fake'), 'FAKE_SUBMITTED': str(tmp_path/'submitted.txt')}
    ids = pd.read_csv(synth/'sample_submission.csv', dtype=str).id
    good = tmp_path/'good.csv'; pd.DataFrame({'id': ids, 'rle_mask': ''}).to_csv(good, index=False)
    r = run('submit', good, '--message', 'all empty', '--data', synth, env=env)
    assert r.stderr == '' and 'submitted' in r.stdout
    assert (tmp_path/'submitted.txt').read_text().startswith('tgs-salt-identification-challenge|all empty|id,rle_mask')
    (tmp_path/'submitted.txt').unlink()
    bad = tmp_path/'bad.csv'; pd.DataFrame({'id': ids, 'rle_mask': '1 99999'}).to_csv(bad, index=False)
    r = run('submit', bad, '--message', 'x', '--data', synth, env=env, check=False)
    assert r.returncode == 2 and 'runs fall outside' in r.stderr and r.stderr.count('\n') == 1, r.stderr
    assert not (tmp_path/'submitted.txt').exists()  # nothing was uploaded
    r = run('submit', good, '--message', 'x', check=False)  # no kaggle package on the path
    assert r.returncode != 0 and "pip install 'salt_fastai[kaggle]'" in r.stderr

def test_train_resolution_levers(synth, tmp_path):
    """The native encoder with deep supervision, weight averaging, strong augmentation and SGD trains and predicts (its checkpoint rebuilds
    from the run alone); a bad `--ema` or `--no-maxpool` on an encoder without a max-pool is one line, with nothing
    written"""
    run_dir = tmp_path/'run'
    r = run('train', '--data', synth, '--arch', 'salt_resnet', '--deep-supervision', '--ema', 0.9, '--epochs', 1,
            '--size', 101, '--out', run_dir, '--bs', 8, '--quiet', '--aug', 'strong', '--opt', 'sgd', '--lr', 0.01)
    assert r.stderr == '', r.stderr
    cfg = json.loads((run_dir/'fold0'/'config.json').read_text())
    assert cfg['ema'] == 0.9 and cfg['arch'] == 'salt_resnet' and cfg['model_kwargs']['deep_supervision'] is True
    assert cfg['aug'] == 'strong' and cfg['opt'] == 'sgd'
    sub = tmp_path/'sub.csv'
    run('predict', '--data', synth, '--run', run_dir, '--out', sub, '--quiet')
    check_submission(sub, synth)
    for extra, why in ((['--arch', 'salt_resnet', '--no-maxpool'], '--no-maxpool: maxpool=False: salt_resnet has no max-pool'),
                       (['--ema', '1.5'], '--ema 1.5: expected a decay between 0 and 1')):
        out = tmp_path/'refused'
        r = run('train', '--data', synth, '--out', out, *extra, check=False)
        assert r.returncode == 2 and why in r.stderr and r.stderr.count('\n') == 1, r.stderr
        assert not out.exists(), sorted(out.rglob('*'))
