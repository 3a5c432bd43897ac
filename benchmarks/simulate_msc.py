"""msc_ifna on the full 12-cycle combination regimen: cellpkpd against a scipy LSODA loop.

1,000 subjects (weights 50-100 kg, heights 150-190 cm) with per-subject log-normal parameters
(30% CV on k_bl, s_ifn, cl_ifn, kg, k_pd1, k_dl, k_ifn_t), weekly outputs for 48 weeks.
The scipy baseline is the independent plain-NumPy right-hand side of tests/reference_models.py
integrated with LSODA interval by interval between doses and infusion ends; it is timed on a
subset and scaled per subject. Accuracy of both is measured against a tight scipy solution
(Radau, rtol 1e-10) on a few subjects, as the largest relative error over all outputs and
times (values below 1e-6 of an output's maximum are compared absolutely).

    python benchmarks/simulate_msc.py [--subjects 1000] [--scipy-subjects 20]
        [--methods rodas4 rodas4@1e-5 kvaerno5] [--rtol 1e-6]

A method may carry its own tolerance as ``method@rtol`` (atol is always rtol * 1e-3), so that
cellpkpd can be compared with LSODA at comparable accuracy, which the printed errors show.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import cellpkpd as cp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_models import msc_reference, simulate_infusions  # noqa: E402

TIMES = np.arange(1.0, 12 * 28.0, 7.0)
IIV = ("k_bl", "s_ifn", "cl_ifn", "kg", "k_pd1", "k_dl", "k_ifn_t")
OUTPUTS = ("qpcr_blood", "ifna_serum", "il6_serum", "cd8", "anc", "sld", "c_pac", "c_pd1")


def population(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    model = cp.load_model("msc_ifna")
    defaults = model.default_params()
    params = {k: defaults[k] * np.exp(rng.normal(0.0, 0.3, n)) for k in IIV}
    subjects = {"WT": rng.uniform(50, 100, n), "HT": rng.uniform(150, 190, n)}
    data = cp.regimens.msc_ifna_combination().to_dataset(subjects, times=TIMES)
    return data, params, subjects


def reference_doses(data, subject: int, ix):
    table = data.table
    rows = table[(table.ID == table.ID.unique()[subject]) & (table.EVID == 1)]
    doses = []
    for _, r in rows.iterrows():
        for k in range(int(r.ADDL) + 1):
            doses.append((r.TIME + k * r.II, ix[r.CMT], r.AMT, r.DUR))
    return doses


def scipy_subject(data, params, subjects, i, *, method="LSODA", rtol=1e-6, atol=1e-9):
    wt, ht = subjects["WT"][i], subjects["HT"][i]
    cov = dict(WT=wt, SLD0=80.0, WBC=6000.0, ALB=3.9, AGE=50.0, BSA=float(cp.bsa(wt, ht)))
    pars = {k: v[i] for k, v in params.items()}
    rhs, y0, outputs, ix = msc_reference(cov, pars, t_first_dose=-5.0)
    ys = simulate_infusions(rhs, y0, reference_doses(data, i, ix), TIMES, t0=-5.0,
                            method=method, rtol=rtol, atol=atol)
    values = [outputs(t, y) for t, y in zip(TIMES, ys, strict=True)]
    return np.array([[v[o] for o in OUTPUTS] for v in values])


def max_rel_error(a, b):
    scale = np.abs(b).max(axis=0, keepdims=True)
    err = np.abs(a - b) / np.maximum(np.abs(b), 1e-6 * scale)
    return float(err.max())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--scipy-subjects", type=int, default=20)
    parser.add_argument("--check-subjects", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["rodas4", "rodas4@1e-5"])
    parser.add_argument("--rtol", type=float, default=1e-6)
    args = parser.parse_args()
    import jax

    print(f"machine: {platform.machine()} {os.cpu_count()} cores, "
          f"jax {jax.__version__} on {jax.default_backend()}")
    data, params, subjects = population(args.subjects)
    n_doses = int((data.table.EVID == 1).sum())
    print(f"msc_ifna, 12-cycle combination regimen: {args.subjects} subjects, "
          f"{len(TIMES)} output times, {n_doses} dose records (with ADDL)")

    t0 = time.perf_counter()
    for i in range(args.scipy_subjects):
        scipy_subject(data, params, subjects, i, rtol=args.rtol, atol=args.rtol * 1e-3)
    scipy_per = (time.perf_counter() - t0) / args.scipy_subjects
    scipy_total = scipy_per * args.subjects
    print(f"scipy LSODA loop (rtol {args.rtol:g}, atol {args.rtol * 1e-3:g}): "
          f"{scipy_per:.3f} s/subject on {args.scipy_subjects} subjects -> "
          f"{scipy_total:.0f} s for {args.subjects}")

    truth = [scipy_subject(data, params, subjects, i, method="Radau", rtol=1e-10, atol=1e-10)
             for i in range(args.check_subjects)]
    lsoda = [scipy_subject(data, params, subjects, i, rtol=args.rtol, atol=args.rtol * 1e-3)
             for i in range(args.check_subjects)]
    print(f"  LSODA max relative error vs Radau 1e-10: "
          f"{max(max_rel_error(a, b) for a, b in zip(lsoda, truth, strict=True)):.1e}")

    names = list(cp.load_model("msc_ifna").output_names)
    cols = [names.index(o) for o in OUTPUTS]
    for entry in args.methods:
        method, _, tol = entry.partition("@")
        rtol = float(tol) if tol else args.rtol
        solver = cp.Solver(method=method, rtol=rtol, atol=rtol * 1e-3)
        prob = cp.problem("msc_ifna", data, times=TIMES, solver=solver)
        theta = prob.parameters(params)
        t0 = time.perf_counter()
        out = prob.solve(theta)
        out[0].block_until_ready()
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = prob.solve(theta)
        out[0].block_until_ready()
        wall = time.perf_counter() - t0
        status = np.asarray(out[2])
        grid = prob.grid(np.asarray(out[0]))[:, :, cols]
        err = max(max_rel_error(grid[i], truth[i]) for i in range(args.check_subjects))
        print(f"cellpkpd {method} (rtol {rtol:g}): compile {first - wall:.1f} s, "
              f"wall {wall:.1f} s ({wall / args.subjects * 1e3:.1f} ms/subject), "
              f"failed {int((status != 0).sum())}, max relative error {err:.1e}, "
              f"speed-up vs scipy {scipy_total / wall:.1f}x")


if __name__ == "__main__":
    main()
