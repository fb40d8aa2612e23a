"""`salt-fastai predict-segy --workers N` on a local Dask cluster: a worker process killed with SIGKILL mid-survey
(Dask runs its tasks again, the output is the uninterrupted one), the command itself killed (nothing at `--out`), and
the refusals of the Dask options (one line, nothing written)."""
import os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest

segyio = pytest.importorskip('segyio', reason="SEG-Y needs segyio: pip install -e '.[dev]' (or '.[segy]')")
pytest.importorskip('distributed', reason="Dask surveys need dask.distributed: pip install -e '.[dev]' (or '.[dask]')")
psutil = pytest.importorskip('psutil', reason='psutil (a dependency of distributed) finds the worker processes')
from conftest import ROOT, cli  # tests/conftest.py: also the `trained` fixture (run + ONNX)


@pytest.fixture(scope='module')
def survey(tmp_path_factory):
    "A synthetic post-stack survey of 24 inlines x 110 crosslines x 120 samples (2,640 traces)"
    from salt_fastai.synthetic import synthetic_section
    cube = np.stack([(synthetic_section(k, p_salt=1, p_blank=0, size=120)[0][:, :110].T.astype(np.float32) - 128) * 30
                     for k in range(24)])  # [inlines, crosslines, samples]
    path = tmp_path_factory.mktemp('survey')/'survey.sgy'
    segyio.tools.from_array(str(path), np.ascontiguousarray(cube), format=5, dt=4000)
    return path


def _start(args, tmp_path):
    code = "import sys\nfrom salt_fastai.cli import main\nmain(sys.argv[1:])"
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    return subprocess.Popen([sys.executable, '-c', code, 'predict-segy', *map(str, args)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _workers(p):
    "The Dask worker processes that the command `p` started"
    try: return [c for c in psutil.Process(p.pid).children(recursive=True) if 'spawn_main' in ' '.join(c.cmdline())]
    except psutil.NoSuchProcess: return []


def _zarr_chunks(tmp_path):
    "The chunks written so far of the inline pass's Zarr store (zarr 3 keeps them under c/, zarr 2 beside zarr.json)"
    return [*tmp_path.glob('.*/inlines.zarr/c/*'), *tmp_path.glob('.*/inlines.zarr/[0-9]*')]


def test_worker_killed_mid_survey(trained, survey, tmp_path):
    "SIGKILL one of 2 workers once the first blocks are written: Dask reruns its tasks; the output is the in-process one"
    run = trained/'run'
    cli('predict-segy', '--segy', survey, '--run', run, '--out', tmp_path/'one.npy', '--quiet')  # in-process
    want = np.load(tmp_path/'one.npy')
    p = _start(['--segy', survey, '--run', run, '--out', tmp_path/'dask.npy', '--workers', 2, '--block', 2], tmp_path)
    killed, t0 = None, time.monotonic()
    while p.poll() is None and time.monotonic() - t0 < 300 and killed is None:
        if _zarr_chunks(tmp_path) and len(workers := _workers(p)) >= 2:
            killed = workers[0].pid; os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    out, err = p.communicate(timeout=600)
    assert killed is not None, 'the survey ended before a worker could be killed'
    assert p.returncode == 0, err.decode()[-3000:]
    assert np.abs(np.load(tmp_path/'dask.npy') - want).max() <= 1e-5
    assert not list(tmp_path.glob('.dask.npy.*'))  # the work folder is gone


def test_client_killed_leaves_no_output(trained, survey, tmp_path):
    "The command (and its cluster) killed mid-survey: nothing appears at --out"
    p = _start(['--segy', survey, '--run', trained/'run', '--out', tmp_path/'salt.sgy', '--workers', 2, '--block', 2],
               tmp_path)
    t0 = time.monotonic()
    while p.poll() is None and not _zarr_chunks(tmp_path) and time.monotonic() - t0 < 300: time.sleep(0.05)
    assert p.poll() is None, p.communicate()[1].decode()[-3000:]
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    assert not (tmp_path/'salt.sgy').exists()


def test_dask_refusals(trained, tmp_path):
    "A scheduler that does not answer (within SCHEDULER_TIMEOUT), --workers 0, both Dask options: one line each, nothing written"
    from salt_fastai.seismic import SCHEDULER_TIMEOUT
    f3, run = ROOT/'tests'/'data'/'f3.sgy', trained/'run'
    cases = [(['--scheduler', 'tcp://127.0.0.1:9'], 'no Dask scheduler answered within'),
             (['--workers', '0'], "--workers: expected int >= 1, got '0'"),
             (['--workers', '2', '--scheduler', 'tcp://127.0.0.1:9'], 'not allowed with argument')]
    for extra, why in cases:
        t0 = time.monotonic()
        r = cli('predict-segy', '--segy', f3, '--run', run, '--out', tmp_path/'o.sgy', '--quiet', *extra, check=False)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and why in lines[0], (extra, r.stderr)
        assert time.monotonic() - t0 < SCHEDULER_TIMEOUT + 30, extra
        assert list(tmp_path.iterdir()) == [], extra
