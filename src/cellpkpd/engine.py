"""The event engine: one subject's trajectory through its events, inside one jitted function.

Per subject (the batch is a ``vmap`` of this):

1. Dose modifiers (F, ALAG, R, D) are evaluated from parameters and covariates, so lagged dose
   times and infusion ends are traced values and their gradients are exact.
2. Every event becomes a row of a flat table: records (observations, covariate changes,
   resets), steady-state set-ups, dose starts, infusion ends. Rows are sorted by (time, key).
3. A ``lax.scan`` walks the sorted rows: flow from the previous event time to this one under
   the running infusion rates, then apply the event (reset, SS, bolus, rate change).

Resets (EVID 3/4, SS=1) start a new *epoch*; events born in an earlier epoch (pending infusion
ends, lagged or additional doses) no longer apply, as in NONMEM.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .flows import make_flow, outputs_within
from .infusion import infusion_rate_and_duration
from .steady_state import SS_LAG_TOO_LONG, SS_NOT_CONVERGED, SS_OVERLAP_EXCEEDED, steady_state

ODE_FAILED = 1
BAD_MODELED_INFUSION = 16
NONFINITE_STATE = 32

STATUS_MESSAGES = {
    ODE_FAILED: "the ODE solver failed (max_steps reached or step size collapsed); try a stiff "
    "method (Solver(method='kvaerno5')), looser tolerances or a larger max_steps",
    SS_NOT_CONVERGED: "the steady-state iteration did not converge; check SS records and "
    "parameters, or raise Solver(ss_max_iter=...)",
    SS_OVERLAP_EXCEEDED: "more past infusions overlap at a steady-state record than "
    "Solver(max_ss_overlap=...) allows; raise it",
    SS_LAG_TOO_LONG: "a steady-state dose has a lag time >= II, which is not supported",
    BAD_MODELED_INFUSION: "a modeled infusion rate (RATE=-1) or duration (RATE=-2) is not "
    "finite and > 0",
    NONFINITE_STATE: "the solution contains non-finite values",
}

# Event actions.
_RECORD, _RESET, _SS, _BOLUS, _RATE, _SWITCH = 0, 1, 2, 3, 4, 5


def describe_status(code: int) -> str:
    return "; ".join(msg for bit, msg in STATUS_MESSAGES.items() if code & bit)


def _dose_quantities(model, p, cov, cmt, amt, rate, data_dur):
    """Actual start time offset (lag), amount F*AMT, infusion rate and duration of doses.
    A duration given in the data (DUR) takes the place of the model's D."""
    f, lag, r_mod, d_mod = jax.vmap(lambda c: model.dose_modifiers(p, c))(cov)
    pick = lambda m: jnp.take_along_axis(m, cmt[:, None], axis=1)[:, 0]  # noqa: E731
    f, lag, r_mod, d_mod = pick(f), pick(lag), pick(r_mod), pick(d_mod)
    d_mod = jnp.where(data_dur > 0, data_dur, d_mod)
    amt_f = f * amt
    is_inf = rate != 0
    r_inf, dur = infusion_rate_and_duration(amt_f, rate, r_mod, d_mod)
    bad = is_inf & ((rate == -1) & ~(r_mod > 0) | (rate == -2) & ~(d_mod > 0))
    return f, lag, r_mod, d_mod, amt_f, is_inf, r_inf, dur, bad


