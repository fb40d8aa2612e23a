"""Held-out score against CPU minutes, ours against the smp U-Net, drawn from `budget.py`'s result files.

Not a run: it reads `bench/results/budget/*.json` on the split that chose nothing (fold 1 of split seed 11), whole
data only, and draws one line per side and CPU: ours with what `salt-fastai train --minutes M` did on the day of each
run (resnet34; padded to 128 for the first runs, 101×101 unpadded since), the smp U-Net (resnet34, BCE+Dice) given
the same minutes. Runs with a lever (another encoder, a loss, ...) are left out: bench/README.md has them. The README
and the training page draw this plot; the notebooks load it with `runpy.run_path('../bench/curve.py')`.

    python bench/curve.py --out curve.png
"""
import argparse, json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent/'results'
HELD_OUT = (1, 11)  # (fold, seed): the split that chose nothing
LEVERS = ('scse_ours', 'empty_head_ours', 'wd_ours', 'no_maxpool_ours', 'ema_ours', 'deep_supervision_ours',
          'train_seed_ours')


def budget_points(results=RESULTS, split=HELD_OUT) -> list[dict]:
    "One dict per budget run on `split` without a lever: side, cpu, minutes, epochs, size, the three scores, file"
    out = []
    for f in sorted(Path(results, 'budget').glob('*.json')):
        r = json.loads(f.read_text())
        a, fig = r['args'], r['figures']
        if (a['fold'], a['seed']) != split or a.get('limit'): continue
        if fig['side'] == 'ours' and (a.get('arch', 'resnet34') != 'resnet34' or any(a.get(k) for k in LEVERS)
                                      or a.get('recipe_ours', 'bce-lovasz') != 'bce-lovasz'): continue
        cpu = ' '.join(w.replace('(R)', '') for w in r['hardware']['cpu'].split()[:2])
        out.append(dict(side=fig['side'], cpu=cpu, minutes=a['minutes'], epochs=fig['epochs'],
                        size=a.get('size_ours', 128) if fig['side'] == 'ours' else 128, score=fig['score'],
                        flip_tta=fig['tta_score'], crossfit=fig['crossfit_score'], date=r['date'], file=f.name))
    if not out: raise SystemExit(f'{results}/budget: no run on fold {split[0]} of split seed {split[1]}')
    return out


def plot_budget(ax, points:list[dict]):
    "Draw `points` on matplotlib axes `ax`: one line per side and CPU, the cross-fitted flip-TTA score"
    lines = {}
    for p in sorted(points, key=lambda p: p['minutes']): lines.setdefault((p['side'], p['cpu']), []).append(p)
    for (side, cpu), ps in sorted(lines.items(), key=lambda kv: (kv[0][0] != 'ours', kv[0][1])):
        label = ('ours, train --minutes M' if side == 'ours' else 'smp U-Net, same minutes') + f', {cpu}'
        ax.plot([p['minutes'] for p in ps], [p['crossfit'] for p in ps], 'o-' if side == 'ours' else 's--',
                label=label)
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
