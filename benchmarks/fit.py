"""Fitting speed: theophylline (model A), NUTS 4 chains x (500 + 500), against a naive
diffrax-inside-NumPyro baseline measured in the same run.

Prints wall time including compilation, the ESS per second, the cost of one gradient, and the
ratio to the baseline. The baseline is what a Python user would write: one diffrax Tsit5
solve per subject (rtol 1e-6) inside a NumPyro model, non-centered, same priors and data,
``DirectAdjoint`` (the default adjoint fails with vectorised chains). It runs fewer
iterations (``--naive-iterations``); its time per NUTS iteration and per gradient are what
is compared.

    python benchmarks/fit.py [--warmup 500] [--samples 500] [--naive-iterations 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from numpyro.infer import MCMC, NUTS, init_to_value

import cellpkpd as cp

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "theoph" / "theoph_nonmem.csv"
NLME = {"ka": 1.561, "cl": 0.04029, "v": 0.4556}


def naive_model(times, dose, dv, mask):
    """One-compartment oral model with diffrax per subject: the unengineered baseline."""
    ka = numpyro.sample("ka", dist.LogNormal(0.0, 2.0))
    cl = numpyro.sample("cl", dist.LogNormal(0.0, 2.0))
    v = numpyro.sample("v", dist.LogNormal(np.log(20.0), 2.0))
    omega = numpyro.sample("omega", dist.HalfNormal(jnp.ones(3)).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0))
    n = times.shape[0]
    with numpyro.plate("id", n):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([3]).to_event(1))
    eta = z * omega
    ka_i, cl_i, v_i = ka * jnp.exp(eta[:, 0]), cl * jnp.exp(eta[:, 1]), v * jnp.exp(eta[:, 2])

    def rhs(t, y, args):
        k_a, k_e = args
        return jnp.stack([-k_a * y[0], k_a * y[0] - k_e * y[1]])

    def solve(k_a, cl_, v_, d, ts):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs), diffrax.Tsit5(), 0.0, 25.0, 0.01, jnp.stack([d, 0.0]),
            args=(k_a, cl_ / v_), saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-8),
            adjoint=diffrax.DirectAdjoint(), max_steps=4096, throw=False)
        return sol.ys[:, 1] / v_

    conc = jax.vmap(solve)(ka_i, cl_i, v_i, dose, times)
    numpyro.factor("loglik", jnp.sum(jnp.where(
        mask, dist.Normal(conc, sigma).log_prob(jnp.where(mask, dv, 0.0)), 0.0)))


def naive_arrays():
    t = pd.read_csv(DATA)
    obs = t[t.EVID == 0]
    ids = obs.ID.unique()
    n_obs = obs.groupby("ID").size().max()
    times = np.full((len(ids), n_obs), 24.0)
    dv = np.zeros((len(ids), n_obs))
    mask = np.zeros((len(ids), n_obs), bool)
    for i, sid in enumerate(ids):
        rows = obs[obs.ID == sid]
        times[i, :len(rows)] = rows.TIME
        dv[i, :len(rows)] = rows.DV
        mask[i, :len(rows)] = True
    dose = t[t.EVID == 1].groupby("ID").AMT.first().to_numpy()
    return jnp.asarray(times), jnp.asarray(dose), jnp.asarray(dv), jnp.asarray(mask)


def run_naive(iterations, chains):
    args = naive_arrays()
    init = {"ka": 1.5, "cl": 0.04, "v": 0.45, "omega": jnp.full(3, 0.3), "sigma": 0.7}
    kernel = NUTS(naive_model, init_strategy=init_to_value(values=init))
    mcmc = MCMC(kernel, num_warmup=iterations, num_samples=iterations, num_chains=chains,
                chain_method="vectorized", progress_bar=False)
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(0), *args, extra_fields=("num_steps",))
    wall = time.perf_counter() - start
    steps = np.asarray(mcmc.get_extra_fields()["num_steps"])
    from numpyro.infer.util import initialize_model

    info = initialize_model(jax.random.PRNGKey(1), naive_model, model_args=args,
                            init_strategy=init_to_value(values=init))
    grad = jax.jit(jax.grad(info.potential_fn))
    jax.block_until_ready(grad(info.param_info.z))
    t0 = time.perf_counter()
    for _ in range(50):
        jax.block_until_ready(grad(info.param_info.z))
    per_grad = (time.perf_counter() - t0) / 50
    return wall, 2 * iterations, float(steps.mean()), per_grad


def run_cellpkpd(warmup, samples, chains, parameterization="noncentered"):
    start = time.perf_counter()
    fit = cp.fit("pk_1cmt_oral", DATA, iiv=["ka", "cl", "v"], error={"cp": "additive"},
                 chains=chains, warmup=warmup, samples=samples, seed=0,
                 parameterization=parameterization)
    wall = time.perf_counter() - start
    return fit, wall


def gradient_cost():
    from numpyro.infer.util import initialize_model

    from cellpkpd.fitting import population, run

    prep = run.prepare("pk_1cmt_oral", DATA, iiv=["ka", "cl", "v"], error={"cp": "additive"})
    nmodel = population.numpyro_model(prep.spec, prep.solve)
    info = initialize_model(jax.random.PRNGKey(0), nmodel, model_args=(prep.data,))
    grad = jax.jit(jax.grad(info.potential_fn))
    jax.block_until_ready(grad(info.param_info.z))
    t0 = time.perf_counter()
    for _ in range(200):
        jax.block_until_ready(grad(info.param_info.z))
    return (time.perf_counter() - t0) / 200


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--naive-iterations", type=int, default=100)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}, "
          f"backend {jax.default_backend()}")

    iters = args.warmup + args.samples
    walls = {}
    for parameterization in ("noncentered", "centered"):
        fit, wall = run_cellpkpd(args.warmup, args.samples, args.chains, parameterization)
        table = fit.summary()
        stats = fit.idata.sample_stats
        ess_min = float(table["ess_bulk"].min())
        print(f"\ncellpkpd NUTS {args.chains} chains x ({args.warmup} + {args.samples}), "
              f"{parameterization}: {wall:.1f} s wall including compile")
        print(f"  mean leapfrog steps per iteration {float(stats.n_steps.mean()):.1f}, "
              f"divergences {int(stats.diverging.sum())}")
        print(f"  min ESS bulk {ess_min:.0f} ({table['ess_bulk'].idxmin()}), "
              f"min ESS/s {ess_min / wall:.1f}")
        for name, ref in NLME.items():
            print(f"  {name}: median {table.loc[name, 'median']:.4g} (nlme {ref}, "
                  f"{100 * (table.loc[name, 'median'] / ref - 1):+.1f}%)")
        print(f"  target: < 60 s for 4 x (500 + 500): {'met' if wall < 60 else 'NOT met'}")
        walls[parameterization] = wall
    per_grad = gradient_cost()
    print(f"  one gradient of the log-density (1 chain): {1e3 * per_grad:.3f} ms")

    naive_wall, naive_iters, naive_steps, naive_grad = run_naive(args.naive_iterations,
                                                                 args.chains)
    print(f"\nnaive diffrax+NumPyro, {args.chains} chains x ({args.naive_iterations} + "
          f"{args.naive_iterations}): {naive_wall:.1f} s, mean steps {naive_steps:.1f}")
    print(f"  one gradient (1 chain): {1e3 * naive_grad:.3f} ms")
    naive_per_iter = naive_wall / naive_iters
    print()
    for parameterization, wall in walls.items():
        per_iter = wall / iters
        print(f"ratio per NUTS iteration (naive / cellpkpd {parameterization}): "
              f"{naive_per_iter / per_iter:.1f}x ({1e3 * naive_per_iter:.1f} vs "
              f"{1e3 * per_iter:.1f} ms)")
    print(f"ratio per gradient: {naive_grad / per_grad:.1f}x")


if __name__ == "__main__":
    main()