def solve_subject(model, solver, n_overlap, has_periodic, has_constant, p, ev, *,
                  forward_mode: bool = False, active: tuple[int, ...] | None = None):
    """Outputs and states at every record of one subject, and a status bit mask.
    ``forward_mode`` builds the ODE solves for forward-mode differentiation (jvp/jacfwd)
    instead of reverse mode. With ``active`` (`flows.active_states`) only those states are
    integrated; the other states, and the outputs that read them, come back as NaN."""
    n = model.n_states
    dtype = p.dtype
    flow = make_flow(model, solver, forward_mode=forward_mode, active=active)
    carrying_flow = make_flow(model, solver, carry_step=True, forward_mode=forward_mode,
                              active=active)
    status = jnp.int32(0)

    # Doses.
    _, lag, _, _, amt_f, is_inf, r_inf, dur, bad = _dose_quantities(
        model, p, ev["dose_cov"], ev["dose_cmt"], ev["dose_amt"], ev["dose_rate"],
        ev["dose_dur"])
    dose_valid = ev["dose_valid"]
    status |= jnp.where(jnp.any(dose_valid & bad), BAD_MODELED_INFUSION, 0)
    start = ev["dose_time"] + lag

    # Steady-state set-ups.
    n_ss = ev["ss_time"].shape[0]
    if n_ss:
        flow_fwd = make_flow(model, solver, forward_mode=True, active=active)
        f_s, lag_s, rm_s, dm_s, *_ = _dose_quantities(
            model, p, ev["ss_cov"], ev["ss_cmt"], ev["ss_amt"], ev["ss_rate"], ev["ss_dur"])
        ss_one = functools.partial(steady_state, model, flow, flow_fwd, solver,
                                   n_overlap=n_overlap, has_periodic=has_periodic,
                                   has_constant=has_constant)
        ss_y, ss_r, ss_end_t, ss_end_ok, ss_rate, ss_status = jax.vmap(
            lambda c, t0, cmt, amt, rate, ii, f, lg, rm, dm: ss_one(
                p, c, t0=t0, cmt=cmt, amt=amt, rate=rate, ii=ii, f=f, lag=lg, r_model=rm,
                d_model=dm)
        )(ev["ss_cov"], ev["ss_time"], ev["ss_cmt"], ev["ss_amt"], ev["ss_rate"], ev["ss_ii"],
          f_s, lag_s, rm_s, dm_s)
        status |= jnp.bitwise_or.reduce(jnp.where(ev["ss_valid"], ss_status, 0))
    else:
        ss_y = jnp.zeros((1, n), dtype)
        ss_r = jnp.zeros((1, n), dtype)
        ss_end_t = jnp.zeros((0, n_overlap), dtype)
        ss_end_ok = jnp.zeros((0, n_overlap), bool)
        ss_rate = jnp.zeros((0,), dtype)
    ss_mode = ev["ss_mode"] if n_ss else jnp.ones((1,), jnp.int64)

    # The flat event table: records | SS set-ups | dose starts | infusion ends | SS past ends.
    n_rec = ev["rec_time"].shape[0]
    n_dose = ev["dose_time"].shape[0]
    k_over = ss_end_t.shape[1] if n_ss else 0
    i64 = lambda x: jnp.asarray(x, jnp.int64)  # noqa: E731
    zeros_f = lambda m: jnp.zeros((m,), dtype)  # noqa: E731
    zeros_i = lambda m: jnp.zeros((m,), jnp.int64)  # noqa: E731

    ss_cmt_rep = jnp.repeat(ev["ss_cmt"], k_over) if n_ss else zeros_i(0)
    sw = _switch_rows(model, p, ev, start, dose_valid)
    table = {
        "time": jnp.concatenate([
            ev["rec_time"], ev["ss_time"], start, start + dur, ss_end_t.reshape(-1)]),
        "key": jnp.concatenate([
            i64(ev["rec_key"]), i64(ev["ss_key"]), i64(ev["dose_key"]), i64(ev["dose_key"]) + 1,
            jnp.repeat(i64(ev["ss_key"]) + 2, k_over)]),
        "valid": jnp.concatenate([
            ev["rec_valid"], ev["ss_valid"], dose_valid, dose_valid & is_inf,
            (ss_end_ok & ev["ss_valid"][:, None]).reshape(-1) if n_ss else jnp.zeros(0, bool)]),
        "epoch": jnp.concatenate([
            i64(ev["rec_epoch"]), i64(ev["ss_epoch"]), i64(ev["dose_epoch"]),
            i64(ev["dose_epoch"]), jnp.repeat(i64(ev["ss_epoch"]), k_over)]),
        "action": jnp.concatenate([
            jnp.where(ev["rec_reset"], _RESET, _RECORD).astype(jnp.int64),
            jnp.full((n_ss,), _SS, jnp.int64),
            jnp.where(is_inf, _RATE, _BOLUS).astype(jnp.int64),
            jnp.full((n_dose,), _RATE, jnp.int64),
            jnp.full((n_ss * k_over,), _RATE, jnp.int64)]),
        "cmt": jnp.concatenate([
            zeros_i(n_rec), i64(ev["ss_cmt"]), i64(ev["dose_cmt"]), i64(ev["dose_cmt"]),
            i64(ss_cmt_rep)]),
        "value": jnp.concatenate([
            zeros_f(n_rec), zeros_f(n_ss), jnp.where(is_inf, r_inf, amt_f), -r_inf,
            -jnp.repeat(ss_rate, k_over) if n_ss else zeros_f(0)]),
        "slot": jnp.concatenate([
            zeros_i(n_rec), jnp.arange(n_ss, dtype=jnp.int64), zeros_i(2 * n_dose),
            zeros_i(n_ss * k_over)]),
        "rec": jnp.concatenate([
            jnp.arange(n_rec, dtype=jnp.int64), -jnp.ones(n_ss + 2 * n_dose + n_ss * k_over,
                                                          jnp.int64)]),
    }
    table = {k: jnp.concatenate([v, sw[k]]) for k, v in table.items()}

    # Events after the last record change nothing we report.
    valid = table["valid"] & (table["time"] <= ev["t_end"])
    sort_time = jnp.where(valid, table["time"], jnp.inf)
    order = jnp.lexsort((table["key"], sort_time))
    table = {k: v[order] for k, v in table.items()}
    table["valid"] = valid[order]

    cov_own, cov_after = ev["rec_cov_own"], ev["rec_cov_after"]
    rec_has_cov = ev["rec_has_cov"]
    states = jnp.arange(n)

    n_sw = len(model.switches)
    switch_ids = jnp.arange(n_sw)

    def step(carry, e):
        t, y, r, c, w, epoch, st, dt = carry
        # After a failed interval the subject's result is void; integrating on from a
        # blown-up state only burns up to max_steps per remaining interval (in a batch, every
        # subject waits for it), which made each rejected NUTS proposal cost seconds.
        broken = ((st & ODE_FAILED) != 0) | ~jnp.all(jnp.isfinite(y))
        t1 = jnp.where(e["valid"] & ~broken, e["time"], t)
        y, ok, dt = carrying_flow(y, t, t1, r, p, jnp.concatenate([c, w]), dt)
        st = st | jnp.where(ok, 0, ODE_FAILED)
        sets_epoch = e["valid"] & (
            (e["action"] == _RESET) | ((e["action"] == _SS) & (ss_mode[e["slot"]] == 1)))
        epoch = jnp.where(sets_epoch, e["epoch"], epoch)
        active = e["valid"] & (e["epoch"] == epoch)
        rec = jnp.maximum(e["rec"], 0)

        reset = active & (e["action"] == _RESET)
        y = jnp.where(reset, model.initial_state(p, cov_own[rec]), y)
        r = jnp.where(reset, 0.0, r)
        w = jnp.where(reset, 0.0, w)
        hit = active & (e["action"] == _SWITCH) & (switch_ids == e["slot"])
        w = jnp.where(hit, e["value"], w)

        ss = active & (e["action"] == _SS)
        replace = ss_mode[e["slot"]] == 1
        y = jnp.where(ss, jnp.where(replace, ss_y[e["slot"]], y + ss_y[e["slot"]]), y)
        r = jnp.where(ss, jnp.where(replace, ss_r[e["slot"]], r + ss_r[e["slot"]]), r)

        onehot = (states == e["cmt"]).astype(dtype)
        y = y + jnp.where(active & (e["action"] == _BOLUS), e["value"], 0.0) * onehot
        r = r + jnp.where(active & (e["action"] == _RATE), e["value"], 0.0) * onehot
        takes_cov = e["valid"] & (e["rec"] >= 0) & rec_has_cov[rec]
        c = jnp.where(takes_cov, cov_after[rec], c)
        return (t1, y, r, c, w, epoch, st, dt), (y, w)

    y0 = model.initial_state(p, ev["cov0"])
    t0 = jnp.min(jnp.where(ev["rec_valid"], ev["rec_time"], jnp.inf))
    carry0 = (t0, y0, jnp.zeros(n, dtype), ev["cov0"], jnp.zeros(n_sw, dtype), jnp.int64(0),
              jnp.int32(0), jnp.zeros((), dtype))
    (*_, scan_status, _), (ys, ws) = jax.lax.scan(step, carry0, table)
    status |= scan_status

    position = jnp.argsort(order)[:n_rec]
    y_rec = ys[position]
    c_rec = jnp.concatenate([cov_own, ws[position]], axis=1)
    out = jax.vmap(lambda t, y, c: model.output_values(t, y, p, c))(ev["rec_time"], y_rec, c_rec)
    finite = jnp.all(jnp.isfinite(y_rec) | ~ev["rec_valid"][:, None])
    status |= jnp.where(finite, 0, NONFINITE_STATE)
    if active is not None:
        out = jnp.where(outputs_within(model, active), out, jnp.nan)
        y_rec = jnp.where(jnp.isin(states, jnp.asarray(active)), y_rec, jnp.nan)
    return out, y_rec, status


