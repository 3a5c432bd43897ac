"""The issue-20 fuzz at scale: mutated real tables through the reader and the model check.

Draws ``--examples`` cases (hypothesis, the strategy of ``tests/table_mutations.py``) from
``fits/theophylline`` and ``fits/msc_ifna_phase1``: the defect classes of issue 20 and more,
and harmless changes of format that must read back the same. Prints the count of each outcome
(accepted-correct, rejected-with-a-named-error, and the failures: silent acceptances,
unnamed errors, wrong rejections, foreign exceptions), the counts per kind, the first few
failures, and the wall time. Reads and validates only: no model is solved, nothing is jitted.

    python benchmarks/fuzz_tables.py [--examples 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    import table_mutations as tm
    from hypothesis import HealthCheck, given, seed, settings

    for source in tm.SOURCES.values():  # load the models and the reference reads first
        tm.original(source)
    setup = time.perf_counter() - started

    counts, by_kind, failures = Counter(), Counter(), []

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=tm.cases())
    def run(case):
        result, detail = tm.outcome(case)
        counts[result] += 1
        by_kind[case.kind, result] += 1
        if result in tm.FAILURES and len(failures) < 20:
            failures.append(f"{result} [{case.source} {case.kind}] {detail}")

    t0 = time.perf_counter()
    run()
    wall = time.perf_counter() - t0
    total = sum(counts.values())
    print(f"{total} examples in {wall:.1f} s ({1e3 * wall / max(total, 1):.0f} ms each; "
          f"setup {setup:.1f} s), Python {platform.python_version()}, {platform.machine()}")
    print(tm.summary(counts))
    kinds = sorted({k for k, _ in by_kind})
    for kind in kinds:
        row = {r: n for (k, r), n in by_kind.items() if k == kind}
        print(f"  {kind:24s} " + ", ".join(f"{r} {n}" for r, n in sorted(row.items())))
    for line in failures:
        print(line)
    return 1 if any(counts[k] for k in tm.FAILURES) else 0


if __name__ == "__main__":
    raise SystemExit(main())
