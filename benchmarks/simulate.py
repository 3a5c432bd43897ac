"""Simulation speed: cellpkpd against a scipy LSODA loop, measured in the same run.

pk_1cmt_oral, per-subject log-normal parameters, 100 mg every 12 h for 7 doses (ADDL=6),
25 observation times over 96 h. Prints compile time, steady-state wall time (median of
repeats, after compilation), and the ratio to scipy's LSODA integrating each subject dose
interval by dose interval (rtol 1e-8, atol 1e-10). The scipy loop is timed on a subset of
subjects and scaled per subject (it is linear in subjects); the subset size is printed.

    python benchmarks/simulate.py [--sizes 1000 10000] [--scipy-subjects 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

import cellpkpd as cp

DOSE, II, N_DOSES = 100.0, 12.0, 7
TIMES = np.linspace(0.5, 96.0, 25)


def population(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {
        "cl": 1.0 * np.exp(rng.normal(0, 0.3, n)),
        "v": 20.0 * np.exp(rng.normal(0, 0.2, n)),
        "ka": 1.0 * np.exp(rng.normal(0, 0.4, n)),
    }
    rows = []
    for i in range(1, n + 1):
        rows.append((i, 0.0, DOSE, 1, 1, N_DOSES - 1, II, 1, np.nan))
        rows += [(i, t, 0.0, 2, 0, 0, 0.0, 1, np.nan) for t in TIMES]
    data = pd.DataFrame(rows, columns=["ID", "TIME", "AMT", "CMT", "EVID", "ADDL", "II", "MDV",
                                       "DV"])
    return cp.read_nonmem(data), params


def scipy_subject(cl, v, ka):
    def rhs(t, y):
        return [-ka * y[0], ka * y[0] - cl / v * y[1]]

    y = np.zeros(2)
    out = []
    dose_times = II * np.arange(N_DOSES)
    bounds = [*dose_times, TIMES[-1]]
    for k in range(N_DOSES):
        y = y + np.array([DOSE, 0.0])
        a, b = bounds[k], bounds[k + 1]
        inside = TIMES[(TIMES > a) & (TIMES <= b)]
        sol = solve_ivp(rhs, (a, b), y, method="LSODA", rtol=1e-8, atol=1e-10,
                        t_eval=np.append(inside, b) if inside.size == 0 or inside[-1] != b
                        else inside)
        out.extend(sol.y[1][: inside.size] / v)
        y = sol.y[:, -1]
    return np.array(out)


def time_cellpkpd(prob, theta, repeats=5):
    t0 = time.perf_counter()
    out = prob.solve(theta)
    out[0].block_until_ready()
    first = time.perf_counter() - t0
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = prob.solve(theta)
        out[0].block_until_ready()
        walls.append(time.perf_counter() - t0)
    wall = statistics.median(walls)
    return first - wall, wall, out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--scipy-subjects", type=int, default=300)
    parser.add_argument("--methods", nargs="+", default=["closed_form", "tsit5"])
    args = parser.parse_args()
    import jax

    print(f"machine: {platform.machine()} {os.cpu_count()} cores, "
          f"jax {jax.__version__} on {jax.default_backend()}")

    data, params = population(args.scipy_subjects, seed=1)
    t0 = time.perf_counter()
    ref = [scipy_subject(params["cl"][i], params["v"][i], params["ka"][i])
           for i in range(args.scipy_subjects)]
    scipy_per_subject = (time.perf_counter() - t0) / args.scipy_subjects
    print(f"scipy LSODA loop: {scipy_per_subject * 1e3:.2f} ms/subject "
          f"(timed on {args.scipy_subjects} subjects)")
    check = cp.problem("pk_1cmt_oral", data)
    sim = np.asarray(check.solve(check.parameters(params))[0])[:, 1:, 0]
    err = np.max(np.abs(sim - np.array(ref)) / np.abs(np.array(ref)))
    print(f"max relative difference closed form vs LSODA: {err:.1e}")

    print(f"{'method':12s} {'subjects':>8s} {'compile s':>10s} {'wall s':>9s} "
          f"{'us/subject':>11s} {'scipy s':>9s} {'speed-up':>9s}")
    for method in args.methods:
        for n in args.sizes:
            data, params = population(n)
            prob = cp.problem("pk_1cmt_oral", data, solver=cp.Solver(method=method))
            theta = prob.parameters(params)
            compile_s, wall, _ = time_cellpkpd(prob, theta)
            scipy_s = scipy_per_subject * n
            print(f"{method:12s} {n:8d} {compile_s:10.2f} {wall:9.3f} {wall / n * 1e6:11.1f} "
                  f"{scipy_s:9.1f} {scipy_s / wall:8.0f}x")


if __name__ == "__main__":
    main()
