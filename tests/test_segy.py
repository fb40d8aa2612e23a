"""`salt-fastai predict-segy` end to end on real SEG-Y files (segyio's test data, `tests/data/README.md`): a trained
run and its ONNX export (in a Python where torch cannot be imported) over the F3 survey, a synthetic section written
to SEG-Y with segyio, and every bad input refused in one line with nothing written."""
from pathlib import Path
import numpy as np, pytest

segyio = pytest.importorskip('segyio', reason="SEG-Y needs segyio: pip install -e '.[dev]' (or '.[segy]')")
pytest.importorskip('onnxruntime', reason="the ONNX path needs onnxruntime: pip install -e '.[dev]'")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT/'tests'/'data'
from conftest import NO_TORCH, NO_TORCH_END, cli  # tests/conftest.py: also the `trained` fixture (run + ONNX)

def cube(path):
    with segyio.open(path) as f: return segyio.tools.cube(f)

def test_run_and_onnx_on_f3(trained, tmp_path):
    """Same geometry and trace headers as the input, values in [0, 1] (or {0, 1}); onnxruntime without torch agrees with
    the run in fp32 (`--no-amp`; by default a run's windows are bf16 where the CPU has it natively)"""
    src = DATA/'f3.sgy'
    out_t, out_o, out_m = tmp_path/'f3_torch.sgy', tmp_path/'f3_onnx.sgy', tmp_path/'f3_mask.segy'
    r = cli('predict-segy', '--segy', src, '--run', trained/'run', '--out', out_t, '--quiet', '--no-amp')  # fp32
    assert r.stdout == f'wrote {out_t}\n', r.stdout
    r = cli('predict-segy', '--segy', src, '--run', trained/'model.onnx', '--out', out_o, '--quiet',
            prelude=NO_TORCH, end=NO_TORCH_END)
    assert r.stdout == f'wrote {out_o}\n' and r.stderr == '', (r.stdout, r.stderr)
    cli('predict-segy', '--segy', src, '--run', trained/'run', '--out', out_m, '--mask', '--both-directions',
        '--quiet')
    with segyio.open(src) as f:
        for out in (out_t, out_o, out_m):
            with segyio.open(out) as g:
                assert (list(g.ilines), list(g.xlines), list(g.samples)) == \
                       (list(f.ilines), list(f.xlines), list(f.samples))
                assert [dict(h) for h in g.header] == [dict(h) for h in f.header]
                assert g.bin[segyio.BinField.Format] == 5 and g.dtype == np.float32
    p, q, m = cube(out_t), cube(out_o), cube(out_m)
    assert 0 <= p.min() and p.max() <= 1 and p.std() > 1e-3, (p.min(), p.max(), p.std())
    assert np.abs(p - q).max() < 1e-3, np.abs(p - q).max()
    assert set(np.unique(m)) <= {0., 1.}

def test_synthetic_section_through_segy(trained, tmp_path):
    "A section much wider than a window, written to SEG-Y with segyio, comes back as `predict_section` predicts it"
    from salt_fastai.synthetic import synthetic_section
    from salt_fastai.seismic import amplitude_clip, predict_section, to_uint8, window_predictor
    image, _ = synthetic_section(3, p_salt=1, p_blank=0, size=400)
    amp = (image[:150].astype(np.float32) - 128)*37.5 # [samples, traces]: 150 samples x 400 traces, one inline
    segyio.tools.from_array(tmp_path/'line.sgy', np.ascontiguousarray(amp.T[None]), format=5, dt=2000)
    out = tmp_path/'line_salt.npy'
    cli('predict-segy', '--segy', tmp_path/'line.sgy', '--run', trained/'model.onnx', '--out', out, '--quiet')
    got = np.load(out)
    assert got.shape == (1, 400, 150)
    predict, _ = window_predictor(trained/'model.onnx')
    want = predict_section(predict, to_uint8(amp, amplitude_clip(amp)))
    assert np.abs(got[0].T - want).max() < 1e-5

def test_bad_inputs(trained, tmp_path):
    "Each bad input: exit code 2, one line naming the file and what is wrong, no traceback, nothing written"
    f3, run = DATA/'f3.sgy', trained/'run'
    (tmp_path/'not_a_run').mkdir()
    (tmp_path/'exists.sgy').write_bytes(b'mine')
    cases = [(DATA/'broken.sgy', run, tmp_path/'o.sgy', 'broken.sgy: not a whole SEG-Y file'),
             (DATA/'text.sgy', run, tmp_path/'o.sgy', 'text.sgy: no traces after the 3600-byte headers'),
             (DATA/'shot-gather.sgy', run, tmp_path/'o.sgy', 'shot-gather.sgy: its traces are not sorted by inline'),
             (DATA/'small-ps.sgy', run, tmp_path/'o.sgy', 'small-ps.sgy: pre-stack, 2 offsets per trace'),
             (tmp_path/'nope.sgy', run, tmp_path/'o.sgy', 'nope.sgy: no such SEG-Y file'),
             (f3, tmp_path/'not_a_run', tmp_path/'o.sgy', 'not_a_run: no fold*/model.pth checkpoints'),
             (f3, tmp_path/'nowhere', tmp_path/'o.sgy', 'nowhere: no such run folder, checkpoint or .onnx file'),
             (f3, run, tmp_path/'missing'/'o.sgy', 'its folder'),
             (f3, run, tmp_path/'exists.sgy', 'exists.sgy exists: pass force=True (--force)')]
    for src, r, out, why in cases:
        before = sorted(tmp_path.rglob('*'))
        res = cli('predict-segy', '--segy', src, '--run', r, '--out', out, '--quiet', check=False)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and why in lines[0], (why, res.stderr)
        assert sorted(tmp_path.rglob('*')) == before, why
    assert (tmp_path/'exists.sgy').read_bytes() == b'mine'

