"""Where an epoch of the recipe goes: data loading, the training step, checkpointing, each timed alone.

Times, for `train_fold`'s configuration (`salt_dls` batch 32 at 128x128 on fold 0, `salt_learner` with the recipe's
first loss, autocast to `amp_dtype`, channels_last):

- one pass over the training `DataLoader` (item transforms in the main process with `num_workers=0`, the default,
  and with worker processes; batch augmentations on the device), no model;
- `--steps` training steps (forward, loss, backward, optimizer step) on one batch held on the device, with cuDNN in
  deterministic mode (what `set_seed(reproducible=True)` sets) and with `cudnn.benchmark`;
- one `last.pth`-sized checkpoint write (model + optimizer state);
- with `--plain-tensor`, the training step again (`cudnn.benchmark`) with the batch passed as plain `torch.Tensor`
  (`x.as_subclass(torch.Tensor)`) rather than fastai's `TensorImage`/`TensorMask` subclasses, whose
  `__torch_function__` runs on every operation. On CUDA each training-step row also records the peak GPU memory
  (`torch.cuda.max_memory_allocated`, in `figures['peak_gpu_mib']`).

The figures are recorded, one file per run, in `bench/results/gpu_breakdown/<arch>_<date>.json` (`--results` for
another folder).

    python bench/gpu_breakdown.py --data PATH          # on a GPU machine
    python bench/gpu_breakdown.py --arch resnet18 --limit 200 --steps 3 --bs 8   # a smoke run (CPU too)
    python bench/gpu_breakdown.py --data PATH --plain-tensor   # and the step on plain tensors
"""
import argparse, datetime, os, tempfile, time
from pathlib import Path

import torch

from hardware import record, results_option  # bench/hardware.py (scripts run as `python bench/NAME.py`)


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def time_loader(dl, device):
    sync(device); t0 = time.perf_counter(); n = 0
    for xb, yb in dl: n += len(xb)
    sync(device); return time.perf_counter() - t0, n


def time_steps(learn, xb, yb, steps, dtype, device):
    model, opt, loss_func = learn.model, learn.opt, learn.loss_func
    model.train()
    def step():
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = loss_func(model(xb), yb)
        loss.backward(); opt.step(); opt.zero_grad()
    for _ in range(3): step()
    sync(device); t0 = time.perf_counter()
    for _ in range(steps): step()
    sync(device); return (time.perf_counter() - t0) / steps


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, default=None)
    p.add_argument('--arch', default='inception_resnet_v2')
    p.add_argument('--bs', type=int, default=32)
    p.add_argument('--limit', type=int, default=None)
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--workers', type=int, default=8, help='worker processes of the second loader pass')
    p.add_argument('--plain-tensor', action='store_true',
                   help="also time the step with the batch as plain torch.Tensor (not fastai's TensorImage)")
    results_option(p)
    a = p.parse_args()

    from salt_fastai.data import find_tgs, salt_dls
    from salt_fastai.train import amp_dtype, make_recipe, _atomic_save
    from salt_fastai.model import salt_learner
    from salt_fastai.metrics import TGSScore
    path = find_tgs(a.data)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dtype = amp_dtype(device)
    print(f'{torch.cuda.get_device_name() if device.type == "cuda" else "CPU"}, torch {torch.__version__}, '
          f'autocast {dtype}, {os.cpu_count()} CPUs', flush=True)
    rows = []
    for nw in (0, a.workers):
        dls = salt_dls(path, fold=0, bs=a.bs, limit=a.limit, num_workers=nw, device=device)
        time_loader(dls.train, device)  # warm-up (workers start, first batch transforms)
        dt, n = time_loader(dls.train, device)
        rows.append((f'training loader pass, num_workers={nw} ({n} images)', dt, len(dls.train)))
        print(rows[-1], flush=True)
    stage = make_recipe('bce-lovasz', 10, 1e-3)[0]
    learn = salt_learner(dls, arch=a.arch, pretrained=False, loss_func=stage.loss_func(), metrics=TGSScore(),
                         scse=True)
    learn.model.to(device).to(memory_format=torch.channels_last); learn.create_opt()
    xb, yb = dls.one_batch()
    xb = xb.contiguous(memory_format=torch.channels_last)
    n_batches = len(dls.train)
    variants = [(True, False), (False, False)] + ([(False, True)] if a.plain_tensor else [])
    peak = {}
    for det, plain in variants:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = det, not det
        x, y = (xb.as_subclass(torch.Tensor), yb.as_subclass(torch.Tensor)) if plain else (xb, yb)
        if device.type == 'cuda': torch.cuda.reset_peak_memory_stats(device)
        s = time_steps(learn, x, y, a.steps, dtype, device)
        name = (f'training step, cudnn {"deterministic" if det else "benchmark"}{", plain tensors" if plain else ""} '
                f'(x {n_batches} batches)')
        rows.append((name, s * n_batches, n_batches))
        if device.type == 'cuda': peak[name] = torch.cuda.max_memory_allocated(device) / 2**20
        print(rows[-1], f'{s*1000:.1f} ms/step' + (f', peak {peak[name]:.0f} MiB' if name in peak else ''), flush=True)
    state = dict(model=learn.model.state_dict(), opt=learn.opt.state_dict())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter(); _atomic_save(state, Path(tmp)/'last.pth'); dt = time.perf_counter() - t0
        size = (Path(tmp)/'last.pth').stat().st_size
    rows.append((f'last.pth write ({size/2**20:.0f} MiB)', dt, 1))
    n_params = sum(p.numel() for p in learn.model.parameters())
    print(f'\n{a.arch} U-Net, {n_params/1e6:.1f} M parameters, batch {a.bs}\n\n| part of an epoch | seconds |\n|---|---:|')
    for name, dt, _ in rows: print(f'| {name} | {dt:.2f} |')
    args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items() if k != 'results'}
    args['data'] = path.name if path else None
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%d-%H%M')
    figures = dict(device=str(device), autocast=str(dtype), n_params=n_params,
                   rows=[dict(part=name, seconds=dt, n=n) for name, dt, n in rows])
    if peak: figures['peak_gpu_mib'] = peak
    record('gpu_breakdown', args, figures,
           run=f'{a.arch}' + (f'_limit{a.limit}' if a.limit else '') + f'_{stamp}', results=a.results)


if __name__ == '__main__':
    main()
