"""Run every benchmark: `python -m bench` (figures go in the README)."""

from __future__ import annotations

import importlib
import sys

MODULES = ["bench.bench_intake", "bench.bench_render", "bench.bench_validate", "bench.bench_dunning", "bench.bench_dunning_run", "bench.bench_letters", "bench.bench_callbacks", "bench.bench_workers", "bench.soak"]

if __name__ == "__main__":
    for name in MODULES:
        print(f"\n## {name}")
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            print(f"skipped: {exc}")
            continue
        module.main([]) if "argv" in module.main.__code__.co_varnames else module.main()
    sys.exit(0)
