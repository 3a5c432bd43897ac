"""Virtual population: msc_ifna on the 12-cycle combination regimen with `simulate_population`,
against a naive per-subject loop of `cellpkpd.simulate` measured in the same run.

Workload: MSC-IFNα 6e5 cells/kg (`msc_ifna_combination(dose=6e5, cycles=12)`), log-normal IIV
(omega 0.3) on k_bl, s_ifn, cl_ifn, kg, k_pd1, k_dl and k_ifn_t, weights and heights resampled
from a 1,000-row table (WT 50-100 kg, HT 150-190 cm), weekly outputs over the 12 cycles
(days 0-336), residual error on. Each chunk is reduced to per-subject endpoints: observed SLD
ratio to baseline (SLD0) at weeks 8 and 24, IL-6 Cmax and CD8 nadir, so memory stays bounded.

The baseline builds each subject's dataset with `Regimen.to_dataset`, simulates it with
`cellpkpd.simulate` (one subject per call, compiled once and warmed up before timing) and takes
the same endpoints; it is timed on ``--baseline-subjects`` and scaled per subject. Peak memory
is the process's ``ru_maxrss``, read right after the population run (before the baseline).

    python benchmarks/simulate_population.py [--subjects 100000] [--chunk 1000]
        [--baseline-subjects 200] [--rtol 1e-6]

With fewer than 100,000 subjects the script also prints the time extrapolated to 100,000 from
the measured rate after compilation.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import numpy as np
import pandas as pd
import xarray as xr

import cellpkpd as cp
from cellpkpd.virtual_population import simulate_population

TIMES = np.arange(0.0, 12 * 28.0 + 1.0, 7.0)  # days 0-336, weekly
IIV = {k: 0.3 for k in ("k_bl", "s_ifn", "cl_ifn", "kg", "k_pd1", "k_dl", "k_ifn_t")}
OUTPUTS = ("sld", "il6_serum", "cd8")
WEEK_8, WEEK_24 = 56.0, 168.0
FULL = 100_000


def covariate_table(rows: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"WT": rng.uniform(50, 100, rows), "HT": rng.uniform(150, 190, rows)})


def endpoints(ds: xr.Dataset) -> xr.Dataset:
    """Per-subject endpoints of one chunk."""
    sld_obs = ds["sld_obs"] if "sld_obs" in ds else ds["sld"]
    return xr.Dataset({
        "sld_ratio_w8": sld_obs.sel(time=WEEK_8, drop=True) / ds["SLD0"],
        "sld_ratio_w24": sld_obs.sel(time=WEEK_24, drop=True) / ds["SLD0"],
        "il6_cmax": ds["il6_serum"].max("time"),
        "cd8_nadir": ds["cd8"].min("time"),
    })


class Progress:
    """The reduce step, timing each chunk as it finishes."""

    def __init__(self, n: int, chunk: int):
        self.n, self.chunk, self.done = n, chunk, 0
        self.start = time.perf_counter()
        self.stamps: list[float] = []

    def __call__(self, ds: xr.Dataset) -> xr.Dataset:
        self.done += ds.sizes["subject"]
        self.stamps.append(time.perf_counter() - self.start)
        if len(self.stamps) % 10 == 0 or self.done == self.n:
            print(f"  {self.done:>7,} subjects, {self.stamps[-1]:7.1f} s", flush=True)
        return endpoints(ds)


def population_run(n: int, chunk: int, solver: cp.Solver):
    reduce = Progress(n, chunk)
    result = simulate_population(
        "msc_ifna", "defaults", cp.regimens.msc_ifna_combination(dose=6e5, cycles=12), n, 0,
        times=TIMES, outputs=OUTPUTS, iiv=IIV, covariates=covariate_table(), solver=solver,
        chunk=chunk, reduce=reduce)
    wall = time.perf_counter() - reduce.start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return result, wall, reduce.stamps, peak


def baseline_run(result: xr.Dataset, k: int, solver: cp.Solver) -> tuple[float, float]:
    """Seconds per subject of the naive loop, and the largest relative difference of its
    endpoints from the population run's (same subjects, predictions without residual error)."""
    reg = cp.regimens.msc_ifna_combination(dose=6e5, cycles=12)
    names = list(IIV)

    def one(i):
        data = reg.to_dataset({"WT": [float(result["WT"][i])], "HT": [float(result["HT"][i])]})
        params = {p: float(result[p][0, i]) for p in names}
        sim = cp.simulate("msc_ifna", data, params, times=TIMES, solver=solver)
        return np.array([float(sim["il6_serum"].max()), float(sim["cd8"].min())])

    one(0)  # compile once, outside the timing
    t0 = time.perf_counter()
    values = np.array([one(i) for i in range(k)])
    per_subject = (time.perf_counter() - t0) / k
    ours = np.stack([result["il6_cmax"].values[0, 0, :k], result["cd8_nadir"].values[0, 0, :k]],
                    axis=1)
    return per_subject, float(np.max(np.abs(ours - values) / np.abs(values)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=FULL)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--baseline-subjects", type=int, default=200)
    parser.add_argument("--rtol", type=float, default=1e-6)
    args = parser.parse_args()
    import jax

    solver = cp.Solver(rtol=args.rtol, atol=args.rtol * 1e-3)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; jax {jax.__version__} on {jax.default_backend()}")
    print(f"msc_ifna, 12-cycle combination, 6e5 cells/kg: {args.subjects:,} subjects, "
          f"chunk {args.chunk}, {TIMES.size} weekly times, rtol {args.rtol:g}")
    result, wall, stamps, peak = population_run(args.subjects, args.chunk, solver)
    first = stamps[0]
    steady = ((stamps[-1] - first) / (args.subjects - args.chunk)
              if args.subjects > args.chunk else first / args.subjects)
    failed = int(result["solver_failed"].sum())
    print(f"simulate_population: wall {wall:.1f} s including compilation "
          f"({args.subjects / wall:,.0f} subjects/s); first chunk {first:.1f} s "
          f"(compilation + {args.chunk} subjects); after it {steady * 1e3:.2f} ms/subject "
          f"({1 / steady:,.0f} subjects/s); peak RSS {peak:.2f} GiB; failed solves {failed}")
    if args.subjects < FULL:
        print(f"  extrapolated to {FULL:,} subjects: {first + steady * (FULL - args.chunk):.0f} s")
    q = result[["sld_ratio_w24", "il6_cmax", "cd8_nadir"]].quantile([0.05, 0.5, 0.95],
                                                                   dim="subject")
    for name in q.data_vars:
        print(f"  {name} 5/50/95%: " + " / ".join(f"{v:.3g}" for v in q[name].values.ravel()))

    k = args.baseline_subjects
    per_subject, diff = baseline_run(result, k, solver)
    print(f"baseline, a loop of cellpkpd.simulate per subject ({k} subjects, compiled "
          f"beforehand): {per_subject * 1e3:.1f} ms/subject -> {per_subject * args.subjects:.0f} s "
          f"for {args.subjects:,}; endpoints agree to {diff:.1e} (relative)")
    print(f"speed-up: {per_subject * args.subjects / wall:.1f}x including compilation, "
          f"{per_subject / steady:.1f}x after it")


if __name__ == "__main__":
    main()
