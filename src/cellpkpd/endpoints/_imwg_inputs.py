"""Reading and checking the IMWG inputs, and the baseline's disease type (Kumar 2016)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, DataProblem
from ._checks import TOLERANCE, float_vector, increasing_times, same_length

FLC_NORMAL = (0.26, 1.65)


@dataclass(frozen=True)
class ImwgInputs:
    """Checked per-assessment arrays (NaN = not measured) and the baseline's disease type."""

    t: np.ndarray
    m: np.ndarray  # serum M-protein, g/dL
    u: np.ndarray  # urine M-protein, mg/24 h
    kappa: np.ndarray  # mg/dL
    lam: np.ndarray  # mg/dL
    dflc: np.ndarray  # involved − uninvolved FLC, mg/dL (NaN without an involved chain)
    ife: np.ndarray  # 1.0 negative, 0.0 positive, NaN not done
    bm: np.ndarray  # marrow plasma cells, %
    clonal: np.ndarray  # 1.0 clonal cells present, 0.0 absent, NaN not done
    spd: np.ndarray  # plasmacytoma SPD, cm²
    new: np.ndarray  # bool
    undetectable: float
    undetectable_urine: float
    disease: str
    serum_measurable: bool
    urine_measurable: bool

    def _latest(self, values: np.ndarray, i: int) -> float:
        """Latest post-baseline value at or before assessment ``i`` (marrow need not be
        confirmed, Kumar 2016); NaN if none."""
        taken = np.flatnonzero(np.isfinite(values[1:i + 1]))
        return float(values[1 + taken[-1]]) if taken.size else np.nan

    def bm_latest(self, i: int) -> float:
        return self._latest(self.bm, i)

    def bm_latest_index(self, i: int) -> int | None:
        """Index of the latest post-baseline marrow at or before assessment ``i``."""
        taken = np.flatnonzero(np.isfinite(self.bm[1:i + 1]))
        return int(1 + taken[-1]) if taken.size else None

    def clonal_latest(self, i: int) -> float:
        return self._latest(self.clonal, i)

    def table(self, nadir) -> pd.DataFrame:
        """The inputs per assessment, with ``nadir`` (the serum PD reference) as a column."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.lam > 0, self.kappa / self.lam, np.nan)
            change = 100.0 * (self.m - self.m[0]) / self.m[0] if self.m[0] > 0 else np.nan
        return pd.DataFrame({
            "time": self.t, "m_protein": self.m, "pct_change_from_baseline": change,
            "nadir": nadir, "urine_m_protein": self.u, "flc_ratio": ratio, "dflc": self.dflc,
            "ife_negative": self.ife, "bm_plasma_cells": self.bm, "plasmacytoma_spd": self.spd,
            "new_lesion": self.new})


def _series(name: str, values, n: int, *, fill: float = np.nan, flags: bool = False
            ) -> np.ndarray:
    """One input as a float array of ``n`` (``None`` -> all ``fill``); flags -> 1/0/NaN."""
    if values is None:
        return np.full(n, fill)
    if flags:
        raw = [np.nan if v is None else v for v in np.asarray(values, dtype=object).ravel()]
        values = raw
    array = float_vector(name, values, allow_nan=True)
    if array.size != n:
        raise DataError(DataProblem(f"{name} has {array.size} values for {n} assessments",
                                    f"give one {name} value per assessment (NaN where not "
                                    "measured)", column=name))
    problems = [DataProblem(f"{name}[{i}] = {array[i]:g} is negative", f"give {name} ≥ 0",
                            column=name) for i in np.flatnonzero(array < 0)]
    if flags:
        problems += [DataProblem(f"{name}[{i}] = {array[i]:g} is not True/False",
                                 f"give {name} as booleans (NaN or None where not done)",
                                 column=name)
                     for i in np.flatnonzero(np.isfinite(array) & ~np.isin(array, (0, 1)))]
    if problems:
        raise DataError(problems)
    return array


def _nonnegative_number(value) -> bool:
    if isinstance(value, str | bytes):
        return False
    try:
        value = float(value)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(value) and value >= 0)


def _disease(m0, u0, kappa0, lam0, bm0, *, min_baseline, min_urine, min_flc, min_marrow
             ) -> tuple[str, bool, bool, str | None]:
    """Disease type at baseline (module docstring of `imwg`) and the involved chain (κ above
    the normal ratio, λ below; None for a normal ratio or M-protein disease)."""
    serum, urine = m0 >= min_baseline - TOLERANCE, u0 >= min_urine - TOLERANCE
    if serum or urine:
        return ("serum+urine" if serum and urine else "serum" if serum else "urine"), \
            bool(serum), bool(urine), None
    if np.isnan(m0) or np.isnan(u0):
        return "unknown", False, False, None  # serum or urine could still be measurable
    ratio = kappa0 / lam0 if lam0 > 0 else (np.inf if kappa0 > 0 else np.nan)
    if np.isnan(ratio):
        return "unknown", False, False, None
    chain = "kappa" if ratio > FLC_NORMAL[1] else "lambda" if ratio < FLC_NORMAL[0] else None
    involved = kappa0 if chain == "kappa" else lam0
    if chain is not None and involved >= min_flc - TOLERANCE:
        return "flc", False, False, chain
    # serum, urine and FLC unmeasurable: the marrow route (PR by ≥ 50 % fewer plasma cells)
    # if the baseline marrow holds ≥ 30 % plasma cells
    if np.isnan(bm0):
        return "unknown", False, False, None
    if bm0 >= min_marrow - TOLERANCE:
        return "marrow", False, False, chain
    return "not measurable", False, False, None


def read_inputs(times, m_protein, urine_m_protein, flc_kappa, flc_lambda, ife_negative,
                bm_plasma_cells, bm_clonal, plasmacytoma_spd, new_lesion, *, undetectable,
                undetectable_urine, min_baseline, min_urine, min_flc, min_marrow=30.0
                ) -> ImwgInputs:
    """Checked `ImwgInputs`; every problem raises `DataError` naming the argument."""
    t = float_vector("times", times)
    increasing_times("times", t)
    n = t.size
    if m_protein is None and urine_m_protein is None and flc_kappa is None:
        raise DataError(DataProblem("no disease measurement was given", "pass m_protein "
                                    "(g/dL), urine_m_protein (mg/24 h) or flc_kappa and "
                                    "flc_lambda (mg/dL)"))
    if (flc_kappa is None) != (flc_lambda is None):
        raise DataError(DataProblem("only one of flc_kappa and flc_lambda was given",
                                    "pass both free light chains, in mg/dL"))
    m = _series("m_protein", m_protein, n)
    if m_protein is not None:
        same_length(("times", "m_protein"), t, m)
    u = _series("urine_m_protein", urine_m_protein, n)
    kappa, lam = _series("flc_kappa", flc_kappa, n), _series("flc_lambda", flc_lambda, n)
    new = _series("new_lesion", new_lesion, n, fill=0.0, flags=True)
    if np.isnan(new).any() or new[0]:
        raise DataError(DataProblem("new_lesion is missing or True at baseline"
                                    if new[0] or np.isnan(new[0]) else "new_lesion has NaN",
                                    "give True/False per assessment, False at baseline"))
    bm = _series("bm_plasma_cells", bm_plasma_cells, n)
    problems = [DataProblem(f"bm_plasma_cells[{i}] = {bm[i]:g} is above 100 %",
                            "give the marrow plasma cells in %, 0-100",
                            column="bm_plasma_cells") for i in np.flatnonzero(bm > 100.0)]
    for name, value in (("min_baseline", min_baseline), ("min_urine", min_urine),
                        ("min_flc", min_flc), ("min_marrow", min_marrow),
                        ("undetectable", undetectable),
                        ("undetectable_urine", undetectable_urine)):
        if not _nonnegative_number(value):
            problems.append(DataProblem(f"{name} = {value!r} is not a number ≥ 0",
                                        f"give {name} as a finite number ≥ 0"))
    if problems:
        raise DataError(problems)
    disease, serum, urine, chain = _disease(m[0], u[0], kappa[0], lam[0], bm[0],
                                            min_baseline=min_baseline, min_urine=min_urine,
                                            min_flc=min_flc, min_marrow=min_marrow)
    dflc = (kappa - lam if chain == "kappa" else lam - kappa) if chain else np.full(n, np.nan)
    return ImwgInputs(
        t=t, m=m, u=u, kappa=kappa, lam=lam, dflc=dflc,
        ife=_series("ife_negative", ife_negative, n, flags=True),
        bm=bm,
        clonal=_series("bm_clonal", bm_clonal, n, flags=True),
        spd=_series("plasmacytoma_spd", plasmacytoma_spd, n, fill=0.0),
        new=new.astype(bool), undetectable=float(undetectable),
        undetectable_urine=float(undetectable_urine), disease=disease,
        serum_measurable=serum, urine_measurable=urine)
