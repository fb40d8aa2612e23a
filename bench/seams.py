"""Seams and quality of sliding-window prediction over a section much larger than a window, and its speed and memory.

A resnet18 run is trained on synthetic 101x101 images (`make_synthetic_tgs`, as `salt-fastai demo` does; or give
`--run`). A synthetic section of `--samples` x `--traces` is built with the `synthetic` module's layers and
reflectivity, with smooth salt bodies a few windows wide that cross window borders, and written to SEG-Y (one
inline, IEEE float) with segyio. Then `predict_segy` predicts it with each way of placing and blending windows:
Gaussian-blended overlap 0.5 (the default) and 0.25, non-overlapping windows (overlap 0), and the centre crops of
windows overlapping by half (`blend='center'`). For each: the section's IoU against the true mask at the run's
threshold and at 0.5, `seismic.seam_ratio` (the mean jump across window borders over the mean jump elsewhere: 1 is no
seam), and the windows predicted. The methods are scored on the same section with the same model.

Speed and memory: the default way, with the run folder (torch) and with its ONNX export (onnxruntime), each in a
fresh Python (`--repeats` times, the fastest counted): traces per second of `predict_segy` (reading, normalising,
predicting, writing; the model loaded and warmed up before) and the process's peak resident memory (VmHWM), also
before predicting (imports, the model loaded and one batch run) so the difference is what the section adds.
Records `bench/results/seams.json` and draws the section with its predicted and true salt to
`nbs/images/seismic_section.png` (the seismic page shows both).

    python bench/seams.py                  # ~6 min on 2 cores (training ~4)
    python bench/seams.py --epochs 1 --n-train 60 --traces 300 --samples 150 --results /tmp/smoke --figure /tmp/s.png
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
from importlib.metadata import version

from hardware import ROOT, hardware_str, record, results_option  # bench/hardware.py
from runs import iou, run_options, synthetic_run  # bench/runs.py

METHODS = {'gaussian, overlap 0.5': (0.5, 'gaussian'), 'gaussian, overlap 0.25': (0.25, 'gaussian'),
           'no overlap': (0., 'mean'), 'centre crops, overlap 0.5': (0.5, 'center')}


def wide_section(seed=0, samples=400, traces=1000, scale=30., salt_part=0.3, wavelength=12.):
    "Float amplitudes `[samples, traces]` and their {0,1} salt mask: the `synthetic` module's sediments, smooth salt"
    from scipy import ndimage as ndi
    from salt_fastai.synthetic import layer_time, salt_drag, section_reflectivity, seismic_image
    rng = np.random.default_rng(seed)
    size = max(samples, traces)  # the synthetic module builds square sections: build one, keep the top rows
    field = ndi.gaussian_filter(rng.standard_normal((size, size)), (scale*0.7, scale*1.3))[:samples, :traces]
    salt = np.zeros((size, size), bool)
    salt[:samples, :traces] = field > np.quantile(field, 1 - salt_part)
    t = layer_time(rng, size) + salt_drag(rng, salt)
    amp = seismic_image(rng, section_reflectivity(rng, t, wavelength, salt), wavelength, salt)
    return amp[:samples, :traces].astype(np.float32), salt[:samples, :traces].astype(np.uint8)


MEASURE = """
import json, sys, time
import numpy as np
def hwm(): # peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited from the parent)
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))/1024
t0 = time.time()
from salt_fastai.seismic import predict_segy, window_predictor
predict, _ = window_predictor(sys.argv[2])
predict(np.zeros((int(sys.argv[5]), 101, 101), np.uint8)) # imports, the model loaded and warmed up
before = hwm()
t1 = time.time()
if sys.argv[4] == 'predict': predict_segy(sys.argv[1], sys.argv[2], sys.argv[3], bs=int(sys.argv[5]), force=True)
print(json.dumps(dict(seconds=time.time() - t1, startup_s=t1 - t0, rss_loaded_mb=before, rss_peak_mb=hwm())))
"""


def measure(src, run, dst, bs, predict=True, threads=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]))
    if threads: env.update(OMP_NUM_THREADS=str(threads))
    r = subprocess.run([sys.executable, '-c', MEASURE, str(src), str(run), str(dst), 'predict' if predict else 'load',
                        str(bs)], capture_output=True, text=True, env=env, timeout=1800)
    if r.returncode: raise SystemExit(f'measuring {run} failed:\n{r.stderr[-3000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    run_options(p)
    p.add_argument('--samples', type=int, default=400, help='samples (rows) of the section (default: %(default)s)')
    p.add_argument('--traces', type=int, default=1000, help='traces (columns) of the section (default: %(default)s)')
    p.add_argument('--seed', type=int, default=0, help='seed of the section (default: %(default)s)')
    p.add_argument('--bs', type=int, default=64, help='windows per batch (default: %(default)s)')
    p.add_argument('--repeats', type=int, default=2, help='timed runs per engine (default: %(default)s)')
    p.add_argument('--figure', type=Path, default=ROOT/'nbs'/'images'/'seismic_section.png',
                   help='the picture of the section (default: nbs/images/seismic_section.png)')
    results_option(p)
    a = p.parse_args()
    import segyio
    from salt_fastai.seismic import (amplitude_clip, plot_section, predict_segy, seam_ratio, to_uint8,
                                     window_predictor, window_starts)
    print(hardware_str(), flush=True)
    with tempfile.TemporaryDirectory(prefix='salt_bench_seams_') as tmp:
        tmp = Path(tmp)
        run, train_s, threshold = synthetic_run(a, tmp)
        amp, true = wide_section(a.seed, a.samples, a.traces)
        src = tmp/'section.sgy'
        segyio.tools.from_array(str(src), np.ascontiguousarray(amp.T[None]), format=5, dt=4000)
        rows = {}
        for name, (overlap, blend) in METHODS.items():
            t = time.time()
            probs = np.load(predict_segy(src, run, tmp/'p.npy', overlap=overlap, blend=blend, bs=a.bs,
                                         force=True))[0].T
            n_win = len(window_starts(a.samples, overlap=overlap))*len(window_starts(a.traces, overlap=overlap))
            rows[name] = dict(overlap=overlap, blend=blend, windows=n_win, seconds=time.time() - t,
                              iou=iou(probs > threshold, true), iou_05=iou(probs > 0.5, true),
                              seam_ratio=seam_ratio(probs, overlap, blend))
            if name == 'gaussian, overlap 0.5': best = probs
            print(f"{name}: IoU {rows[name]['iou']:.4f} (0.5: {rows[name]['iou_05']:.4f}), seam ratio "
                  f"{rows[name]['seam_ratio']:.2f}, {n_win} windows", flush=True)
        import matplotlib; matplotlib.use('Agg')
        section = to_uint8(amp, amplitude_clip(amp))
        fig = plot_section(section, best, true, threshold, title=(
            f"synthetic section, {a.samples} samples x {a.traces} traces, Gaussian-blended windows (overlap 0.5), "
            f"IoU {rows['gaussian, overlap 0.5']['iou']:.3f}; {a.arch} trained on synthetic 101x101 images"))
        fig.savefig(a.figure, dpi=80, bbox_inches='tight')
        print(f'figure written to {a.figure}')
        from salt_fastai.export import export_onnx
        onnx = export_onnx(run, tmp/'model.onnx')
        speed = {}
        for engine, model in (('torch', run), ('onnxruntime', onnx)):
            runs = [measure(src, model, tmp/'s.sgy', a.bs) for _ in range(a.repeats)]
            fastest = min(runs, key=lambda r: r['seconds'])
            speed[engine] = dict(traces_per_s=a.traces/fastest['seconds'], seconds=fastest['seconds'],
                                 all_seconds=[r['seconds'] for r in runs], rss_loaded_mb=fastest['rss_loaded_mb'],
                                 rss_peak_mb=max(r['rss_peak_mb'] for r in runs),
                                 startup_s=fastest['startup_s'])
            print(f"{engine}: {speed[engine]['traces_per_s']:.0f} traces/s, peak {speed[engine]['rss_peak_mb']:.0f} MB"
                  f" ({speed[engine]['rss_loaded_mb']:.0f} MB loaded)", flush=True)
    figures = dict(methods=rows, speed=speed, threshold=threshold, train_seconds=train_s, section_mb=amp.nbytes/2**20,
                   salt_part=float(true.mean()), segyio=version('segyio'), load_average=os.getloadavg())
    record('seams', {k: v for k, v in vars(a).items() if k not in ('results', 'figure')}, figures, results=a.results)


if __name__ == '__main__': main()