def _switch_rows(model, p, ev, start, dose_valid):
    """Event rows that set the model's dose-driven switches (see `Switch`)."""
    dtype = p.dtype
    cmt, cov = ev["dose_cmt"], ev["dose_cov"]
    delays = jax.vmap(lambda c: model.switch_delays(p, c))(cov) if model.switches else None
    rows = {k: [] for k in ("time", "key", "valid", "epoch", "action", "cmt", "value", "slot")}

    def add(time, valid, value, k):
        m = time.shape[0]
        rows["time"].append(time)
        rows["key"].append(jnp.asarray(ev["dose_key"], jnp.int64))
        rows["valid"].append(valid)
        rows["epoch"].append(jnp.asarray(ev["dose_epoch"], jnp.int64))
        rows["action"].append(jnp.full((m,), _SWITCH, jnp.int64))
        rows["cmt"].append(jnp.zeros((m,), jnp.int64))
        rows["value"].append(jnp.full((m,), value, dtype))
        rows["slot"].append(jnp.full((m,), k, jnp.int64))

    for k, sw in enumerate(model.switches):
        targets = jnp.asarray([model.state_index(name) for name in sw.compartments])
        into = dose_valid & jnp.any(cmt[:, None] == targets[None, :], axis=1)
        if sw.delay is None:
            add(start, into, 1.0, k)
            continue
        fire = start + delays[:, k]
        # A later dose into the same compartments that starts before this one's switch time
        # restarts the phase, so this switch never fires.
        later = (into[None, :] & (start[None, :] > start[:, None])
                 & (start[None, :] <= fire[:, None]))
        add(start, into, 0.0, k)
        add(fire, into & ~jnp.any(later, axis=1) & jnp.isfinite(fire), 1.0, k)
    if not rows["time"]:
        return {
            "time": jnp.zeros((0,), dtype), "key": jnp.zeros((0,), jnp.int64),
            "valid": jnp.zeros((0,), bool), "epoch": jnp.zeros((0,), jnp.int64),
            "action": jnp.zeros((0,), jnp.int64), "cmt": jnp.zeros((0,), jnp.int64),
            "value": jnp.zeros((0,), dtype), "slot": jnp.zeros((0,), jnp.int64),
            "rec": jnp.zeros((0,), jnp.int64),
        }
    out = {k: jnp.concatenate(v) for k, v in rows.items()}
    out["rec"] = -jnp.ones(out["time"].shape, jnp.int64)
    return out


@functools.lru_cache(maxsize=64)
def batch_solver(model, solver, n_overlap: int, has_periodic: bool, has_constant: bool):
    """A jitted ``(params (S, P), arrays) -> (outputs (S, R, O), states (S, R, N), status (S,))``.

    Cached per model, solver and static layout, so a model compiles once per session and per
    padded shape.
    """
    one = functools.partial(solve_subject, model, solver, n_overlap, has_periodic, has_constant)
    return jax.jit(jax.vmap(one))