def test_bad_mdio_inputs(trained, tmp_path):
    "MDIO and Zarr inputs and outputs each bad in one way: exit code 2, one line naming it and the fix, nothing written"
    pytest.importorskip('mdio', reason="MDIO stores need multidimio: pip install -e '.[dev]' (or '.[mdio]')")
    import shutil, zarr
    from salt_fastai.seismic import segy_to_mdio
    store, run = segy_to_mdio(DATA/'f3.sgy', tmp_path/'f3.mdio'), trained/'run'
    shutil.copytree(store, tmp_path/'noamp.mdio'); shutil.rmtree(tmp_path/'noamp.mdio'/'amplitude')
    zarr.open_group(str(tmp_path/'other.zarr'), mode='w').create_array('foo', shape=(3,), dtype='f4')
    cli('predict-segy', '--segy', store, '--run', run, '--out', store, '--quiet')  # salt_probability beside amplitude
    cases = [(tmp_path/'noamp.mdio', tmp_path/'o.npy', "noamp.mdio: a Zarr store without an MDIO 'amplitude' variable"),
             (tmp_path/'other.zarr', tmp_path/'o.npy', 'other.zarr: not an MDIO store'),
             (tmp_path/'nope.mdio', tmp_path/'o.npy', 'nope.mdio: no such MDIO store'),
             (DATA/'f3.sgy', tmp_path/'o.mdio', 'o.mdio: an MDIO output needs an MDIO input: ingest f3.sgy'),
             (store, store, "f3.mdio has a 'salt_probability' variable: pass force=True (--force)"),
             (store, tmp_path/'o.txt', 'o.txt: expected an output ending in .sgy, .segy, .npy, .zarr or .mdio')]
    for src, out, why in cases:
        before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob('*')}
        res = cli('predict-segy', '--segy', src, '--run', run, '--out', out, '--quiet', check=False)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and why in lines[0], (why, res.stderr)
        assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob('*')} == before, why

def write_line(path, amp, first_cdp=1001):
    "A 2D line: `amp` `[samples, traces]` as traces with a CDP number each and no inline/crossline geometry"
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, list(range(0, 2 * amp.shape[0], 2)), amp.shape[1]
    with segyio.create(str(path), spec) as f:
        for t in range(amp.shape[1]):
            f.header[t] = {segyio.TraceField.CDP: first_cdp + t, segyio.TraceField.TRACE_SEQUENCE_LINE: t + 1,
                           segyio.TraceField.CDP_X: 5000 + 25 * t, segyio.TraceField.TRACE_SAMPLE_INTERVAL: 2000}
            f.trace[t] = np.ascontiguousarray(amp[:, t], np.float32)
    return path

def test_2d_line(trained, tmp_path):
    """A 2D line through the command as typed (its progress bar on): the prediction of its one section, every trace
    header copied; `--both-directions` is refused in one line with nothing written"""
    from salt_fastai.synthetic import synthetic_section
    from salt_fastai.seismic import amplitude_clip, predict_section, to_uint8, window_predictor
    image, _ = synthetic_section(5, p_salt=1, p_blank=0, size=300)
    amp = (image[:120].astype(np.float32) - 128) * 20.
    src, out = write_line(tmp_path/'line.sgy', amp), tmp_path/'line_salt.sgy'
    r = cli('predict-segy', '--segy', src, '--run', trained/'model.onnx', '--out', out)
    assert r.stdout.endswith(f'wrote {out}\n'), r.stdout
    predict, _ = window_predictor(trained/'model.onnx')
    with segyio.open(src, ignore_geometry=True) as f, segyio.open(out, ignore_geometry=True) as g:
        assert [dict(h) for h in g.header] == [dict(h) for h in f.header]
        got = g.trace.raw[:].T
    assert np.abs(got - predict_section(predict, to_uint8(amp, amplitude_clip(amp)))).max() < 1e-5
    before = sorted(tmp_path.iterdir())
    r = cli('predict-segy', '--segy', src, '--run', trained/'model.onnx', '--out', tmp_path/'both.sgy',
            '--both-directions', '--quiet', check=False)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and 'a 2D line has no crosslines' in lines[0], r.stderr
    assert sorted(tmp_path.iterdir()) == before
