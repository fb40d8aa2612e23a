"""Same result before and after a refactor: one seeded `train_fold` run on the real data in each of two commits.

Each commit is checked out into a temporary git worktree and run in its own subprocess (`PYTHONPATH` pointing at
it), with the same seeded, fixed-epoch settings: resnet34 from scratch, `--epochs` epochs on the first `--limit`
ids, fold 1 of the split of seed 11, batch 16. It records each commit's held-out score (best epoch at 0.5, flip
TTA), its per-epoch validation scores and the model's parameter count in `bench/results/same_result.json`. A
refactor that leaves behaviour alone gives identical figures (CPU training with `set_seed(reproducible=True)` is
deterministic for one machine and torch build).

    python bench/same_result.py --before ea93151 --after HEAD
"""
import argparse, json, os, subprocess, sys, tempfile
from pathlib import Path

from hardware import record, results_option  # bench/hardware.py (scripts run as `python bench/NAME.py`)

ROOT = Path(__file__).resolve().parents[1]

CHILD = r'''
import json, sys, tempfile
import pandas as pd
from salt_fastai.train import train_fold
from salt_fastai.model import salt_model
data, epochs, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with tempfile.TemporaryDirectory() as out:
    r = train_fold(data, fold=1, seed=11, arch='resnet34', epochs=epochs, recipe='bce', bs=16, limit=limit,
                   out=out, quiet=True)
    hist = pd.read_csv(f'{out}/fold1/history.csv')
n_params = sum(p.numel() for p in salt_model('resnet34', pretrained=False).parameters())
print('RESULT', json.dumps(dict(score=r['score'], tta_score=r['tta_score'], epoch_scores=hist.tgs_score.tolist(),
                                train_loss=hist.train_loss.tolist(), n_params=n_params)))
'''


def run_commit(commit, data, epochs, limit):
    sha = subprocess.run(['git', 'rev-parse', commit], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix='salt_same_') as tmp:
        tree = Path(tmp)/'tree'
        subprocess.run(['git', 'worktree', 'add', '--detach', str(tree), sha], cwd=ROOT, check=True, capture_output=True)
        try:
            env = {**os.environ, 'PYTHONPATH': str(tree)}
            r = subprocess.run([sys.executable, '-c', CHILD, str(data), str(epochs), str(limit)], cwd=tmp, env=env,
                               capture_output=True, text=True)
            if r.returncode: raise SystemExit(f'{commit}: the run failed:\n{r.stderr[-3000:]}')
            line = next(l for l in r.stdout.splitlines() if l.startswith('RESULT '))
            return sha, json.loads(line[len('RESULT '):])
        finally:
            subprocess.run(['git', 'worktree', 'remove', '--force', str(tree)], cwd=ROOT, capture_output=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--before', default='ea93151', help='the commit before the refactor (default: %(default)s)')
    p.add_argument('--after', default='HEAD', help='the commit after it (default: %(default)s)')
    p.add_argument('--data', type=Path, default=ROOT.parent/'shared'/'tgs', help='TGS folder (default: ../shared/tgs)')
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--limit', type=int, default=600)
    a = results_option(p).parse_args()
    if not (a.data/'train.csv').exists(): raise SystemExit(f'--data {a.data}: no train.csv (the TGS layout)')
    runs = {}
    for name, commit in (('before', a.before), ('after', a.after)):
        sha, res = run_commit(commit, a.data, a.epochs, a.limit)
        runs[name] = dict(commit=sha, **res)
        print(name, sha[:7], res, flush=True)
    keys = ('score', 'tta_score', 'epoch_scores', 'train_loss', 'n_params')
    same = {k: runs['before'][k] == runs['after'][k] for k in keys}
    print('identical:', same)
    args = dict(before=a.before, after=a.after, data=a.data.name, epochs=a.epochs, limit=a.limit)
    record('same_result', args, dict(**runs, identical=same, all_identical=all(same.values())), results=a.results)


if __name__ == '__main__':
    main()
