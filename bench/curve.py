"""Held-out score against CPU minutes, ours against the smp U-Net, drawn from `budget.py`'s result files.

Not a run: it reads `bench/results/budget/*.json` on the split that chose nothing (fold 1 of split seed 11), whole
data only, and draws one line per side and CPU: ours with what `salt-fastai train --minutes M` did on the day of each
run (resnet34; padded to 128 for the first runs, 101×101 unpadded since), the smp U-Net (resnet34, BCE+Dice) given
the same minutes. Runs with a lever (another encoder, a loss, ...) are left out: bench/README.md has them. Only a
lever kept on the lever split (`TO_CONFIRM`, `NOT_CONFIRMED`) that has runs here gets its own dotted line beside
the defaults' (issue 41's strong augmentation at 60 and 150 minutes). The README and the training page draw this
plot; the notebooks load it with `runpy.run_path('../bench/curve.py')`.

It is also the one place that says which budget runs are a lever and which ran `--minutes`' defaults
(`LEVER_START_ARGS`, `lever`, `default_runs`), and which kept levers wait for their confirmation (`TO_CONFIRM`)
or were not confirmed (`NOT_CONFIRMED`):
tools/bench_table.py and the training page load it for that.

    python bench/curve.py --out curve.png
"""
import argparse, json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent/'results'
HELD_OUT = (1, 11)  # (fold, seed): the split that chose nothing
LEVER_START_ARGS = dict(arch='resnet34', bs_ours=32, size_ours=128, lr_ours=1e-3, recipe_ours='bce-lovasz',
                        scse_ours=False, empty_head_ours=False, wd_ours=None, max_zoom_ours=1.1,
                        pseudo_uncertain_ours=0.02, no_maxpool_ours=False, ema_ours=None, deep_supervision_ours=False,
                        train_seed_ours=None, aug_ours=None, snapshots_ours=None,
                        opt_ours=None)  # `budget.py`'s settings when the levers started (round 1, padded to 128)
TO_CONFIRM = ()  # levers kept on the lever split that wait for their one-hour run on `HELD_OUT` (issue 41)
NOT_CONFIRMED = {  # levers kept on the lever split whose hour on `HELD_OUT` did not win: (start, lever) run files
    'augstrong': ('fold1_seed11_60min_epyc_ours.json', 'fold1_seed11_60min_epyc_ours_augstrong.json')}


def cpu_name(r:dict) -> str:
    "The CPU's maker and line ('AMD EPYC', 'Intel Xeon'): the same budget fits more epochs on a faster one"
    return ' '.join(w.replace('(R)', '') for w in ((r.get('hardware') or {}).get('cpu') or 'unknown CPU').split()[:2])


def lever(r:dict) -> dict:
    "What a budget run's settings change from those the levers started from (`LEVER_START_ARGS`), by short name"
    return {k.removesuffix('_ours'): r['args'][k] for k, v in LEVER_START_ARGS.items() if r['args'].get(k, v) != v}


def is_default(r:dict) -> bool:
    "A budget run of the smp U-Net, or of ours with `--minutes`' settings of its day (only the input size moved)"
    return r['figures']['side'] == 'baseline' or not set(lever(r)) - {'size'}


def lever_name(f) -> str:
    "The lever a budget result file is named after ('augstrong'); '' for a run of the defaults or of the baseline"
    return Path(f).stem.partition('_ours_')[2]


def split_runs(results=RESULTS, split=HELD_OUT) -> list[tuple[Path, dict]]:
    "(file, result) of every whole-data budget run on `split`, by file name"
    runs = [(f, json.loads(f.read_text())) for f in sorted(Path(results, 'budget').glob('*.json'))]
    return [(f, r) for f, r in runs
            if (r['args']['fold'], r['args']['seed']) == tuple(split) and not r['args'].get('limit')]


def default_runs(results=RESULTS, split=HELD_OUT) -> list[tuple[Path, dict]]:
    "(file, result) of every whole-data budget run on `split` that `is_default`, by file name"
    return [(f, r) for f, r in split_runs(results, split) if is_default(r)]


def lever_runs(names, results=RESULTS, split=HELD_OUT) -> list[tuple[Path, dict]]:
    "(file, result) of every whole-data budget run on `split` of a lever in `names` (`lever_name`s), by file name"
    return [(f, r) for f, r in split_runs(results, split) if lever_name(f) in set(names)]


def budget_points(results=RESULTS, split=HELD_OUT, levers=(*TO_CONFIRM, *NOT_CONFIRMED)) -> list[dict]:
    """One dict per `default_runs` run, and per run of a kept lever in `levers`: side, cpu, minutes, epochs, size,
    the three scores, date, file, `lever` ('' for the defaults) and its `setting` ('--aug strong')"""
    runs = default_runs(results, split) + lever_runs(levers, results, split)
    out = [dict(side=(fig := r['figures'])['side'], cpu=cpu_name(r), minutes=r['args']['minutes'],
                epochs=fig['epochs'], size=r['args'].get('size_ours', 128) if fig['side'] == 'ours' else 128,
                score=fig['score'], flip_tta=fig['tta_score'], crossfit=fig['crossfit_score'], date=r['date'],
                file=f.name, lever=lever_name(f),
                setting=' '.join(f"--{k.replace('_', '-')}" + ('' if v is True else f' {v}')
                                 for k, v in lever(r).items() if k != 'size')) for f, r in runs]
    if not out: raise SystemExit(f'{results}/budget: no run on fold {split[0]} of split seed {split[1]}')
    return out


def plot_budget(ax, points:list[dict]):
    """Draw `points` on matplotlib axes `ax`: one line per side, CPU and lever, the cross-fitted flip-TTA score (the
    latest run of each budget)"""
    lines = {}
    for p in sorted(points, key=lambda p: p['date']):
        lines.setdefault((p['side'], p['cpu'], p.get('lever', '')), {})[p['minutes']] = p
    lines = {k: [v[m] for m in sorted(v)] for k, v in lines.items()}
    for (side, cpu, lv), ps in sorted(lines.items(), key=lambda kv: (kv[0][0] != 'ours', kv[0][2], kv[0][1])):
        label = (f"ours, train --minutes M {ps[0]['setting']}" if lv else 'ours, train --minutes M' if side == 'ours'
                 else 'smp U-Net, same minutes') + f', {cpu}'
        ax.plot([p['minutes'] for p in ps], [p['crossfit'] for p in ps],
                '^:' if lv else 'o-' if side == 'ours' else 's--', label=label)
    ax.set(xlabel='CPU minutes (2 cores), the whole fold counted', ylabel='held-out score',
           title=f'TGS score on unseen images (fold {HELD_OUT[0]}, split seed {HELD_OUT[1]})')
    ax.legend(fontsize=8); ax.grid(alpha=0.3)
    return ax


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', type=Path, required=True, help='the PNG to write')
    a = p.parse_args()
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    plot_budget(ax, budget_points())
    fig.tight_layout(); fig.savefig(a.out, dpi=100)
    print(f'wrote {a.out}')


if __name__ == '__main__': main()
