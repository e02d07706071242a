"""`make bench` runs every bench_*.py module here (or the ones named on the command line).

Benchmarks print figures next to a baseline measured in the same run; they never pass or
fail. `python -m bench pages` runs bench/bench_pages.py only.
"""

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    here = Path(__file__).parent
    available = sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules([str(here)])
        if info.name.startswith("bench_")
    )
    chosen = argv or available
    unknown = [name for name in chosen if name not in available]
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}")
    for name in chosen:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"\n=== {name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        started = time.perf_counter()
        module.run()
        print(f"--- {name} took {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
