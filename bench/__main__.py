"""Dispatch to the benchmark modules: `python -m bench [--list] [NAME [ARGS...]]`."""

import importlib
import pkgutil
import sys
from types import ModuleType

import bench

NOT_BENCHMARKS = {"common"}


def benchmarks() -> dict[str, ModuleType]:
    """Every module of the package with a `main`, in running order."""
    found = {}
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("_") or info.name in NOT_BENCHMARKS:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "main", None)):
            found[info.name] = module
    return dict(sorted(found.items(), key=lambda item: (getattr(item[1], "ORDER", 100), item[0])))


def main(argv: list[str]) -> int:
    available = benchmarks()
    if argv and argv[0] in ("-h", "--help", "--list"):
        print(bench.__doc__)
        for name, module in available.items():
            print(f"  {name:<12} {getattr(module, 'SUMMARY', '')}")
        print("`python -m bench NAME --help` shows a benchmark's options.")
        return 0
    if argv:
        name, *rest = argv
        if name not in available:
            print(f"Unknown benchmark {name!r}; known: {', '.join(available)}", file=sys.stderr)
            return 2
        return available[name].main(rest)
    failed = [name for name, module in available.items() if module.main([]) != 0]
    if failed:
        print(f"Failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
