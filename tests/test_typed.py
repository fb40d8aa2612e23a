"""Every command line of the README's "Use it on your data" and of the CLI page's examples, run as a user types it:
the line itself through a shell, in a fresh folder, with nothing added (no `--quiet`), once with stdout and stderr a
terminal (a pseudo-terminal, where the progress bars draw) and once through a pipe. The README's placeholders (`DIR`,
`RUN`, `MINUTES`, `MSG`, `survey.sgy`, `survey.mdio`) become real paths and values; every other word is the page's.
Kaggle is a fake `kaggle` package (no network here), `survey.sgy` is the F3 crop of segyio's test data and
`survey.mdio` its MDIO store (`seismic.segy_to_mdio`)."""
import json, os, pty, re, select, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
from test_cli import FAKE_KAGGLE_SUBMIT, _bundle, check_submission  # tests/test_cli.py

if shutil.which('salt-fastai') is None: pytest.fail("the salt-fastai console script is not installed (pip install -e .)")


def page_commands(path, start, end=None):
    "The `salt-fastai ...` lines of `path` between the heading or text `start` and `end` (code blocks and `spans`)"
    text = path.read_text()
    if path.suffix == '.ipynb': text = '\n'.join(''.join(c['source']) for c in json.loads(text)['cells'])
    text = text[text.index(start):]
    if end: text = text[:text.index(end)]
    cmds = re.findall(r'`(salt-fastai [^`\n]+)`', text)
    for block in re.findall(r'```bash\n(.*?)```', text, re.S):
        cmds += [re.sub(r'\s+#.*$', '', line) for line in block.splitlines() if line.startswith('salt-fastai')]
    return cmds

README_CMDS = page_commands(ROOT/'README.md', '## Use it on your data', '## Install options')
CLI_CMDS = page_commands(ROOT/'nbs'/'08_cli.ipynb', 'The forms below are stable', 'For several GPUs')


def test_pages_have_the_commands():
    "The lists this file runs are the pages' (so a new command on a page is run here, or this test says so)"
    assert [c.split()[1] for c in README_CMDS] == ['train', 'predict', 'export', 'predict', 'predict-segy', 'predict-segy',
                                                   'predict-segy', 'predict-segy', 'download', 'submit', '--help'], README_CMDS
    assert [c.split()[1] for c in CLI_CMDS] == ['synth', 'train', 'predict', 'export', 'predict', 'demo', 'download',
                                                '--version'], CLI_CMDS
    assert not any('--quiet' in c for c in README_CMDS + CLI_CMDS)


def run_as_typed(cmd, cwd, env, tty, timeout=600):
    "Run the shell line `cmd` in `cwd` with stdout and stderr a pseudo-terminal (`tty`) or a pipe: (status, output)"
    if not tty:
        r = subprocess.run(cmd, shell=True, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        return r.returncode, r.stdout.decode(errors='replace')
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, shell=True, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True)
    os.close(slave)
    out, end = bytearray(), time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 1.)
            if not ready:
                if p.poll() is not None: break
                continue
            try: chunk = os.read(master, 65536)
            except OSError: break  # the terminal closed: every process that held it ended
            if not chunk: break
            out += chunk
        else:
            os.killpg(p.pid, signal.SIGKILL); raise AssertionError(f"{cmd}: still running after {timeout} s")
    finally: os.close(master)
    return p.wait(timeout=60), out.decode(errors='replace')


@pytest.fixture(scope='module')
def kaggle_env(tmp_path_factory):
    "A fake `kaggle` package (download from a bundle, submit to a file), on PYTHONPATH; CUDA hidden (as in conftest)"
    tmp = tmp_path_factory.mktemp('typed_env')
    (tmp/'fake'/'kaggle').mkdir(parents=True)
    (tmp/'fake'/'kaggle'/'__init__.py').write_text(FAKE_KAGGLE_SUBMIT)
    synth = tmp/'synth'
    subprocess.run(['salt-fastai', 'synth', '--out', str(synth), '--n-train', '20', '--n-test', '4', '--seed', '2'],
                   check=True, capture_output=True)
    return {**os.environ, 'PYTHONPATH': str(tmp/'fake'), 'FAKE_BUNDLE': str(_bundle(synth, tmp/'bundle.zip')),
            'FAKE_SUBMITTED': str(tmp/'submitted.txt'), 'COLUMNS': '100'}


def _survey():
    "`survey.sgy`: the F3 crop of segyio's test data (the shared copy where present, else the tests' own)"
    shared = ROOT.parent/'shared'/'segy'/'f3.sgy'
    return shared if shared.exists() else ROOT/'tests'/'data'/'f3.sgy'


BARS = ('train', 'predict', 'predict-segy', 'demo')  # draw a progress bar unless --quiet (not on ONNX, no fastprogress)


