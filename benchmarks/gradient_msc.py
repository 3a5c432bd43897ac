"""Cost of one log-likelihood gradient against its forward solve, on the msc recovery batch.

The batch is `fits/msc_ifna_phase1` as `benchmarks/fit_msc.py` fits it: 15 subjects, the 7
estimated typical values (each subject's parameter vector differs by its random effects),
Rodas4 at rtol 1e-3. Measured in one run:

- the forward solve of the batch (the engine's plain vmapped solve);
- the gradient of the total log-likelihood through the solver `cp.fit` uses
  (forward-mode sensitivities over the estimated columns);
- the same gradient with every parameter slot carrying a tangent (what the solver did before
  it passed tangents only for the estimated columns), for the ratio against "before";
- the naive baseline: the same likelihood through diffrax's Kvaerno5 with its default
  (reverse-mode, recursive checkpointing) adjoint, as a user writing it directly would.

Timings are medians over rounds after a warm-up call; compile times are printed separately.

    python benchmarks/gradient_msc.py [--rounds 10] [--rtol 1e-3] [--no-naive]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from fit_msc import ESTIMATE, IIV, recovery_data, truths

import cellpkpd as cp
from cellpkpd.fitting.population import eta_from_z, individual_theta, subject_loglik
from cellpkpd.fitting.run import prepare, solver_for


def timed(fn, *args, rounds):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times)), compile_s


def loglik_gradient(prepared, solve):
    spec, data = prepared.spec, prepared.data

    def total(values):
        eta = eta_from_z(spec, values, values["z"])
        ll, _, _, _ = subject_loglik(spec, values, eta, data, solve)
        return ll.sum()

    return jax.jit(jax.value_and_grad(total))


def start_values(prepared, seed=0):
    """The data set's true population values, and random effects drawn around them."""
    rng = np.random.default_rng(seed)
    values = {k: jnp.asarray(v) for k, v in truths().items()}
    values["z"] = jnp.asarray(rng.standard_normal((prepared.data["theta"].shape[0],
                                                   len(prepared.spec.iiv))))
    return values


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--no-naive", action="store_true")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}, "
          f"backend {jax.default_backend()}")
    solver = cp.Solver(method="rodas4", rtol=args.rtol, atol=args.rtol * 1e-2)
    prepared = prepare("msc_ifna", recovery_data(), estimate=ESTIMATE, iiv=IIV, solver=solver)
    values = start_values(prepared)

    spec, data = prepared.spec, prepared.data
    theta, _ = individual_theta(spec, values, eta_from_z(spec, values, values["z"]), data)
    forward = prepared.prob.compiled
    t_fwd, c_fwd = timed(forward, theta, data["events"], rounds=args.rounds)
    print(f"forward solve, batch of {theta.shape[0]}: {1e3 * t_fwd:.1f} ms "
          f"(compile {c_fwd:.0f} s)")

    grad = loglik_gradient(prepared, prepared.solve)
    t_grad, c_grad = timed(grad, values, rounds=args.rounds)
    print(f"gradient (sensitivities over {len(spec.estimated)} estimated columns): "
          f"{1e3 * t_grad:.1f} ms = {t_grad / t_fwd:.2f}x forward (compile {c_grad:.0f} s)")

    columns = tuple(sorted(e.column for e in spec.estimated))
    observed = tuple(dict.fromkeys(prepared.obs.output_names))
    before = solver_for(prepared.prob, columns, observed, dense_tangents=True)
    grad_before = loglik_gradient(prepared, before)
    t_before, c_before = timed(grad_before, values, rounds=args.rounds)
    print(f"gradient, every parameter slot carrying a tangent (before): {1e3 * t_before:.1f} ms "
          f"= {t_before / t_fwd:.2f}x forward (compile {c_before:.0f} s); "
          f"now {t_before / t_grad:.2f}x cheaper")
    g_now = grad(values)[1]
    g_before = grad_before(values)[1]
    worst = max(float(jnp.max(jnp.abs(g_now[k] - g_before[k])
                              / (jnp.abs(g_before[k]) + 1e-300))) for k in g_now)
    print(f"largest relative difference between the two gradients: {worst:.2e}")

    if not args.no_naive:
        naive_prob = cp.problem("msc_ifna", prepared.dataset,
                                solver=cp.Solver(method="kvaerno5", rtol=args.rtol,
                                                 atol=args.rtol * 1e-2))
        grad_naive = loglik_gradient(prepared, naive_prob.compiled)
        t_naive, c_naive = timed(grad_naive, values, rounds=max(2, args.rounds // 4))
        print(f"naive baseline (diffrax Kvaerno5, default reverse-mode adjoint): "
              f"{1e3 * t_naive:.1f} ms per gradient (compile {c_naive:.0f} s) = "
              f"{t_naive / t_grad:.1f}x ours")


if __name__ == "__main__":
    main()
