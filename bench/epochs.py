"A fastai callback the benchmarks share: the wall time and metrics of every epoch of a `train_fold` run."
import time


def epoch_log(log=print):
    "A fastai callback recording (and passing to `log`) the wall time and metrics of every epoch, across stages"
    from fastai.callback.core import Callback
    class EpochLog(Callback):
        order = 100  # after `Recorder` and `RunCheckpoints` (the epoch's files are written)
        def __init__(self): self.rows, self.t0 = [], None
        def before_epoch(self): self.t0 = time.perf_counter()
        def after_epoch(self):
            dt = time.perf_counter() - self.t0
            vals = [float(v) for v in self.learn.recorder.values[-1]] if self.learn.recorder.values else []
            self.rows.append(dict(epoch=len(self.rows), seconds=dt, **dict(zip(('train_loss', 'valid_loss', 'score'), vals))))
            log(f'  epoch {len(self.rows)}: {dt:.1f} s, ' + ', '.join(f'{v:.4f}' for v in vals))
        @property
        def times(self): return [r['seconds'] for r in self.rows]
    return EpochLog()
