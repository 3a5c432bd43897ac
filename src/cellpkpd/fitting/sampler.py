"""NUTS with explicit state: NumPyro's NUTS kernel, driven in compiled chunks of iterations.

NumPyro's ``MCMC`` wrapper re-traces the model eagerly, op by op, at every ``warmup``/``run``
call and compiles its loop once per call. On 2 CPU cores that costs ~20 s per call, more
than the whole sampling of a small model. Here the log-density is a pure function of the
unconstrained parameters and the data pytree, the kernel's state is a plain pytree, and one
jitted function advances every chain by ``chunk`` iterations (a ``lax.scan`` over a vmapped
kernel, so one compilation serves warmup and sampling; with several host devices, e.g. after
``numpyro.set_host_device_count(2)``, the chains are split over them with ``pmap`` so that
they run on separate cores instead of in lockstep). Between chunks the host reports
progress and may write a checkpoint, from which an interrupted run resumes bit for bit (the
state carries each chain's RNG key).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer.hmc import hmc
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

from ..atomic import atomic_path
from ..errors import ParameterError

STAT_FIELDS = ("diverging", "num_steps", "accept_prob", "energy", "potential_energy")
MAX_CHUNK = 25


@dataclass(frozen=True)
class NutsSettings:
    warmup: int
    samples: int
    target_accept: float = 0.8
    max_tree_depth: int = 10
    warmup_tree_depth: int | None = None  # None: max_tree_depth
    dense_mass: bool = False

    @property
    def tree_depths(self) -> tuple[int, int]:
        """NumPyro's ``(warmup, sampling)`` maximum tree depths."""
        warmup = (self.max_tree_depth if self.warmup_tree_depth is None
                  else self.warmup_tree_depth)
        return (warmup, self.max_tree_depth)


def chunk_length(warmup: int, samples: int, limit: int = MAX_CHUNK) -> int:
    """Iterations per compiled call: the largest divisor of gcd(warmup, samples) up to
    ``limit``, so that no chunk straddles the end of warmup (failures are then counted under
    the right phase); if that is very short, ``limit`` (the straddling chunk counts as
    warmup)."""
    g = math.gcd(warmup, samples)
    best = max(d for d in range(1, min(g, limit) + 1) if g % d == 0)
    return best if best >= 10 or best == g else min(limit, warmup + samples)


def jacobi_inverse_mass(potential, z: dict, step: float = 1e-2):
    """A diagonal inverse mass matrix for the start of warmup: 1 / H_ii, the conditional
    variances, with H_ii the potential's curvature along each unconstrained coordinate at
    ``z`` (central differences of the gradient, 2n gradients in one compiled loop), capped at
    1 (the identity, NumPyro's default) where the curvature is small, negative or not finite.

    Why: until its first mass-matrix window closes (iteration 100 of a 200-iteration warmup)
    NumPyro samples with the identity, so the step size is set by the stiffest coordinate.
    On the msc_ifna recovery fit the individual parameters are pinned ~20x more tightly than
    the identity assumes, and those 100 iterations took 31-50 leapfrog steps each, half of
    the sampler's time, against 15 once adapted. The Hessian itself is not used: at a start
    far from the mode it is often indefinite, while its diagonal only scales coordinates.
    The order of the flat vector is NumPyro's (``ravel_pytree`` of the sites)."""
    flat, unravel = ravel_pytree(z)
    n = flat.shape[0]
    value_and_grad = jax.value_and_grad(lambda x: potential(unravel(x)))
    offsets = step * jnp.concatenate([jnp.eye(n, dtype=flat.dtype),
                                      -jnp.eye(n, dtype=flat.dtype)])
    values, grads = jax.lax.map(lambda e: value_and_grad(flat + e), offsets)
    curvature = jnp.diagonal(grads[:n] - grads[n:]) / (2.0 * step)
    # An infinite potential (a failed solve) has a zero gradient: no curvature from it.
    both_finite = jnp.isfinite(values[:n]) & jnp.isfinite(values[n:])
    usable = both_finite & jnp.isfinite(curvature) & (curvature > 1.0)
    return jnp.where(usable, 1.0 / jnp.where(usable, curvature, 1.0), 1.0)


