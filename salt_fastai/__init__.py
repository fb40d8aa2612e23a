__version__ = "0.0.1"

import warnings
# fastai 2.8 compiles a few layers with `torch.jit.script` when imported, which torch >= 2.10 deprecates with a
# FutureWarning on every import. It is fastai's to change, not the user's: keep it off their terminal.
warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)
