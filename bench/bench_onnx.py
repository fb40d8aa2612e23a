"""CPU inference of one exported model: onnxruntime (fp32, and int8 after dynamic quantisation) vs PyTorch.

All sides run in this process on the same model, the same real images and the same batch size. The model is the
fold ensemble graph of `salt_fastai.export.SaltEnsemble` without flip TTA (0..1 images in, normalisation, reflect
padding to `size`, the U-Net, sigmoid, crop, probabilities out): PyTorch runs the module in fp32 under
`torch.inference_mode`, onnxruntime runs the graph `export_onnx` writes (`tta=False`), and the int8 side is that file
after `onnxruntime.quantization.quantize_dynamic` (int8 weights, activations quantised on the fly). Speed: images per
second over `--n-images` test images, each side timed `--rounds` times in turn (torch, fp32, int8, torch, ...), the
fastest pass of each side counted (the one other processes disturbed least); both engines get `--threads` threads.

With `--run` a trained run (one whose fold has `oof.npz`), the model is that run's and the int8 file is also scored:
the held-out TGS score of the fp32 and int8 graphs on the run's out-of-fold images (no TTA), at threshold 0.5 and at
the run's `threshold.json` (chosen on that same fold: optimistic, but the same for both sides), and the largest
probability difference of each ONNX side from PyTorch. Without `--run`, a randomly initialised `arch` model is timed
and no score is recorded. Records `bench/results/onnx.json` (`--results` for another folder).

    salt-fastai train --data ../shared/tgs --arch resnet34 --epochs 3 --fold 1 --seed 11 --out /tmp/onnx_run
    python bench/bench_onnx.py --run /tmp/onnx_run          # a few minutes on 2 cores
    python bench/bench_onnx.py --n-images 32 --rounds 1 --results /tmp/smoke   # a smoke run, random weights
"""
import argparse, json, os, tempfile, time
from pathlib import Path

import numpy as np
import torch