def unconstrained(nmodel, data, values: dict) -> dict:
    """Constrained site values to NumPyro's unconstrained space (one compiled call)."""
    return jax.jit(lambda v, d: unconstrain_fn(nmodel, (d,), {}, v))(values, data)


def run_nuts(nmodel, data, init_z: dict, settings: NutsSettings, key, *,
             progress: bool = False, on_phase: Callable[[str], None] | None = None,
             checkpoint: Path | None = None, devices: int | None = None) -> tuple[dict, dict]:
    """Sample ``len(chains)`` NUTS chains started at ``init_z`` (unconstrained, leading chain
    axis). Returns constrained draws ``{site: (chain, draw, ...)}`` and statistics
    ``{name: (chain, draw)}`` for the sampling iterations.

    ``on_phase("warmup" | "sampling")`` is called before each chunk (the failure counter's
    phase). With ``checkpoint``, the state and the draws so far are written atomically after
    every chunk, and a run with the same checkpoint path continues from it. ``devices``:
    the most host devices to split the chains over (default: all there are).
    """
    chains = next(iter(jax.tree.leaves(init_z))).shape[0]
    total = settings.warmup + settings.samples
    length = chunk_length(settings.warmup, settings.samples)
    def potential_of(d):
        return lambda z: potential_energy(nmodel, (d,), {}, z)

    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_of, algo="NUTS")

    def init_one(z1, k1, d):
        # Warmup starts from the posterior's curvature at the start, not the identity.
        return init_kernel(
            z1, settings.warmup, inverse_mass_matrix=jacobi_inverse_mass(potential_of(d), z1),
            dense_mass=settings.dense_mass, target_accept_prob=settings.target_accept,
            max_tree_depth=settings.tree_depths, model_args=(d,), rng_key=k1)

    def init(z, keys, d):
        return _over_chains(lambda z1, k1: init_one(z1, k1, d))(z, keys)

    def advance(state, d):
        def body(s, _):
            s = _over_chains(lambda one: sample_kernel(one, model_args=(d,)))(s)
            kept = {name: getattr(s, name) for name in STAT_FIELDS}
            kept["step_size"] = s.adapt_state.step_size
            return s, (s.z, kept)

        return jax.lax.scan(body, state, None, length=length)

    # Chains split into `groups` device groups (1: a plain vmap). A vmapped NUTS step costs as
    # much as its longest trajectory for every chain; on separate devices each chain only
    # pays for its own.
    groups = math.gcd(chains, min(devices or jax.local_device_count(),
                                  jax.local_device_count()))
    keys = jax.random.split(key, chains)
    if groups > 1:
        split, merge = _splitter(groups), _merge

        def initial_state():
            return merge(jax.pmap(init, in_axes=(0, 0, None))(split(init_z), split(keys), data))

        pmapped = jax.pmap(advance, in_axes=(0, None))

        def advance(state, d):
            state, (z, stats) = pmapped(split(state), d)
            # (group, iteration, chain in group, ...) -> (iteration, chain, ...)
            regroup = lambda x: _merge(jnp.moveaxis(x, 0, 1), axis=1)  # noqa: E731
            return merge(state), (jax.tree.map(regroup, z), jax.tree.map(regroup, stats))
    else:
        def initial_state():
            return jax.jit(init)(init_z, keys, data)

        advance = jax.jit(advance)

    z_parts, stat_parts, done = [], [], 0
    if checkpoint is not None and Path(checkpoint).exists():
        # The checkpoint replaces the initial state: only its structure and shapes are needed,
        # not the step-size search and the start mass matrix's 2n gradients.
        state, z_parts, stat_parts, done = _load_checkpoint(checkpoint,
                                                            jax.eval_shape(initial_state))
    else:
        init_started = time.perf_counter()
        state = jax.block_until_ready(initial_state())
        if progress:
            print(f"NUTS initialised in {time.perf_counter() - init_started:.1f} s "
                  "(compilation, step size and start mass matrix); the first chunk also "
                  "compiles", flush=True)

    started = time.perf_counter()
    while done < total:
        phase = "warmup" if done < settings.warmup else "sampling"
        if on_phase is not None:
            on_phase(phase)
        state, (z_chunk, stats_chunk) = advance(state, data)
        z_parts.append(jax.tree.map(np.asarray, z_chunk))
        stat_parts.append(jax.tree.map(np.asarray, stats_chunk))
        done += length
        if checkpoint is not None:
            _save_checkpoint(checkpoint, state, z_parts, stat_parts, done)
        if progress:
            # Divergences while warmup is still adapting the step size are expected; only
            # those after it are a problem.
            flags = np.concatenate([p["diverging"] for p in stat_parts])
            after = int(flags[settings.warmup:].sum())
            during = int(flags[:settings.warmup].sum())
            print(f"NUTS {phase:8s} {min(done, total):5d}/{total} iterations, "
                  f"{time.perf_counter() - started:6.1f} s, step size "
                  f"{float(np.mean(stats_chunk['step_size'][-1])):.3g}, leapfrog steps "
                  f"{float(np.mean(stats_chunk['num_steps'])):.0f}/iteration, divergences "
                  f"{after} (and {during} during warmup)", flush=True)

    # (iteration, chain, ...) -> (chain, draw, ...), sampling iterations only.
    keep = slice(settings.warmup, total)
    z_all = jax.tree.map(lambda *p: np.swapaxes(np.concatenate(p)[keep], 0, 1), *z_parts)
    stats = {k: np.swapaxes(np.concatenate([p[k] for p in stat_parts])[keep], 0, 1)
             for k in stat_parts[0]}
    constrain = jax.jit(jax.vmap(jax.vmap(lambda z, d: constrain_fn(nmodel, (d,), {}, z),
                                          in_axes=(0, None)), in_axes=(0, None)))
    draws = {k: np.asarray(v) for k, v in constrain(z_all, data).items()}
    return draws, stats


