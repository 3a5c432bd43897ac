"""The start of NUTS warmup: the diagonal inverse mass matrix from the potential's curvature."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from cellpkpd.fitting.sampler import jacobi_inverse_mass


def test_jacobi_inverse_mass_is_the_inverse_hessian_diagonal_of_a_gaussian():
    # U = 1/2 x' A x over two sites; the reference is 1 / diag(A), capped at 1 (the identity)
    # where the curvature is below 1 or negative.
    rng = np.random.default_rng(3)
    m = rng.normal(size=(5, 5))
    a = m @ m.T + np.diag([400.0, 25.0, 0.3, 9.0, 2.0])
    a[4, 4] = -1.0  # an indefinite direction: no usable curvature
    z = {"b": jnp.asarray(rng.normal(size=3)), "a": jnp.asarray(rng.normal(size=(2,)))}
    flat, _ = ravel_pytree(z)

    def potential(sites):
        x, _ = ravel_pytree(sites)
        return 0.5 * x @ jnp.asarray(a) @ x

    got = np.asarray(jacobi_inverse_mass(potential, z))
    d = np.diag(a)
    expected = np.where(d > 1.0, 1.0 / np.where(d > 1.0, d, 1.0), 1.0)
    assert flat.shape == (5,)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert got[4] == 1.0 and got[0] < 0.01


def test_jacobi_inverse_mass_falls_back_to_the_identity_where_the_potential_is_not_finite():
    def potential(sites):
        x = sites["x"]
        # Outside x0 > 0 the potential is +inf (a failed solve rejects the proposal).
        return jnp.where(x[0] > 0, 50.0 * x[0] ** 2 + 200.0 * x[1] ** 2, jnp.inf)

    got = np.asarray(jacobi_inverse_mass(potential, {"x": jnp.asarray([0.001, 1.0])}))
    np.testing.assert_allclose(got, [1.0, 1.0 / 400.0], rtol=1e-8)


def test_warmup_tree_depth_caps_the_warmup_trajectories_only(tmp_path):
    import jax
    import numpyro
    import numpyro.distributions as dist

    from cellpkpd.fitting.sampler import NutsSettings, run_nuts

    def model(d):
        numpyro.sample("x", dist.Normal(d["mean"], 1.0))

    data = {"mean": jnp.zeros(10)}
    settings = NutsSettings(warmup=20, samples=20, warmup_tree_depth=1)
    checkpoint = tmp_path / "state.npz"
    draws, stats = run_nuts(model, data, {"x": jnp.zeros((1, 10))}, settings,
                            jax.random.PRNGKey(0), checkpoint=checkpoint)
    with np.load(checkpoint) as f:
        steps = f["stat__num_steps"]  # every iteration, warmup included
    assert steps.shape == (40, 1)
    assert steps[:20].max() == 1  # depth 1: one leapfrog step per warmup iteration
    assert stats["num_steps"].max() > 1 and np.array_equal(stats["num_steps"], steps[20:].T)
    assert draws["x"].shape == (1, 20, 10)
