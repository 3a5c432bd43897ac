"""Infusion rate and duration of a dose record, NONMEM's way."""

import jax.numpy as jnp


def infusion_rate_and_duration(amt_f, rate, r_mod, d_mod):
    """NONMEM's rules: RATE > 0 is the rate and F changes the duration; RATE = -1 takes the
    modeled rate R; RATE = -2 the modeled duration D. Zero for boluses. Divisions are guarded
    so that an unused NaN modifier cannot leak into gradients."""
    is_inf = rate != 0
    use_r = rate == -1
    use_d = rate == -2
    d_safe = jnp.where(use_d & (d_mod > 0), d_mod, 1.0)
    r_inf = jnp.where(rate > 0, rate, jnp.where(use_r, r_mod, amt_f / d_safe))
    r_inf = jnp.where(is_inf, r_inf, 0.0)
    r_safe = jnp.where(is_inf & (r_inf > 0), r_inf, 1.0)
    dur = jnp.where(use_d, d_mod, amt_f / r_safe)
    return r_inf, jnp.where(is_inf, dur, 0.0)