def _over_chains(f):
    """``vmap(f)`` over the leading chain axis, except that a single chain (one per device)
    is not batched at all. Why: JAX caches the trace of the jitted ODE solve and of its
    derivative per transformation, and a vmap of size 1 re-traces and re-batches the whole
    sensitivity solve. Unbatched, the initialisation and the sampler share one trace (under
    pmap, one re-trace remains): on msc_ifna on 2 cores the initialisation traced in 33-39 s
    instead of 54 s, and the sampler's step in 3.6 s."""

    def mapped(*args):
        if jax.tree.leaves(args)[0].shape[0] == 1:
            out = f(*jax.tree.map(lambda x: x[0], args))
            return jax.tree.map(lambda x: x[None], out)
        return jax.vmap(f)(*args)

    return mapped


def _splitter(groups: int):
    def split(tree):
        return jax.tree.map(lambda x: jnp.reshape(x, (groups, -1) + x.shape[1:]), tree)

    return split


def _merge(tree, axis: int = 0):
    """Merge axes ``axis`` and ``axis + 1`` of every leaf."""
    return jax.tree.map(
        lambda x: jnp.reshape(x, x.shape[:axis] + (-1,) + x.shape[axis + 2:]), tree)


def _save_checkpoint(path, state, z_parts, stat_parts, done):
    leaves = jax.tree.leaves(state)
    arrays = {f"state_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    z = jax.tree.map(lambda *p: np.concatenate(p), *z_parts)
    for name, value in z.items():
        arrays[f"z__{name}"] = value
    for name in stat_parts[0]:
        arrays[f"stat__{name}"] = np.concatenate([p[name] for p in stat_parts])
    arrays["done"] = np.asarray(done)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _load_checkpoint(path, template_state):
    """The state, draws and iteration count of a checkpoint; ``template_state`` (the shapes
    of a fresh initial state of the same run, `jax.eval_shape`) gives the pytree structure
    and checks the shapes."""
    with np.load(path) as f:
        leaves, treedef = jax.tree.flatten(template_state)
        loaded = [f[f"state_{i}"] for i in range(len(leaves))]
        for i, (a, b) in enumerate(zip(leaves, loaded, strict=True)):
            if np.shape(a) != b.shape:
                raise ParameterError(
                    f"checkpoint {path} does not belong to this run (state leaf {i} has shape "
                    f"{b.shape}, expected {np.shape(a)}); delete it to start afresh")
        state = jax.tree.unflatten(treedef, [jnp.asarray(x) for x in loaded])
        z = {k[3:]: f[k] for k in f.files if k.startswith("z__")}
        stats = {k[6:]: f[k] for k in f.files if k.startswith("stat__")}
        done = int(f["done"])
    return state, [z], [stats], done
