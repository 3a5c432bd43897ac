"""Pharmacodynamic blocks: turnover (indirect response), direct Emax, Friberg myelosuppression.

Each block reads its driver as a derived quantity by name (``driver="cp"`` reads ``d.cp``), so
the same block serves a drug concentration, systemic IFN-α or receptor occupancy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..errors import ModelError
from ..model import Output, Param, State
from .core import Block


def _param(name, value, unit, description, **kw) -> Param:
    """A generic block's parameter: its default is illustrative, to be estimated from data."""
    return Param(name, value, unit, description,
                 **{"tag": "asm", "source": "illustrative default; estimate from data", **kw})


def hyperbolic(x, emax, ec50):
    """``emax·x/(ec50 + x)``."""
    return emax * x / (ec50 + x)


def turnover(state: str, unit: str, *, kout: Param, baseline: Param | str,
             production: Callable | None = None, loss: Callable | None = None,
             description: str = "", name: str | None = None,
             output: Output | None = None) -> Block:
    """Turnover of ``state`` around its baseline::

        d state = kout·R0·(1 + production) − kout·(1 + loss)·state,   state(0) = R0

    ``production`` and ``loss`` are ``(t, s, p, c, d) -> effect``: positive to stimulate,
    negative to inhibit (indirect-response models I–IV). ``baseline`` is a `Param`, or the name
    of a derived quantity (e.g. a covariate with a parameter fallback).
    """
    params = [kout]
    if isinstance(baseline, Param):
        params.append(baseline)
        base = lambda p, d: p[baseline.name]  # noqa: E731
    else:
        base = lambda p, d: d[baseline]  # noqa: E731

    def rates(t, s, p, c, d):
        k, r0 = p[kout.name], base(p, d)
        up = 1.0 + production(t, s, p, c, d) if production else 1.0
        down = 1.0 + loss(t, s, p, c, d) if loss else 1.0
        return {state: k * r0 * up - k * down * s[state]}

    return Block(
        name=name or f"turnover_{state}",
        states=[State(state, unit, description)],
        params=params,
        rates=rates,
        initial=lambda p, c, d: {state: base(p, d)},
        outputs=[output] if output else [],
    )


def indirect_response(kind: int, *, driver: str = "cp", time_unit: str = "h",
                      driver_unit: str = "mg/L") -> Block:
    """Indirect-response models I–IV (Dayneka, Garg & Jusko 1993) on response ``r``:

    I inhibits production, II inhibits loss (``imax``, ``ic50``); III stimulates production,
    IV stimulates loss (``emax``, ``ec50``). Baseline ``r0 = kin/kout``.
    """
    if kind not in (1, 2, 3, 4):
        raise ModelError(f"indirect_response(kind=) must be 1, 2, 3 or 4, got {kind!r}; I and "
                         "II inhibit production and loss, III and IV stimulate them")
    inhibit = kind in (1, 2)
    e, c50 = ("imax", "ic50") if inhibit else ("emax", "ec50")
    sign = -1.0 if inhibit else 1.0

    def effect(t, s, p, c, d):
        return sign * hyperbolic(d[driver], p[e], p[c50])

    params = [
        _param(e, 0.8 if inhibit else 2.0, "1", "maximum fractional inhibition" if inhibit
              else "maximum fractional stimulation", bounds=(0, 1) if inhibit else None),
        _param(c50, 1.0, driver_unit, f"{driver} at half-maximal effect"),
    ]
    block = turnover(
        "r", "1", kout=_param("kout", 0.1, f"1/{time_unit}", "first-order loss rate of the "
                             "response"),
        baseline=_param("r0", 10.0, "1", "baseline response (kin/kout)"),
        production=effect if kind in (1, 3) else None, loss=effect if kind in (2, 4) else None,
        description="pharmacodynamic response", name=f"idr{kind}",
        output=Output("response", "1", lambda t, s, p, c, d: s.r, "pharmacodynamic response"),
    )
    return dataclasses.replace(
        block, params=tuple(block.params) + tuple(params),
        references=("Dayneka NL, Garg V, Jusko WJ. J Pharmacokinet Biopharm 1993;21:457-478",))


def emax_effect(*, sigmoid: bool = False, driver: str = "cp",
                driver_unit: str = "mg/L") -> Block:
    """Direct effect ``effect = e0 + emax·C^γ/(ec50^γ + C^γ)`` (γ = 1 unless ``sigmoid``)."""
    params = [_param("e0", 10.0, "1", "baseline effect", positive=False),
              _param("emax", 50.0, "1", "maximum drug effect", positive=False),
              _param("ec50", 1.0, driver_unit, "concentration at half-maximal effect")]
    if sigmoid:
        params.append(_param("gamma", 2.0, "1", "Hill coefficient"))

    def effect(t, s, p, c, d):
        x = d[driver]
        if not sigmoid:
            return p.e0 + p.emax * x / (p.ec50 + x)
        xg = x ** p.gamma
        return p.e0 + p.emax * xg / (p.ec50 ** p.gamma + xg)

    return Block(name="sigmoid_emax" if sigmoid else "emax", params=params,
                 outputs=[Output("effect", "1", effect, "direct drug effect")])


def friberg(*, driver: str = "cp", driver_unit: str = "mg/L", time_unit: str = "h",
            baseline: Param | str | None = None, mtt: Param | None = None,
            slope: Param | None = None, gamma: Param | None = None,
            prefix: str = "", circ: str = "circ", unit: str = "10^9/L") -> Block:
    """Friberg (2002) myelosuppression: a proliferating pool, three transit compartments and
    circulating cells, with linear drug effect ``E = slope·C`` on proliferation and feedback
    ``(circ0/circ)^γ``. ``ktr = 4/mtt``. All compartments start at the baseline.
    """
    baseline = baseline or _param("circ0", 5.0, unit, "baseline circulating count")
    mtt = mtt or _param("mtt", 100.0, time_unit, "mean transit time (4/ktr)")
    slope = slope or _param("slope", 0.1, f"1/({driver_unit})", "linear drug effect on "
                           "proliferation")
    gamma = gamma or _param("gamma", 0.2, "1", "feedback exponent")
    names = [f"{prefix}prol", f"{prefix}transit1", f"{prefix}transit2", f"{prefix}transit3", circ]
    params = [mtt, slope, gamma] + ([baseline] if isinstance(baseline, Param) else [])
    base = ((lambda p, d: p[baseline.name]) if isinstance(baseline, Param)
            else (lambda p, d: d[baseline]))

    def rates(t, s, p, c, d):
        ktr = 4.0 / p[mtt.name]
        drug = p[slope.name] * d[driver]
        feedback = (base(p, d) / s[circ]) ** p[gamma.name]
        out = {names[0]: ktr * s[names[0]] * (1.0 - drug) * feedback - ktr * s[names[0]]}
        for prev, name in zip(names[:-1], names[1:], strict=True):
            out[name] = ktr * (s[prev] - s[name])
        return out

    descriptions = ["proliferating cells", "transit 1", "transit 2", "transit 3",
                    "circulating cells"]
    return Block(
        name=f"{prefix}friberg",
        states=[State(n, unit, desc) for n, desc in zip(names, descriptions, strict=True)],
        params=params, rates=rates,
        initial=lambda p, c, d: {n: base(p, d) for n in names},
        references=("Friberg LE et al. J Clin Oncol 2002;20:4713-4721",),
    )
