"""Cost of one log-likelihood gradient against its forward solve, on the msc recovery batch.

The batch is `fits/msc_ifna_phase1` as `benchmarks/fit_msc.py` fits it: 15 subjects, the 7
estimated typical values (each subject's parameter vector differs by its random effects),
Rodas4 at rtol 1e-3. Measured in one run:

- the forward solve of the batch (the engine's plain vmapped solve);
- the gradient of the total log-likelihood through the solver `cp.fit` uses
  (forward-mode sensitivities over the estimated columns);
- the same gradient by the discrete adjoint (reverse mode through the Rodas4 steps);
- the same gradient with every parameter slot carrying a tangent;
- "before": with ``--before REV`` (default 9bf26e7, the code when issue 19 was filed), the
  forward solve and the gradient of that revision, from a ``git archive`` of it, measured by
  this script in a subprocess of the same run;
- the naive baseline: the same likelihood through diffrax's Kvaerno5 with its default
  (reverse-mode, recursive checkpointing) adjoint, as a user writing it directly would.

Timings are medians over rounds after a warm-up call; compile times are printed separately.

    python benchmarks/gradient_msc.py [--rounds 10] [--rtol 1e-3] [--no-naive] [--before REV]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def measure_before(rev: str, rounds: int, rtol: float) -> tuple[float, float]:
    """Forward and gradient milliseconds of revision ``rev``, in a subprocess."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(root), "archive", rev, "src", "models"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = dict(os.environ, PYTHONPATH=str(Path(tmp) / "src"))
        out = subprocess.run([sys.executable, __file__, "--plain", "--rounds", str(rounds),
                              "--rtol", str(rtol)], env=env, check=True, capture_output=True,
                             text=True, cwd=Path(__file__).parent).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT"))
    _, fwd, grad = line.split()
    return float(fwd), float(grad)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--before", default="9bf26e7",
                    help="revision to measure as 'before' ('' to skip)")
    ap.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    solver = cp.Solver(method="rodas4", rtol=args.rtol, atol=args.rtol * 1e-2)
    prepared = prepare("msc_ifna", recovery_data(), estimate=ESTIMATE, iiv=IIV, solver=solver)
    values = start_values(prepared)
    spec, data = prepared.spec, prepared.data
    theta, _ = individual_theta(spec, values, eta_from_z(spec, values, values["z"]), data)
    forward = prepared.prob.compiled
    if args.plain:  # the measurement of --before, run under the old revision's package
        t_fwd, _ = timed(forward, theta, data["events"], rounds=args.rounds)
        t_grad, _ = timed(loglik_gradient(prepared, prepared.solve), values, rounds=args.rounds)
        print(f"RESULT {1e3 * t_fwd} {1e3 * t_grad}")
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}, "
          f"backend {jax.default_backend()}")
    if args.before:
        b_fwd, b_grad = measure_before(args.before, args.rounds, args.rtol)
        print(f"before ({args.before}): forward {b_fwd:.1f} ms, gradient {b_grad:.1f} ms = "
              f"{b_grad / b_fwd:.2f}x forward")
    t_fwd, c_fwd = timed(forward, theta, data["events"], rounds=args.rounds)
    print(f"forward solve, batch of {theta.shape[0]}: {1e3 * t_fwd:.1f} ms "
          f"(compile {c_fwd:.0f} s)")

    grad = loglik_gradient(prepared, prepared.solve)
    t_grad, c_grad = timed(grad, values, rounds=args.rounds)
    print(f"gradient (sensitivities over {len(spec.estimated)} estimated columns): "
          f"{1e3 * t_grad:.1f} ms = {t_grad / t_fwd:.2f}x forward (compile {c_grad:.0f} s)")
    if args.before:
        print(f"  vs before: {b_grad / (1e3 * t_grad):.2f}x cheaper")

    columns = tuple(sorted(e.column for e in spec.estimated))
    observed = tuple(dict.fromkeys(prepared.obs.output_names))
    g_now = grad(values)[1]

    def compare(other):
        g = other(values)[1]
        return max(float(jnp.max(jnp.abs(g_now[k] - g[k]) / (jnp.abs(g[k]) + 1e-300)))
                   for k in g_now)

    adjoint = loglik_gradient(prepared, solver_for(prepared.prob, columns, observed,
                                                   gradient="adjoint"))
    t_adj, c_adj = timed(adjoint, values, rounds=args.rounds)
    print(f"gradient (discrete adjoint): {1e3 * t_adj:.1f} ms = {t_adj / t_fwd:.2f}x forward "
          f"(compile {c_adj:.0f} s); largest relative difference from the sensitivities "
          f"{compare(adjoint):.2e}")
    per_tangent = (t_grad - t_fwd) / len(columns)
    print(f"  each tangent costs {1e3 * per_tangent:.1f} ms: the adjoint is cheaper above "
          f"~{(t_adj - t_fwd) / per_tangent:.0f} estimated columns")

    dense = loglik_gradient(prepared, solver_for(prepared.prob, columns, observed,
                                                 dense_tangents=True))
    t_dense, c_dense = timed(dense, values, rounds=args.rounds)
    print(f"gradient, every parameter slot carrying a tangent: {1e3 * t_dense:.1f} ms "
          f"= {t_dense / t_fwd:.2f}x forward (compile {c_dense:.0f} s); "
          f"largest relative difference {compare(dense):.2e}")

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
