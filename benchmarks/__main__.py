"""``python -m benchmarks [all|facts|generation|engines|rerank|facts-cache|batch]``: run benchmarks, print their tables."""

from __future__ import annotations

import sys

from benchmarks import batch_run, engines, facts_cache, facts_stages, generation, rerank_cost

SUITES = {"facts": facts_stages.main, "generation": generation.main, "engines": engines.main, "rerank": rerank_cost.main,
          "facts-cache": facts_cache.main, "batch": batch_run.main}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    which = argv.pop(0) if argv else "all"
    if which not in ("all", *SUITES):
        print(f"usage: python -m benchmarks [all|{'|'.join(SUITES)}] [options]", file=sys.stderr)
        return 2
    for name, fn in SUITES.items():
        if which in ("all", name):
            print(f"## {name}")
            fn(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
