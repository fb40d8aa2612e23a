"""IoU and speed of `predict_segy` over a labelled synthetic 3D survey, per overlap, direction, engine and TTA.

A resnet18 run is trained on synthetic 101x101 images (as bench/seams.py does; or give `--run`). A survey of
`--shape` (inlines, crosslines, samples) is made by `synthetic.synthetic_survey` (one diapir, continuous across
inlines and crosslines, with its true salt) and written to SEG-Y with segyio. `predict_segy` then predicts it, in
process, by each route of `ROUTES`: the engine (the run folder in torch fp32, the same with bf16 autocast and
channels-last, `window_predictor`'s default on a CPU with native bf16, or its ONNX export in onnxruntime), the
overlap (0.5, or 0.25, the default), the inline pass alone or averaged with the crossline pass, flip TTA on or off.
For each route: the survey's IoU against the true salt at the run's threshold (all voxels of the survey together),
the mean IoU of its inlines that hold salt, the seconds and traces per second (reading, normalising, predicting and
writing `.npy`, the model loaded inside), and the largest difference from the default route. Every route predicts the
same survey with the same weights, one after another in this process. Records `bench/results/survey_iou.json`; the
seismic page shows it with a picture of one inline and one time slice (`--figure`).

    python bench/survey_iou.py      # ~12 min on 2 cores (training ~7)
    python bench/survey_iou.py --epochs 1 --n-train 60 --shape 8 60 60 --results /tmp/smoke --figure /tmp/s.png
"""
import argparse, os, tempfile, time
from pathlib import Path

import numpy as np

from hardware import ROOT, hardware_str, record, results_option  # bench/hardware.py
from runs import iou, run_options, synthetic_run  # bench/runs.py

# name: (engine, overlap, both directions, flip TTA); the first is `predict-segy`'s old default with an ONNX file.
# 'torch' is the run folder in fp32 (`autocast=False`), 'torch bf16' its default where the CPU computes bf16 natively
ROUTES = {'onnx, overlap 0.5, inlines, TTA': ('onnx', 0.5, False, True),
          'onnx, overlap 0.25, inlines, TTA': ('onnx', 0.25, False, True),
          'onnx, overlap 0.25, inlines, no TTA': ('onnx', 0.25, False, False),
          'onnx, overlap 0.5, both directions, TTA': ('onnx', 0.5, True, True),
          'onnx, overlap 0.25, both directions, TTA': ('onnx', 0.25, True, True),
          'torch, overlap 0.5, inlines, TTA': ('torch', 0.5, False, True),
          'torch bf16, overlap 0.5, inlines, TTA': ('torch bf16', 0.5, False, True),
          'torch bf16, overlap 0.25, inlines, TTA': ('torch bf16', 0.25, False, True)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    run_options(p)
    p.add_argument('--shape', type=int, nargs=3, default=[40, 300, 400], metavar=('IL', 'XL', 'SAMPLES'),
                   help='the survey (default: %(default)s, the 12,000 traces of bench/survey.py)')
    p.add_argument('--seed', type=int, default=0, help='seed of the survey (default: %(default)s)')
    p.add_argument('--bs', type=int, default=64, help='windows per batch (default: %(default)s)')
    p.add_argument('--figure', type=Path, default=ROOT/'nbs'/'images'/'synthetic_survey.png',
                   help='the picture of an inline and a time slice (default: nbs/images/synthetic_survey.png)')
    results_option(p)
    a = p.parse_args()
    import segyio
    from salt_fastai.export import export_onnx
    from salt_fastai.model import amp_dtype
    from salt_fastai.seismic import predict_segy
    from salt_fastai.synthetic import synthetic_survey
    print(hardware_str(), flush=True)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix='salt_bench_survey_iou_') as tmp:
        tmp = Path(tmp)
        run, train_s, threshold = synthetic_run(a, tmp)
        amp, true = synthetic_survey(a.seed, a.shape)
        src = tmp/'survey.sgy'
        segyio.tools.from_array(str(src), amp, format=5, dt=4000)
        models = {('onnx', True): export_onnx(run, tmp/'tta.onnx'),
                  ('onnx', False): export_onnx(run, tmp/'no_tta.onnx', tta=False)}
        n_traces, rows, ref = a.shape[0]*a.shape[1], {}, None
        for name, (engine, overlap, both, tta) in ROUTES.items():
            if engine.startswith('torch') and engine != 'torch' and amp_dtype('cpu') is None:
                continue # no native bf16 on this CPU: the route would be fp32 again
            model = run if engine.startswith('torch') else models[('onnx', tta)]
            t = time.perf_counter()
            probs = np.load(predict_segy(src, model, tmp/'p.npy', overlap=overlap, both_directions=both, tta=tta,
                                         bs=a.bs, force=True, autocast=None if engine == 'torch bf16' else False))
            dt = time.perf_counter() - t
            ref = probs if ref is None else ref
            pred = probs > threshold
            per_inline = [iou(pred[k], true[k]) for k in range(len(true)) if true[k].any()]
            rows[name] = dict(engine=engine, overlap=overlap, both_directions=both, tta=tta, seconds=round(dt, 2),
                              traces_per_s=round(n_traces/dt, 1), iou=round(iou(pred, true), 4),
                              mean_inline_iou=round(float(np.mean(per_inline)), 4),
                              max_diff=float(np.abs(probs - ref).max()))
            if name == next(iter(ROUTES)): best = probs
            print(name, rows[name], flush=True)
        import matplotlib; matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        k, s = a.shape[0]//2, int(np.argmax(true.sum((0, 1))))  # the middle inline; the sample with the most salt
        fig, axs = plt.subplots(1, 2, figsize=(12, 4.2))
        for ax, img, p_, m, title, xl, yl in [
                (axs[0], amp[k].T, best[k].T, true[k].T, f'inline {k}', 'crossline', 'sample'),
                (axs[1], amp[:, :, s], best[:, :, s], true[:, :, s], f'time slice, sample {s}', 'crossline', 'inline')]:
            ax.imshow(img, cmap='gray', aspect='auto', vmin=-3000, vmax=3000)
            for field, colour in ((p_, 'red'), (m, 'lime')):
                if (field > threshold).any() and not (field > threshold).all():
                    ax.contour(field, [threshold if colour == 'red' else 0.5], colors=colour, linewidths=1)
            ax.set(title=title, xlabel=xl, ylabel=yl)
        fig.suptitle(f"synthetic survey {'x'.join(map(str, a.shape))} (seed {a.seed}): predicted salt (red, "
                     f"{next(iter(ROUTES))}, IoU {rows[next(iter(ROUTES))]['iou']:.3f}), true salt (green); "
                     f"{a.arch} trained on synthetic 101x101 images", fontsize=9)
        fig.tight_layout(); fig.savefig(a.figure, dpi=80, bbox_inches='tight')
        print(f'figure written to {a.figure}')
    figures = dict(routes=rows, threshold=threshold, train_seconds=round(train_s, 1), traces=n_traces,
                   shape=list(a.shape), salt_part=round(float(true.mean()), 4),
                   load_average_start=load_start, load_average_end=os.getloadavg())
    record('survey_iou', {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items() if k != 'results'},
           figures, results=a.results)


if __name__ == '__main__': main()
