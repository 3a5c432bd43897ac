"""Model-driven trial simulation: 1,000 Arm 1 trials of the MSC-IFNα protocol, and a phase-2
prediction for Arm 2.

Arm 1: one virtual population (``--subjects`` per draw × ``--draws`` prior draws) receives each
of the four doses (1 infusion); treatment intolerance (TI) comes from its simulated lymphocyte
and neutrophil trajectories; ``--trials`` Arm 1 trials are then resampled from it
(`cellpkpd.trial_simulation.simulate_msc_arm1`). Reported: compile time (a first call on one
chunk), the population simulation, the trial resampling, the operating characteristics.

Naive baseline, measured in the same run: a per-trial Python loop that simulates every cohort
anew (`simulate_population` with the cohort's 3 subjects, compiled once, the same solver) and
grades each subject with the endpoint functions (`grade_episodes` + `treatment_intolerance`),
on ``--naive-trials`` trials, scaled per trial.

Phase 2: Arm 2 (12 cycles, 6e5 cells/kg) for ``--phase2-subjects`` per draw, trials of 10, 20
and 30 subjects (`simulate_msc_phase2`).

The scenario (priors, IIV, a lymphopenic covariate distribution) is illustrative: the model's
margination and baseline counts are [asm] parameters, widened here so that TI occurs.

    python benchmarks/trials.py [--subjects 100] [--draws 10] [--trials 1000]
        [--naive-trials 10] [--phase2-subjects 100] [--phase2-trials 1000] [--skip-phase2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import numpyro.distributions as dist
import pandas as pd

import cellpkpd as cp
from cellpkpd.endpoints import grade_episodes, treatment_intolerance
from cellpkpd.trial_simulation import (
    dose_times,
    msc_labs,
    simulate_msc_arm1,
    simulate_msc_phase2,
)  # fmt: skip
from cellpkpd.trials import PROTOCOL_DOSES
from cellpkpd.virtual_population import simulate_population

PRIORS = {"emax_marg": dist.LogNormal(np.log(2.0), 0.4),
          "ec50_marg": dist.LogNormal(np.log(5.0), 0.5),
          "other_lymph": dist.LogNormal(np.log(150.0), 0.3)}
IIV = {"s_ifn": 0.5, "other_lymph": 0.4, "k_dl": 0.3}
PHASE2_IIV = {"kg": 0.5, "k_pd1": 0.8, "k_pac": 0.8, "anc0": 0.3, "slope_anc": 0.3}
MONOTHERAPY_SOLVER = cp.Solver("tsit5", rtol=1e-6, atol=1e-9)


def covariates(n: int, seed: int = 0) -> pd.DataFrame:
    """Weights and lymphopenic baseline counts (cells/µL) of advanced-cancer patients."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"WT": rng.uniform(50, 90, n),
                         "CD40": rng.lognormal(np.log(350), 0.4, n),
                         "CD80": rng.lognormal(np.log(220), 0.4, n),
                         "NK0": rng.lognormal(np.log(120), 0.4, n)})


def arm1(n, draws, trials, chunk, seed=0):
    return simulate_msc_arm1(PRIORS, n=n, draws=draws, n_trials=trials, seed=seed,
                             covariates=covariates(n), iiv=IIV, solver=MONOTHERAPY_SOLVER,
                             chunk=chunk)


def naive_trial(trial: int, chunk_times, labs_grid) -> int:
    """One Arm 1 trial, each cohort simulated anew and graded subject by subject."""
    for level, dose in enumerate(PROTOCOL_DOSES):
        reg = cp.regimens.msc_ifna_monotherapy(dose)
        pop = simulate_population("msc_ifna", PRIORS, {"cohort": reg}, 3, 1000 * trial + level,
                                  times=labs_grid, outputs=["cd4", "cd8", "nk", "anc"],
                                  draws=1, iiv=IIV, covariates=covariates(3, trial),
                                  residual_error=False, solver=MONOTHERAPY_SOLVER, chunk=3)
        labs = msc_labs(pop.isel(regimen=0, draw=0))
        ti = 0
        for s in range(3):
            episodes = pd.concat([grade_episodes(labs_grid, labs[lab].values[s], lab=lab)
                                  for lab in labs], ignore_index=True)
            ti += bool(treatment_intolerance(episodes, chunk_times)["intolerance"].any())
        if ti == 0:
            return level
    return -1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--naive-trials", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--phase2-subjects", type=int, default=100)
    parser.add_argument("--phase2-draws", type=int, default=5)
    parser.add_argument("--phase2-trials", type=int, default=1000)
    parser.add_argument("--skip-phase2", action="store_true")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; jax on CPU")

    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 12)
    start = time.perf_counter()
    arm1(args.chunk, 1, 10, args.chunk)  # compiles the chunk shape used below
    compile_s = time.perf_counter() - start
    sim = arm1(args.subjects, args.draws, args.trials, args.chunk)
    population_s, trials_s = sim.timing["population"], sim.timing["trials"]
    total = population_s + trials_s
    n_sim = args.subjects * args.draws * len(PROTOCOL_DOSES)
    print(f"\nArm 1, {args.trials} trials from {args.subjects} subjects x {args.draws} draws "
          f"x {len(PROTOCOL_DOSES)} doses ({n_sim} simulations)")
    print(f"  compile (first call, one chunk): {compile_s:.1f} s")
    print(f"  virtual population + TI: {population_s:.2f} s "
          f"({1e3 * population_s / n_sim:.2f} ms per subject-dose)")
    print(f"  trial resampling: {trials_s * 1e3:.1f} ms")
    print(f"  total after compile: {total:.2f} s; expected subjects {sim.expected_subjects:.2f}")
    print(sim.operating_characteristics.round(4).to_string(index=False))

    reg = cp.regimens.msc_ifna_monotherapy(PROTOCOL_DOSES[0])
    infusions = dose_times(reg, "msc_blood")
    grid = np.arange(infusions[0] - 1.0, infusions[-1] + 35.5, 1.0)
    naive_trial(10_000, infusions, grid)  # compile the 3-subject shape
    start = time.perf_counter()
    levels = [naive_trial(t, infusions, grid) for t in range(args.naive_trials)]
    per_trial = (time.perf_counter() - start) / args.naive_trials
    naive_total = per_trial * args.trials
    print(f"\nnaive per-trial loop: {per_trial:.2f} s per trial on {args.naive_trials} trials "
          f"(selected levels {levels}); {args.trials} trials ≈ {naive_total:.0f} s")
    print(f"  speed-up of the resampled design: {naive_total / total:.0f}x "
          f"(population + resampling, both after compilation)")

    if args.skip_phase2:
        return
    start = time.perf_counter()
    p2 = simulate_msc_phase2("defaults", dose=6e5, n=args.phase2_subjects,
                             draws=args.phase2_draws, n_trials=args.phase2_trials, seed=1,
                             iiv=PHASE2_IIV, covariates=covariates(args.phase2_subjects, 1),
                             chunk=args.phase2_subjects)
    wall = time.perf_counter() - start
    print(f"\nPhase 2 (Arm 2, 12 cycles, 6e5 cells/kg), {args.phase2_subjects} subjects x "
          f"{args.phase2_draws} draws; trials of 10/20/30 subjects x {args.phase2_trials}")
    print(f"  wall incl. compile: {wall:.1f} s; population {p2.timing['population']:.1f} s, "
          f"endpoints + trials {p2.timing['endpoints_and_trials']:.1f} s")
    print(p2.population.round(3).to_string(index=False))
    print(p2.summary.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
