"""The ONNX path end to end: `salt-fastai export` of a trained run, then `salt-fastai predict --run MODEL.onnx` in a
Python where torch and fastai cannot be imported, checked against the torch path's submission of the same images."""
import json, os, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip('onnxruntime', reason="the ONNX path needs onnxruntime: pip install -e '.[dev]'")
from conftest import NO_TORCH, NO_TORCH_END, cli  # tests/conftest.py: also the `trained` fixture

def test_export_metadata(trained):
    "The file alone is enough to predict: threshold and minimum size of the run, input channels, size, folds"
    import onnxruntime
    sess = onnxruntime.InferenceSession(trained/'model.onnx', providers=['CPUExecutionProvider'])
    meta = {k: json.loads(v) for k, v in sess.get_modelmeta().custom_metadata_map.items()}
    info = json.loads((trained/'run'/'threshold.json').read_text())
    assert (meta['threshold'], meta['min_size']) == (info['threshold'], info['min_size'])
    assert (meta['n_in'], meta['size'], meta['folds'], meta['arch'], meta['tta']) == \
        (1, 128, ['fold0'], ['resnet18'], True)
    assert [i.shape for i in sess.get_inputs()][0][1:] == [1, 101, 101]

def test_predict_without_torch_matches_torch(trained):
    """`predict --run MODEL.onnx` runs where torch and fastai cannot be imported, and writes the torch path's
    submission. The engines' probabilities differ in the last float bits (their kernels sum in other orders; the
    gap is asserted within the 1e-3 of the export page), so only a pixel whose probability lies within that
    difference of the threshold can fall on the other side: every image whose run-length codes differ must have such
    a pixel, and nearly all images (at least 90%) must have identical codes"""
    data, sub_o, sub_t = trained/'data', trained/'ort.csv', trained/'torch.csv'
    r = cli('predict', '--data', data, '--run', trained/'model.onnx', '--out', sub_o,
            prelude=NO_TORCH, end=NO_TORCH_END)
    assert r.stdout == f'wrote {sub_o}\n' and r.stderr == '', (r.stdout, r.stderr)
    cli('predict', '--data', data, '--run', trained/'run', '--out', sub_t, '--quiet')
    a, b = [pd.read_csv(s, dtype=str, keep_default_na=False) for s in (sub_t, sub_o)]
    assert a.id.tolist() == b.id.tolist()
    from salt_fastai.inference import load_run, predict_folder, read_test_images
    from salt_fastai.ort import OnnxPredictor
    _, images, _ = read_test_images(data)
    models, metas, info = load_run(trained/'run', device='cpu')
    probs, _ = predict_folder(images, models, metas)
    gap = np.abs(OnnxPredictor(trained/'model.onnx').probs(images)[0] - probs).max()
    assert gap < 1e-3, gap
    near = (np.abs(probs - info['threshold']) <= gap).reshape(len(probs), -1).any(1)
    differ = (a.rle_mask != b.rle_mask).values
    assert not (differ & ~near).any(), f'images {np.flatnonzero(differ & ~near)} differ, no pixel near the threshold'
    assert differ.mean() <= 0.1, f'{differ.sum()} of {len(differ)} submissions rows differ'
    assert (a.rle_mask != '').any(), 'every mask is empty: the comparison would show nothing'

def test_no_tta_and_errors(trained, tmp_path):
    "One-line errors with their fix: a TTA graph asked for no TTA, a missing model, a bad --out, no onnxruntime"
    data = trained/'data'
    r = cli('predict', '--data', data, '--run', trained/'model.onnx', '--out', tmp_path/'s.csv', '--no-tta',
            check=False)
    assert r.returncode == 2 and 'export the run again with --no-tta' in r.stderr and 'Traceback' not in r.stderr
    r = cli('predict', '--data', data, '--run', tmp_path/'nope.onnx', '--out', tmp_path/'s.csv', check=False,
            prelude=NO_TORCH)
    assert r.returncode == 2 and 'nope.onnx: no such ONNX model' in r.stderr and 'Traceback' not in r.stderr
    r = cli('predict', '--data', data, '--run', trained/'model.onnx', '--out', tmp_path/'s.csv', check=False,
            prelude="import sys; sys.modules['onnxruntime'] = None\n")
    assert r.returncode == 2 and "pip install 'salt_fastai[onnx]'" in r.stderr and 'Traceback' not in r.stderr
    r = cli('export', '--run', trained/'run', '--out', tmp_path/'model.pt', check=False)
    assert r.returncode == 2 and 'expected a file name ending in .onnx' in r.stderr
    r = cli('export', '--run', trained/'run', '--out', trained/'model.onnx', check=False)
    assert r.returncode == 2 and 'exists: pass force=True (--force)' in r.stderr