def _check(cmd, status, out, tty):
    mode = 'terminal' if tty else 'pipe'
    assert status == 0, f"`{cmd}` in a {mode} exited {status}:\n{out[-3000:]}"
    assert 'Traceback' not in out and 'Warning' not in out, f"`{cmd}` in a {mode}:\n{out[-3000:]}"
    if cmd.split()[1] in BARS and '.onnx' not in cmd: assert '100.00%' in out, f"`{cmd}` in a {mode} drew no finished progress bar:\n{out[-2000:]}"


@pytest.mark.parametrize('tty', [True, False], ids=['terminal', 'pipe'])
def test_cli_page_as_typed(tty, tmp_path, kaggle_env):
    "The CLI page's lines in order, from an empty folder: each writes what it says (the demo only in a terminal: CI's main command runs it through a pipe)"
    for cmd in CLI_CMDS:
        if cmd.split()[1] == 'demo' and not tty: continue  # .ci/run runs the README's `salt-fastai demo` as typed
        _check(cmd, *run_as_typed(cmd, tmp_path, kaggle_env, tty), tty)
    check_submission(tmp_path/'submission.csv', tmp_path/'data'/'synth')
    check_submission(tmp_path/'submission_ort.csv', tmp_path/'data'/'synth')
    assert (tmp_path/'runs'/'synth'/'fold0'/'model.pth').exists() and (tmp_path/'model.onnx').stat().st_size > 0
    assert (tmp_path/'data'/'tgs'/'train.csv').exists()
    if tty: assert (tmp_path/'demo_run'/'submission.csv').exists()


@pytest.mark.parametrize('tty', [True, False], ids=['terminal', 'pipe'])
def test_readme_as_typed(tty, tmp_path, kaggle_env):
    "The README's lines in order, with DIR a synthetic competition folder and MINUTES a short budget"
    segyio = pytest.importorskip('segyio', reason="predict-segy needs segyio: pip install -e '.[dev]'")
    pytest.importorskip('onnxruntime', reason="the ONNX lines need onnxruntime: pip install -e '.[dev]'")
    subprocess.run(['salt-fastai', 'synth', '--out', str(tmp_path/'comp'), '--n-train', '60', '--n-test', '12', '--seed', '4'],
                   check=True, capture_output=True)
    os.symlink(_survey(), tmp_path/'survey.sgy')
    pytest.importorskip('mdio', reason="the MDIO lines need multidimio: pip install -e '.[dev]' (or '.[mdio]')")
    from salt_fastai.seismic import segy_to_mdio
    segy_to_mdio(_survey(), tmp_path/'survey.mdio')
    values = {'DIR': 'comp', 'RUN': 'run', 'MINUTES': '0.5', 'MSG': 'first', 'survey.sgy': 'survey.sgy'}
    for cmd in README_CMDS:
        typed = re.sub(r'\b(DIR|RUN|MINUTES|MSG)\b', lambda m: values[m.group(1)], cmd)
        assert not re.search(r'\b[A-Z]{3,}\b', typed), f"{cmd}: a placeholder this test does not know"
        _check(cmd, *run_as_typed(typed, tmp_path, kaggle_env, tty), tty)
    res = json.loads((tmp_path/'run'/'fold0'/'result.json').read_text())
    assert res['minutes'] is not None and res['seconds'] < 0.5 * 60 + 30, res
    for sub in ('submission.csv', 'submission_ort.csv'): check_submission(tmp_path/sub, tmp_path/'comp')
    with segyio.open(_survey()) as f, segyio.open(tmp_path/'salt.sgy') as g:
        assert (g.tracecount, len(g.samples)) == (f.tracecount, len(f.samples))
        assert [dict(h) for h in g.header] == [dict(h) for h in f.header]
    import numpy as np
    one, dask = (segyio.tools.cube(str(tmp_path/n)) for n in ('salt.sgy', 'salt_dask.sgy'))
    assert np.abs(one - dask).max() <= 1e-5  # the Dask cluster's survey is the in-process one
    import mdio  # the MDIO store's probabilities (2 processes), beside its amplitude, are the SEG-Y route's
    ds = mdio.open_mdio(str(tmp_path/'survey.mdio'))
    assert ds['salt_probability'].dims == ds['amplitude'].dims
    assert np.abs(ds['salt_probability'].values - one).max() <= 1e-5
    with segyio.open(_survey()) as f, segyio.open(tmp_path/'salt_mdio.sgy') as g:  # and back to SEG-Y
        assert [dict(h) for h in g.header] == [dict(h) for h in f.header]
        assert np.abs(segyio.tools.cube(g) - one).max() <= 1e-5
    assert Path(kaggle_env['FAKE_SUBMITTED']).read_text().startswith('tgs-salt-identification-challenge|first|')
