"""A survey through `predict_segy`: in one process against a local Dask cluster of 1 and 2 worker processes.

A synthetic post-stack survey (`--inlines` x `--xlines` x `--samples`, built from `synthetic_section`s, written with
segyio) is predicted with a resnet18 run (untrained: speed does not depend on the weights) as a torch run folder and
as its ONNX export, `predict_segy`'s default overlap (`seismic.OVERLAP`), Gaussian blend, flip TTA, into `.npy`:

- `inprocess_onnx`, `inprocess_torch` (the run folder at `window_predictor`'s default: bf16 autocast and
  channels-last where the CPU has native bf16), `inprocess_torch_fp32` (`autocast=False`): `predict_segy` in process;
- `dask_1`, `dask_2`: `predict_segy(workers=N)` with the ONNX file (`cores / N` threads each), blocks of `--block`
  inlines, cluster start-up included; `dask_2_torch` the run folder on 2 workers;
- `mdio_inprocess_onnx`, `mdio_dask_2`: the same survey ingested into MDIO (`segy_to_mdio`, timed as `mdio_ingest_s`),
  in process and on 2 workers (with the `.[mdio]` extra; left out without it);
- the same 2-worker routes (SEG-Y and MDIO) on a survey `--grow` times as many inlines, for each worker's peak memory
  as the survey grows (`rss_growth`: its worker peak over the small survey's);
- the scheduler's per-task overhead: `--tasks` empty tasks on the 2-worker cluster, wall time per task;
- per-window inference, `--windows` windows of 101x101 (flip TTA) on all cores: torch fp32 (today's CPU path), torch
  bf16 autocast with channels-last, onnxruntime fp32; windows/s and the largest probability difference from fp32.

Each row records seconds, traces/s and the peak resident memory of the client and of its largest worker (sampled
every 50 ms with psutil), and the largest difference from the in-process ONNX result. Writes `bench/results/survey.json`.

    python bench/survey.py
"""
import argparse, json, os, tempfile, threading, time
from pathlib import Path

import numpy as np

from hardware import record, results_option  # bench/hardware.py (scripts run as `python bench/NAME.py`)


class PeakRSS:
    "The peak resident memory (MB) of this process and of its largest child, sampled in a thread"
    def __init__(self): self.client = self.worker = 0.
    def __enter__(self):
        import psutil
        me, self.stop = psutil.Process(), False
        def sample():
            while not self.stop:
                try:
                    self.client = max(self.client, me.memory_info().rss / 2**20)
                    for c in me.children(recursive=True):
                        if 'spawn_main' in ' '.join(c.cmdline()): self.worker = max(self.worker, c.memory_info().rss / 2**20)
                except Exception: pass
                time.sleep(0.05)
        self.thread = threading.Thread(target=sample, daemon=True); self.thread.start()
        return self
    def __exit__(self, *exc): self.stop = True; self.thread.join()


def make_survey(path, n_il, n_xl, n_s, seed=0):
    import segyio
    from salt_fastai.synthetic import synthetic_section
    side = max(n_xl, n_s)
    cube = np.stack([(synthetic_section(seed + k, p_salt=1, p_blank=0, size=side)[0][:n_s, :n_xl].T.astype(np.float32)
                      - 128) * 30 for k in range(n_il)])
    segyio.tools.from_array(str(path), np.ascontiguousarray(cube), format=5, dt=4000)
    with segyio.open(str(path), 'r+') as f:  # segyio writes a coordinate scalar of 0, which multidimio refuses
        for i in range(f.tracecount): f.header[i] = {segyio.TraceField.SourceGroupScalar: 1}
    return path


