"""Parameter recovery and speed: NUTS on the simulated MSC-IFNα phase 1 data set.

Fits `msc_ifna` to ``fits/msc_ifna_phase1/data.csv`` (15 subjects, both arms) observing qPCR
in blood (with BLQ), IFN-α, IL-6, CD8 and SLD: 7 typical values, log-normal IIV on 4 of them,
and the residual SDs. Prints wall time, ESS per second, divergences, and whether each 90%
credible interval covers the value the data were simulated with (``truth.json``).

The random effects are sampled centered by default (``--parameterization noncentered`` for
the other form; see benchmarks/RESULTS.md, fifth pass).

The default ODE tolerance is rtol 1e-3 (atol 1e-5): Rodas4 then takes ~40% fewer steps than at
1e-4, and the run checks what that costs: after the timed fit it prints the largest change of
the total log-likelihood, against rtol 1e-8, at posterior draws (sixth pass: at most 0.010 nats
over 699 observations).

    python benchmarks/fit_msc.py [--chains 2] [--warmup 200] [--samples 200] [--rtol 1e-3]
        [--warmup-tree-depth 4] [--parameterization centered] [--checkpoint PATH]
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


def likelihood_error(fit, rtol, reference_rtol=1e-8, draws=8):
    """How far the fit's ODE tolerance moves the log-likelihood: at ``draws`` posterior draws
    (evenly spaced in chain 0), the total over all observations with the fit's solver minus
    that with a tight one (nats). The sampler's energy error per transition is O(1) nats, so
    a difference of a few hundredths cannot change what NUTS accepts."""
    from cellpkpd.fitting.population import eta_from_z, prior_sites, subject_loglik
    from cellpkpd.fitting.run import prepare

    record = fit._record
    spec, post = record.spec, fit.idata.posterior
    names = list(prior_sites(spec)) + ["z"]
    reference = prepare("msc_ifna", recovery_data(), estimate=ESTIMATE, iiv=IIV,
                        solver=cp.Solver(method="rodas4", rtol=reference_rtol,
                                         atol=reference_rtol * 1e-2))
    totals = {}
    # The fit's own data and solver for its tolerance; a second solver for the reference.
    for tol, data, solve in ((rtol, record.data, record.solve),
                             (reference_rtol, reference.data, reference.solve)):

        @jax.jit
        def total(values, data=data, solve=solve):
            eta = eta_from_z(spec, values, values["z"])
            ll, _, failed, _ = subject_loglik(spec, values, eta, data, solve)
            return ll.sum(), failed.any()

        totals[tol] = []
        for i in np.linspace(0, post.sizes["draw"] - 1, draws).astype(int):
            values = {k: jax.numpy.asarray(post[k].values[0, i]) for k in names}
            value, failed = total(values)
            totals[tol].append(np.nan if bool(failed) else float(value))
    diff = np.asarray(totals[rtol]) - np.asarray(totals[reference_rtol])
    return float(np.nanmax(np.abs(diff))), len(fit.idata.observed_data["y"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--warmup-tree-depth", type=int, default=4)
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--parameterization", default="centered",
                    choices=["centered", "noncentered"])
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}, "
          f"backend {jax.default_backend()}")
    start = time.perf_counter()
    fit = cp.fit("msc_ifna", recovery_data(), estimate=ESTIMATE, iiv=IIV,
                 chains=args.chains, warmup=args.warmup, samples=args.samples, seed=0,
                 warmup_tree_depth=args.warmup_tree_depth,
                 solver=cp.Solver(method="rodas4", rtol=args.rtol, atol=args.rtol * 1e-2),
                 progress=True, checkpoint=args.checkpoint,
                 parameterization=args.parameterization)
    wall = time.perf_counter() - start
    table = fit.summary()
    diag = fit.diagnostics()
    print(f"\nmsc_ifna recovery, NUTS {args.chains} chains x ({args.warmup} + {args.samples}), "
          f"rtol {args.rtol:g}, {args.parameterization}, warmup tree depth "
          f"{args.warmup_tree_depth}: {wall:.0f} s wall including compile")
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
    worst, n_obs = likelihood_error(fit, args.rtol)
    print(f"solver accuracy (after the timed fit): at 8 posterior draws, the total "
          f"log-likelihood of the {n_obs} observations at rtol {args.rtol:g} differs from "
          f"rtol 1e-8 by at most {worst:.4f} nats")


if __name__ == "__main__":
    main()
