"""The `Dataset` value: a validated NONMEM-format table, and how to look at it and write it.

Reading and validation live in `nonmem.py` (``read_nonmem``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .errors import ParameterError

#: Column order when writing; optional items are written only when the dataset has them.
CORE_ITEMS = ("ID", "TIME", "EVID", "MDV", "AMT", "CMT", "RATE", "ADDL", "II", "SS", "DV")
OPTIONAL_ITEMS = ("DUR", "DVID", "BLQ", "LLOQ", "OCC")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated NONMEM-format table.

    ``table`` has one row per kept data record, with upper-case standard columns (``ID``,
    ``TIME``, ``EVID``, ``MDV``, ``AMT``, ``CMT``, ``RATE``, ``DUR``, ``ADDL``, ``II``, ``SS``,
    ``DV``, ``DVID``, ``BLQ``, ``LLOQ``), ``OCC`` when given, the covariate columns, and
    ``ROW``: the record's 1-based row in the source (header excluded, comment rows counted).
    Subjects keep the order in which they first appear.

    ``encodings`` maps each text (categorical) covariate to its ``{label: code}`` mapping; the
    table holds the codes. ``items`` lists the optional data items the source had.

    ``dose_unit`` says what unit AMT (and RATE, per time unit) is in: None, the NONMEM
    convention, means each dose is already in the unit its compartment declares; a string
    (``read_nonmem(..., dose_unit="mg")``) is the unit of every dose; a mapping gives it per
    CMT value (a regimen's table). Doses with a unit are checked against, and converted into,
    the compartment's declared unit when the dataset meets a model (`cellpkpd.problem`).
    """

    table: pd.DataFrame
    covariate_columns: tuple[str, ...]
    source: str | None = None
    encodings: dict[str, dict[str, int]] = field(default_factory=dict)
    items: tuple[str, ...] = ()
    dose_unit: str | dict | None = None

    @property
    def subjects(self) -> tuple:
        return tuple(_plain(i) for i in pd.unique(self.table["ID"]))

    @property
    def n_subjects(self) -> int:
        return int(self.table["ID"].nunique())

    @property
    def covariates(self) -> pd.DataFrame:
        """Covariate columns, one row per record, with ``ID`` and ``TIME``."""
        return self.table[["ID", "TIME", *self.covariate_columns]].copy()

    def subject_tables(self):
        """``(id, rows)`` per subject, in subject order, rows in file order."""
        for sid, rows in self.table.groupby("ID", sort=False):
            yield _plain(sid), rows

    @property
    def observations(self) -> pd.DataFrame:
        t = self.table
        return t[(t.EVID == 0) & (t.MDV == 0)]

    # -- looking at it -------------------------------------------------------------------------
    def summary(self) -> str:
        """Subjects, records, doses, observations per output and the fraction BLQ."""
        t = self.table
        obs = self.observations
        doses = t[t.EVID.isin([1, 4])]
        planned = int(((t.EVID == 0) & (t.MDV == 1)).sum())
        lines = [
            f"{self.n_subjects} subjects, {len(t)} records "
            f"({len(doses)} dose records, {len(obs)} observations"
            + (f", {planned} sampling times without DV" if planned else "") + ")",
        ]
        if len(doses):
            cmt = doses.CMT.map(lambda v: "first (no CMT)" if pd.isna(v) else str(v))
            by_cmt = doses.groupby(cmt, sort=False).size()
            lines.append("doses by CMT: " + ", ".join(f"{k}: {v}" for k, v in by_cmt.items()))
        if len(obs):
            key = obs.DVID.astype(str).where(obs.DVID.notna(), "(no DVID)")
            for name, group in obs.groupby(key, sort=False):
                blq = self._blq(group)
                lines.append(f"observations of {name}: {len(group)}, BLQ {blq.mean():.1%}")
        if self.covariate_columns:
            lines.append("covariates: " + ", ".join(
                f"{c} (text: {self.encodings[c]})" if c in self.encodings else c
                for c in self.covariate_columns))
        return "\n".join(lines)

    @staticmethod
    def _blq(obs: pd.DataFrame) -> pd.Series:
        """Censored observations: flagged BLQ, or DV below a given LLOQ."""
        below = obs.DV < obs.LLOQ
        return (obs.BLQ == 1) | below.fillna(False)

    def __repr__(self) -> str:
        return f"Dataset({self.summary().splitlines()[0]})"

    # -- converting ----------------------------------------------------------------------------
    def to_dataframe(self, categorical: str = "labels") -> pd.DataFrame:
        """The table without ``ROW``; text covariates as their labels (or ``"codes"``)."""
        frame = self.table.drop(columns=["ROW"]).copy()
        if categorical == "labels":
            for col, mapping in self.encodings.items():
                decode = {code: label for label, code in mapping.items()}
                frame[col] = frame[col].map(decode)
        elif categorical != "codes":
            raise ParameterError(f"to_dataframe(categorical=) must be 'labels' or 'codes', got "
                                 f"{categorical!r}; 'labels' (the default) decodes text "
                                 "covariates, 'codes' keeps their integer codes")
        return frame

    def to_xarray(self):
        """An ``xarray.Dataset`` with one ``record`` dimension (coordinates ID, TIME, ROW)."""
        import xarray as xr

        frame = self.table.copy()
        frame["CMT"] = frame["CMT"].astype(str)
        frame["DVID"] = frame["DVID"].astype(str)
        frame.index = pd.RangeIndex(len(frame), name="record")
        ds = xr.Dataset.from_dataframe(frame)
        ds = ds.set_coords(["ID", "TIME", "ROW"])
        ds.attrs["source"] = self.source or ""
        for col, mapping in self.encodings.items():
            ds[col].attrs["encoding"] = ", ".join(f"{k}={v}" for k, v in mapping.items())
        return ds

    def write_nonmem(self, path, categorical: str = "labels", *, model=None) -> Path:
        """Write a NONMEM-format CSV (``.`` for missing), atomically.

        ``categorical="labels"`` writes text covariates as text, so the file reads back equal
        to this dataset; ``"codes"`` writes their integer codes, for NONMEM itself.

        A table cannot say what unit AMT is in: a dataset whose doses carry a unit
        (``dose_unit``) is written in the compartments' units of ``model``, and without a
        model it is an error rather than a file that would read back as a different dose.
        """
        data = self
        if self.dose_unit is not None:
            if model is None:
                from .errors import DataError, DataProblem

                raise DataError(DataProblem(
                    f"the doses are in {self.dose_unit!r}, which a NONMEM table cannot record, "
                    "so the written AMT would read back in the compartments' own units",
                    "pass model= to write the doses in its compartments' units (or build the "
                    "table with to_dataset(..., model=model))", column="AMT"), self.source)
            from .events import to_model_units

            data = to_model_units(model, self)
        frame = data.to_dataframe(categorical)
        columns = [c for c in CORE_ITEMS if c in frame]
        columns += [c for c in OPTIONAL_ITEMS if c in self.items and c in frame]
        columns += list(self.covariate_columns)
        with atomic_path(path) as tmp:
            frame[columns].to_csv(tmp, index=False, na_rep=".")
        return Path(path)

    def equals(self, other: Dataset) -> bool:
        """Same records, values, covariates and encodings (source row numbers aside)."""
        if not isinstance(other, Dataset):
            return False
        if set(self.covariate_columns) != set(other.covariate_columns):
            return False
        if self.dose_unit != other.dose_unit:
            return False
        a, b = self.to_dataframe(), other.to_dataframe()
        if set(a.columns) != set(b.columns) or len(a) != len(b):
            return False
        return all(_same(a[c], b[c]) for c in a.columns)


def _same(x: pd.Series, y: pd.Series) -> bool:
    xa, ya = x.to_numpy(dtype=object), y.to_numpy(dtype=object)
    for u, v in zip(xa, ya, strict=True):
        u_missing = u is None or (isinstance(u, float) and np.isnan(u))
        v_missing = v is None or (isinstance(v, float) and np.isnan(v))
        if u_missing or v_missing:
            if u_missing != v_missing:
                return False
        elif isinstance(u, (int, float, np.number)) and isinstance(v, (int, float, np.number)):
            if float(u) != float(v):
                return False
        elif u != v:
            return False
    return True


def _plain(value):
    """IDs as plain Python ints where they are whole numbers (1.0 -> 1)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
