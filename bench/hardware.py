"What the benchmarks ran on, for their tables."
import platform

def cpu_name() -> str:
    "The CPU's model name (from /proc/cpuinfo on Linux)"
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()
