"""Helpers and fixtures shared by the end-to-end test files: `salt-fastai` in a fresh interpreter (with torch
blocked when asked), and one trained run with its ONNX export for the ONNX and SEG-Y tests (trained once)."""
import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
# These tests check the CPU path (tolerances measured on a CPU, gloo processes, fp32 ONNX comparisons): on a machine
# with a GPU they hide it, from this process and from every command they start. `bench/gpu_check.py` checks the GPU.
os.environ['CUDA_VISIBLE_DEVICES'] = ''
# pytest-xdist's workers share the cores (pyproject.toml's addopts): each, and each command it starts, gets its share
# of OpenMP threads, as the ones that would otherwise compete stall (unless OMP_NUM_THREADS is set already, as CI does)
if 'PYTEST_XDIST_WORKER_COUNT' in os.environ and 'OMP_NUM_THREADS' not in os.environ:
    os.environ['OMP_NUM_THREADS'] = str(max(1, (os.cpu_count() or 1) // int(os.environ['PYTEST_XDIST_WORKER_COUNT'])))
HEAVY = ('torch', 'fastai', 'timm', 'torchvision')
# `import torch` (and fastai, timm) raise ImportError in this interpreter; at the end none of them may have loaded
NO_TORCH = f"import sys\nfor m in {HEAVY!r}: sys.modules[m] = None\n"
NO_TORCH_END = f"\nassert all(sys.modules.get(m) is None for m in {HEAVY!r}), 'torch was imported'"

def cli(*args, prelude='', end='', check=True):
    "Run `salt-fastai ARGS` in a fresh interpreter of this checkout, after `prelude`"
    code = prelude + "import sys\nfrom salt_fastai.cli import main\nmain(sys.argv[1:])" + end
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]))
    r = subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, text=True, timeout=900,
                       env=env)
    if check and r.returncode:
        raise AssertionError(f"salt-fastai {' '.join(map(str, args))} failed ({r.returncode}):\n"
                             f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r

@pytest.fixture(scope='session')
def trained(tmp_path_factory):
    "Synthetic data and a one-epoch run on it (a trained model's probabilities are not all close to 0.5)"
    tmp = tmp_path_factory.mktemp('onnx')
    cli('synth', '--out', tmp/'data', '--n-train', 40, '--n-test', 24, '--seed', 5)
    cli('train', '--data', tmp/'data', '--arch', 'resnet18', '--epochs', 1, '--bs', 8, '--out', tmp/'run', '--quiet')
    cli('export', '--run', tmp/'run', '--out', tmp/'model.onnx')
    return tmp