from hardware import hardware_str, record, results_option  # bench/hardware.py (scripts run as `python bench/NAME.py`)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--run', default=None, help='a trained run directory (default: a random model, no score)')
    p.add_argument('--data', default=None, help='data folder (default: find_tgs(), ../shared/tgs)')
    p.add_argument('--arch', default='resnet34', help='encoder of the model without --run (default: %(default)s)')
    p.add_argument('--size', type=int, default=128, help='padded side of the random model (default: %(default)s)')
    p.add_argument('--bs', type=int, default=32, help='batch size of every side (default: %(default)s)')
    p.add_argument('--n-images', type=int, default=256, help='test images timed per pass (default: %(default)s)')
    p.add_argument('--rounds', type=int, default=3, help='timed passes per side (default: %(default)s)')
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    results_option(p)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from salt_fastai.core import load_image, postprocess
    from salt_fastai.data import find_tgs
    from salt_fastai.export import SaltEnsemble, export_onnx
    from salt_fastai.inference import load_run
    from salt_fastai.metrics import tgs_score
    from salt_fastai.model import salt_model, save_checkpoint
    from salt_fastai.ort import ort_inputs
    print(hardware_str(), flush=True)
    data = find_tgs(a.data)
    if data is None or not (data/'test'/'images').is_dir(): raise SystemExit(f'no real data at {data}: pass --data')

    with tempfile.TemporaryDirectory(prefix='salt_bench_onnx_') as tmp:
        tmp = Path(tmp)
        run = Path(a.run) if a.run else tmp/'run'
        if not a.run:
            torch.manual_seed(0)
            save_checkpoint(salt_model(a.arch, pretrained=False), run/'fold0'/'model.pth', n_in=1, size=a.size)
        models, metas, info = load_run(run, device='cpu')
        ens = SaltEnsemble(models, metas, tta=False).eval()
        fp32 = export_onnx(run, tmp/'fp32.onnx', tta=False)
        int8 = tmp/'int8.onnx'
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        opts = ort.SessionOptions(); opts.intra_op_num_threads = a.threads
        sessions = {k: ort.InferenceSession(str(f), opts, providers=['CPUExecutionProvider']) for k, f in
                    (('onnxruntime fp32', fp32), ('onnxruntime int8', int8))}

        def predict(side, x):
            if side == 'pytorch fp32':
                with torch.inference_mode(): return ens(torch.from_numpy(x)).numpy()
            return sessions[side].run(None, {'images': x})[0]

        sides = ['pytorch fp32', *sessions]
        files = sorted((data/'test'/'images').glob('*.png'))[:a.n_images]
        x = ort_inputs(np.stack([load_image(f) for f in files]), n_in=ens.n_in)
        batches = [x[i:i + a.bs] for i in range(0, len(x), a.bs)]
        for s in sides: predict(s, batches[0])  # warm-up: first-call allocations
        passes = {s: [] for s in sides}
        for _ in range(a.rounds):
            for s in sides:
                t0 = time.perf_counter()
                for b in batches: predict(s, b)
                passes[s].append(time.perf_counter() - t0)
        speed = {s: dict(pass_seconds=v, img_per_s=len(x) / min(v)) for s, v in passes.items()}
        t, f, q = (speed[s]['img_per_s'] for s in sides)
        figures = dict(arch=metas[0].get('arch'), size=metas[0].get('size', 128), n_folds=len(models), n_images=len(x),
                       speed=speed, speedup_ort_fp32=f / t, speedup_ort_int8=q / t, int8_vs_fp32=q / f,
                       mb=dict(fp32=fp32.stat().st_size / 2**20, int8=int8.stat().st_size / 2**20), quality=None)
        print(f"\n{figures['arch']} SaltUnet ({len(models)} fold(s)) at {figures['size']}, {len(x)} real test images, "
              f"batch {a.bs}, {a.threads} threads, torch {torch.__version__}, onnxruntime {ort.__version__}; "
              f"fastest of "
              f"{a.rounds} pass(es)\n\n| side | img/s | vs PyTorch | file MB |\n|---|---:|---:|---:|")
        for s, mb in zip(sides, [None, figures['mb']['fp32'], figures['mb']['int8']]):
            ips = speed[s]['img_per_s']
            print(f"| {s} | {ips:.1f} | {ips / t:.2f}x | {'' if mb is None else f'{mb:.1f}'} |")

        oofs = sorted(run.glob('fold*/oof.npz')) if a.run else []
        if oofs:
            oof = [np.load(o) for o in oofs]
            ids, masks = np.concatenate([o['ids'] for o in oof]), np.concatenate([o['masks'] for o in oof])
            xv = ort_inputs(np.stack([load_image(data/'train'/'images'/f'{i}.png') for i in ids]), n_in=ens.n_in)
            probs = {s: np.concatenate([predict(s, xv[i:i + a.bs]) for i in range(0, len(xv), a.bs)]) for s in sides}
            th, ms = info.get('threshold', 0.5), info.get('min_size', 0)
            qual = {s: dict(score_05=float(tgs_score(pr > 0.5, masks).mean()),
                            score_tuned=float(tgs_score(postprocess(pr, th, ms), masks).mean()),
                            max_abs_diff_vs_pytorch=float(np.abs(pr - probs['pytorch fp32']).max()))
                    for s, pr in probs.items()}
            q8, q32 = qual['onnxruntime int8'], qual['onnxruntime fp32']
            figures['quality'] = dict(n_valid=len(ids), folds=[o.parent.name for o in oofs], threshold=th, min_size=ms,
                                      sides=qual, delta_int8_05=q8['score_05'] - q32['score_05'],
                                      delta_int8_tuned=q8['score_tuned'] - q32['score_tuned'])
            print(f"\nheld-out score on {len(ids)} out-of-fold images of {run} (no TTA)\n\n"
                  f"| side | threshold 0.5 | threshold {th:g}, min size {ms} | max abs prob diff vs PyTorch |\n"
                  f"|---|---:|---:|---:|")
            for s, v in qual.items():
                print(f"| {s} | {v['score_05']:.4f} | {v['score_tuned']:.4f} | {v['max_abs_diff_vs_pytorch']:.2e} |")
    record('onnx', {k: v for k, v in vars(a).items() if k != 'results'},
           dict(figures, onnxruntime=ort.__version__), results=a.results)


if __name__ == '__main__': main()