def window_paths(run, onnx, n, bs=64, rounds=3):
    "Windows/s and the largest difference from torch fp32 of each way to predict `n` uint8 windows (median of rounds)"
    import statistics, torch
    from salt_fastai.core import crop_pad
    from salt_fastai.data import model_inputs
    from salt_fastai.inference import load_run
    from salt_fastai.model import amp_dtype, predict_probs
    from salt_fastai.ort import OnnxPredictor
    w = np.random.default_rng(0).integers(0, 256, (n, 101, 101), dtype=np.uint8)
    (model,), (meta,), _ = load_run(run, device='cpu')
    def torch_path(dtype):
        m = model.to(memory_format=torch.channels_last) if dtype else model.to(memory_format=torch.contiguous_format)
        out = []
        with torch.no_grad(), torch.autocast('cpu', dtype=dtype or torch.float32, enabled=dtype is not None):
            for i in range(0, n, bs):
                x = model_inputs(w[i:i+bs], None, 1, meta.get('size', 128))
                if dtype: x = x.contiguous(memory_format=torch.channels_last)
                out.append(crop_pad(predict_probs(m, x)).float().numpy())  # back to 101x101
        return np.concatenate(out)
    ort = OnnxPredictor(onnx)
    paths = {'torch_fp32': lambda: torch_path(None), 'torch_bf16_channels_last': lambda: torch_path(amp_dtype('cpu')),
             'onnxruntime_fp32': lambda: ort.probs(w, bs=bs)[0]}
    ref, res = None, {}
    for name, f in paths.items():
        if name == 'torch_bf16_channels_last' and amp_dtype('cpu') is None: continue  # no native bf16 here
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter(); p = f(); times.append(time.perf_counter() - t0)
        ref = p if ref is None else ref
        res[name] = dict(windows_per_s=round(n / statistics.median(times), 1), max_diff=float(np.abs(p - ref).max()))
        print(name, res[name], flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--inlines', type=int, default=40)
    ap.add_argument('--xlines', type=int, default=300)
    ap.add_argument('--samples', type=int, default=400)
    ap.add_argument('--block', type=int, default=4)
    ap.add_argument('--tasks', type=int, default=200)
    ap.add_argument('--windows', type=int, default=512)
    ap.add_argument('--grow', type=int, default=10, help='the large survey has this many times the inlines (0: none)')
    results_option(ap)
    a = ap.parse_args()
    import shutil, torch
    from salt_fastai.model import salt_model, save_checkpoint
    from salt_fastai.export import export_onnx
    from salt_fastai.seismic import OVERLAP, predict_segy, dask_client

    tmp = Path(tempfile.mkdtemp())
    src = make_survey(tmp/'survey.sgy', a.inlines, a.xlines, a.samples)
    n_traces = a.inlines * a.xlines
    torch.manual_seed(0)
    save_checkpoint(salt_model('resnet18', pretrained=False), tmp/'run'/'fold0'/'model.pth', score=0.)
    onnx = export_onnx(tmp/'run', tmp/'model.onnx')
    big = make_survey(tmp/'big.sgy', a.inlines * a.grow, a.xlines, a.samples) if a.grow else None
    two = dict(workers=2, block=a.block)
    cases = [('inprocess_onnx', onnx, {}, src), ('inprocess_torch', tmp/'run', {}, src),
             ('inprocess_torch_fp32', tmp/'run', dict(autocast=False), src),
             ('dask_1', onnx, dict(workers=1, block=a.block), src), ('dask_2', onnx, two, src),
             ('dask_2_torch', tmp/'run', two, src)] + ([(f'dask_2_x{a.grow}', onnx, two, big)] if big else [])
    ingest_s = None
    try: from salt_fastai.seismic import segy_to_mdio; import mdio  # noqa: F401  (the .[mdio] extra)
    except ImportError: print('no multidimio: the MDIO rows are left out', flush=True)
    else:
        t0 = time.perf_counter(); store = segy_to_mdio(src, tmp/'survey.mdio'); ingest_s = round(time.perf_counter() - t0, 2)
        cases += [('mdio_inprocess_onnx', onnx, {}, store), ('mdio_dask_2', onnx, two, store)]
        if big: cases += [(f'mdio_dask_2_x{a.grow}', onnx, two, segy_to_mdio(big, tmp/'big.mdio'))]
    rows, ref, big_ref = {}, None, None
    for name, run, kw, survey in cases:
        out = tmp/f'{name}.npy'
        with PeakRSS() as rss:
            t0 = time.perf_counter(); predict_segy(survey, run, out, **kw); dt = time.perf_counter() - t0
        p = np.load(out)
        if ref is None: ref = p
        if p.shape != ref.shape and big_ref is None: big_ref = p
        n = p.shape[0] * p.shape[1] # traces
        rows[name] = dict(seconds=round(dt, 2), traces_per_s=round(n / dt, 1), rss_client_mb=round(rss.client),
                          rss_worker_mb=round(rss.worker) if 'workers' in kw else None, traces=n,
                          max_diff=float(np.abs(p - (ref if p.shape == ref.shape else big_ref)).max()))
        out.unlink()
        print(name, rows[name], flush=True)
    client, cluster = dask_client(workers=2)
    try:
        client.gather(client.map(lambda i: i, range(20), pure=False))  # warm
        t0 = time.perf_counter(); client.gather(client.map(lambda i: i, range(a.tasks), pure=False))
        per_task_ms = 1e3 * (time.perf_counter() - t0) / a.tasks
    finally: client.close(); cluster.close()
    windows = window_paths(tmp/'run', onnx, a.windows)
    figures = dict(windows=windows, traces=n_traces, shape=[a.inlines, a.xlines, a.samples], rows=rows,
                   scaling_2_over_1=round(rows['dask_2']['traces_per_s'] / rows['dask_1']['traces_per_s'], 3),
                   per_task_overhead_ms=round(per_task_ms, 2), cores=os.cpu_count(), mdio_ingest_s=ingest_s,
                   overlap=OVERLAP, grow=a.grow,
                   rss_growth={k: round(rows[f'{k}_x{a.grow}']['rss_worker_mb'] / rows[k]['rss_worker_mb'], 3)
                               for k in ('dask_2', 'mdio_dask_2') if f'{k}_x{a.grow}' in rows})
    print(json.dumps(figures, indent=1))
    record('survey', {k: v for k, v in vars(a).items() if k != 'results'}, figures, results=a.results)
    shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
