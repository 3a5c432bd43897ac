"""Reading and validating a large NONMEM table: 100,000 subjects, 2,000,000 rows.

Each subject has a dose record and 19 observations, with WT (numeric), SEX (text) and a BLQ
flag with LLOQ. Prints the wall time and peak resident memory of `read_nonmem`, each in a
fresh process, beside plain `pandas.read_csv` of the same file (the baseline, same run).

    python benchmarks/read_nonmem.py [--subjects 100000] [--rows-per-subject 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd


def write_table(path: str, subjects: int, per_subject: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n = subjects * per_subject
    ids = np.repeat(np.arange(1, subjects + 1), per_subject)
    k = np.tile(np.arange(per_subject), subjects)
    dose = k == 0
    time_ = np.where(dose, 0.0, np.round(k * 1.5 + rng.uniform(0, 0.5, n), 3))
    dv = np.round(rng.lognormal(1.0, 0.5, n), 4)
    blq = (~dose) & (dv < 1.0)
    frame = pd.DataFrame({
        "ID": ids, "TIME": time_, "AMT": np.where(dose, 100.0, 0.0),
        "EVID": dose.astype(int), "CMT": np.where(dose, 1, 2), "MDV": dose.astype(int),
        "DV": np.where(dose, np.nan, dv), "BLQ": blq.astype(int), "LLOQ": 1.0,
        "WT": np.repeat(np.round(rng.normal(70, 12, subjects), 1), per_subject),
        "SEX": np.repeat(rng.choice(["female", "male"], subjects), per_subject),
    })
    frame.to_csv(path, index=False, na_rep=".")


CHILD = """
import resource, sys, time
t0 = time.perf_counter()
if sys.argv[1] == "cellpkpd":
    import cellpkpd
    t_import = time.perf_counter()
    data = cellpkpd.read_nonmem(sys.argv[2])
    rows = len(data.table)
else:
    import pandas
    t_import = time.perf_counter()
    rows = len(pandas.read_csv(sys.argv[2]))
wall = time.perf_counter() - t_import
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
print(f"{wall:.3f} {peak:.3f} {rows}")
"""


def measure(kind: str, path: str) -> tuple[float, float, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, kind, path], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--rows-per-subject", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.csv")
        t0 = time.perf_counter()
        write_table(path, args.subjects, args.rows_per_subject)
        size = os.path.getsize(path) / 1024**2
        print(f"table: {args.subjects} subjects, {args.subjects * args.rows_per_subject} rows, "
              f"{size:.0f} MiB (written in {time.perf_counter() - t0:.1f} s)")
        base_wall, base_peak, _ = measure("pandas", path)
        wall, peak, rows = measure("cellpkpd", path)
        print(f"pandas.read_csv (baseline): {base_wall:6.2f} s, peak RSS {base_peak:5.2f} GiB")
        print(f"cellpkpd.read_nonmem:       {wall:6.2f} s, peak RSS {peak:5.2f} GiB "
              f"({rows} rows; {wall / base_wall:.1f}x the baseline's time)")


if __name__ == "__main__":
    main()
