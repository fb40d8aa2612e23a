"""What the benchmarks ran on, and the result files they write.

Every benchmark records its figures with `record(name, args, figures)`: a JSON file under `bench/results/` holding the
date, the commit, the hardware (CPU model and the flags that matter for speed, GPU name where one ran), torch, the
arguments and every figure it prints. The README's benchmark table is generated from these files
(`tools/make_readme.py`), never typed by hand.
"""
import datetime, json, os, platform, subprocess, sys
from pathlib import Path
from salt_fastai.core import atomic_path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT/'bench'/'results'
# CPU flags that decide how fast the benchmarks run: native bf16 (AVX512-BF16, AMX) or only AVX2
SPEED_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile')


def cpu_name() -> str:
    "The CPU's model name (from /proc/cpuinfo on Linux)"
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list:
    "The flags of `SPEED_FLAGS` this CPU has (from /proc/cpuinfo on Linux; empty elsewhere)"
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('flags'):
                have = set(line.split(':', 1)[1].split())
                return [f for f in SPEED_FLAGS if f in have]
    except OSError: pass
    return []


def hardware_info() -> dict:
    "The machine a figure came from: CPU model, cores, speed flags, native bf16, GPU name where one is visible"
    import torch
    flags = cpu_flags()
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return dict(cpu=cpu_name(), cores=os.cpu_count(), torch_threads=torch.get_num_threads(), cpu_flags=flags,
                cpu_native_bf16='avx512_bf16' in flags or 'amx_bf16' in flags,
                cpu_capability=torch.backends.cpu.get_cpu_capability(), gpu=gpu,
                load_average=[round(l, 2) for l in os.getloadavg()] if hasattr(os, 'getloadavg') else None)


def hardware_str(info=None) -> str:
    "One line for a table: CPU, cores, whether bf16 is native, GPU"
    h = info or hardware_info()
    s = f"{h['cpu']}, {h['cores']} cores, {'native bf16' if h['cpu_native_bf16'] else 'no native bf16 (AVX2)'}"
    return s + (f", GPU {h['gpu']}" if h.get('gpu') else '')


def git_commit() -> str:
    "The commit the benchmark ran on (`+dirty` when the tree had uncommitted changes to tracked files)"
    try:
        sha = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return sha + ('+dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError): return 'unknown'


def _plain(o):
    if isinstance(o, Path): return str(o)
    if hasattr(o, 'item') and getattr(o, 'ndim', 1) == 0: return o.item()  # numpy and torch scalars
    raise TypeError(f'{type(o).__name__} is not JSON serialisable')


def record(name, args, figures, run=None, results=RESULTS) -> Path:
    """Write `bench/results/<name>.json` (or `<name>/<run>.json`): date, commit, hardware, torch, the arguments and
    the figures. Written through `salt_fastai.core.atomic_path`, so a crash never leaves half a result."""
    import torch
    args = vars(args) if hasattr(args, '__dict__') else dict(args)
    res = dict(name=name, date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
               commit=git_commit(), hardware=hardware_info(), torch=torch.__version__,
               python=platform.python_version(), command=' '.join(['python', *sys.argv]) if sys.argv[0] else None,
               args=args, figures=figures)
    path = Path(results)/name/f'{run}.json' if run else Path(results)/f'{name}.json'
    text = json.dumps(res, indent=1, default=_plain) + '\n'  # fails before anything is written if a figure is not JSON
    with atomic_path(path) as tmp: tmp.write_text(text)  # the library's writer: whole file or none, the usual mode
    print(f'result written to {path.relative_to(ROOT) if ROOT in path.parents else path}')
    return path


def results_option(parser):
    "Add the `--results DIR` option every benchmark takes: where `record` writes (default `bench/results`)"
    parser.add_argument('--results', type=Path, default=RESULTS, help='folder of the result files (default: '
                        'bench/results; give another for smoke runs)')
    return parser
