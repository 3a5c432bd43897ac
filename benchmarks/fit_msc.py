"""Parameter recovery and speed: NUTS on the simulated MSC-IFNα phase 1 data set.

Fits `msc_ifna` to ``fits/msc_ifna_phase1/data.csv`` (15 subjects, both arms) observing qPCR
in blood (with BLQ), IFN-α, IL-6, CD8 and SLD: 7 typical values, log-normal IIV on 4 of them,
and the residual SDs. Prints wall time, ESS per second, divergences, and whether each 90%
credible interval covers the value the data were simulated with (``truth.json``).

The random effects are sampled centered by default (``--parameterization noncentered`` for
the other form; see benchmarks/RESULTS.md, fifth pass).

    python benchmarks/fit_msc.py [--chains 2] [--warmup 250] [--samples 250] [--rtol 1e-5]
        [--parameterization centered] [--checkpoint PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpyro

# One host device per core, so the chains run on separate cores (before JAX starts).
numpyro.set_host_device_count(os.cpu_count() or 1)

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import cellpkpd as cp  # noqa: E402

HERE = Path(__file__).resolve().parents[1] / "fits" / "msc_ifna_phase1"
OUTPUTS = ["qpcr_blood", "ifna_serum", "il6_serum", "cd8", "sld"]
ESTIMATE = ["k_lb", "k_dl", "s_ifn", "emax_il6", "cd80", "emax_prol_cd8", "kg"]
IIV = ["k_dl", "s_ifn", "cd80", "emax_il6"]
SIGMA_TRUTH = {"sigma_qpcr_blood": 0.5, "sigma_ifna_serum": 0.3, "sigma_il6_serum": 0.3,
               "sigma_cd8": 0.2, "sigma_add_sld": 3.0, "sigma_prop_sld": 0.1}


def recovery_data():
    data = pd.read_csv(HERE / "data.csv", na_values=".")
    return data[data.EVID.eq(1) | data.DVID.isin(OUTPUTS)].reset_index(drop=True)


def truths() -> dict:
    truth = json.loads((HERE / "truth.json").read_text())
    out = dict(truth["typical"])
    out.update({f"omega_{k}": v for k, v in truth["omega"].items()})
    out.update(SIGMA_TRUTH)
    return out


def coverage(fit, truth: dict, level=0.90) -> pd.DataFrame:
    draws = fit.population_draws()
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    rows = []
    for name, value in truth.items():
        x = draws[name].values.ravel()
        q = np.quantile(x, [lo, 0.5, hi])
        rows.append({"parameter": name, "true": value, "median": q[1], "q5": q[0], "q95": q[2],
                     "covered": bool(q[0] <= value <= q[2])})
    return pd.DataFrame(rows).set_index("parameter")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=250)
    ap.add_argument("--samples", type=int, default=250)
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--parameterization", default="centered",
                    choices=["centered", "noncentered"])
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}, "
          f"backend {jax.default_backend()}")
    start = time.perf_counter()
    fit = cp.fit("msc_ifna", recovery_data(), estimate=ESTIMATE, iiv=IIV,
                 chains=args.chains, warmup=args.warmup, samples=args.samples, seed=0,
                 solver=cp.Solver(method="rodas4", rtol=args.rtol, atol=args.rtol * 1e-2),
                 progress=True, checkpoint=args.checkpoint,
                 parameterization=args.parameterization)
    wall = time.perf_counter() - start
    table = fit.summary()
    diag = fit.diagnostics()
    print(f"\nmsc_ifna recovery, NUTS {args.chains} chains x ({args.warmup} + {args.samples}), "
          f"rtol {args.rtol:g}, {args.parameterization}: {wall:.0f} s wall including compile")
    print(diag)
    print(f"min ESS bulk {table.ess_bulk.min():.0f}, min ESS/s {table.ess_bulk.min() / wall:.3f}")
    steps = fit.idata.sample_stats["n_steps"].values
    print(f"leapfrog steps per sampling iteration: mean {steps.mean():.1f}, "
          f"max {steps.max():.0f}; {steps.sum():.0f} gradients per chain in sampling")
    cov = coverage(fit, truths())
    print(cov.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"90% intervals covering the truth: {int(cov.covered.sum())}/{len(cov)} "
          f"({100 * cov.covered.mean():.0f}%; target >= 80%)")
    print(f"target < 15 min: {'met' if wall < 900 else 'NOT met'}")


if __name__ == "__main__":
    main()
