"""NONMEM-format datasets: reading, validation and the `Dataset` value.

Rows are numbered from 1, header excluded, counting every data line of the file (comment
lines included), so a row number in an error message is the line a user finds in the file
after the header.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, DataProblem

#: Data items with a NONMEM meaning; every other column is a covariate.
RESERVED = (
    "C", "ID", "TIME", "EVID", "MDV", "AMT", "CMT", "RATE", "DUR", "ADDL", "II", "SS",
    "DV", "DVID", "BLQ", "CENS", "LLOQ", "LIMIT", "OCC",
)  # fmt: skip
_NUMERIC_ITEMS = ("ID", "TIME", "EVID", "MDV", "AMT", "RATE", "DUR", "ADDL", "II", "SS", "DV")
_DEFAULTS = {"AMT": 0.0, "RATE": 0.0, "ADDL": 0.0, "II": 0.0, "SS": 0.0}
_COMMENT_MARKS = ("C", "#", "@")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated NONMEM-format table.

    ``table`` has one row per kept data record, with upper-case standard columns (``ID``,
    ``TIME``, ``EVID``, ``MDV``, ``AMT``, ``CMT``, ``RATE``, ``ADDL``, ``II``, ``SS``, ``DV``),
    the covariate columns, and ``ROW``: the record's 1-based row in the source.
    Subjects keep the order in which they first appear.
    """

    table: pd.DataFrame
    covariate_columns: tuple[str, ...]
    source: str | None = None

    @property
    def subjects(self) -> tuple:
        ids = pd.unique(self.table["ID"])
        return tuple(_plain(i) for i in ids)

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def covariates(self) -> pd.DataFrame:
        """Covariate columns, one row per record, with ``ID`` and ``TIME``."""
        return self.table[["ID", "TIME", *self.covariate_columns]].copy()

    def subject_tables(self):
        """``(id, rows)`` per subject, in subject order, rows in file order."""
        for sid, rows in self.table.groupby("ID", sort=False):
            yield _plain(sid), rows

    def to_dataframe(self) -> pd.DataFrame:
        return self.table.drop(columns=["ROW"]).copy()

    def __repr__(self) -> str:
        t = self.table
        n_obs = int(((t.EVID == 0) & (t.MDV == 0)).sum())
        n_dose = int(t.EVID.isin([1, 4]).sum())
        return (
            f"Dataset({self.n_subjects} subjects, {len(t)} records: {n_dose} doses, "
            f"{n_obs} observations; covariates {list(self.covariate_columns)})"
        )


def _plain(value):
    """IDs as plain Python ints where they are whole numbers (1.0 -> 1)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def read_nonmem(source, *, covariate_fill: str | None = None) -> Dataset:
    """Read and validate a NONMEM-format table.

    Parameters
    ----------
    source : path, file object, or pandas.DataFrame
        CSV (comma, or whitespace, separated) with a header row. ``.`` means missing.
    covariate_fill : {"locf", "nocb"}, optional
        How to fill missing covariate values within a subject. Without it, a missing
        covariate value is an error.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Listing every problem found, each with its row, column and fix.
    """
    if isinstance(source, Dataset):
        return source
    name, raw = _load_raw(source)
    return _validate(raw, name, covariate_fill)


def _load_raw(source) -> tuple[str | None, pd.DataFrame]:
    if isinstance(source, pd.DataFrame):
        raw = source.copy()
        raw.columns = [str(c) for c in raw.columns]
        raw = raw.astype(object)
        return None, raw
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DataError(
                DataProblem(f"file {path} does not exist", "check the path"), source=str(path)
            )
        text = path.read_text()
        name = str(path)
    elif hasattr(source, "read"):
        text = source.read()
        if isinstance(text, bytes):
            text = text.decode()
        name = getattr(source, "name", None)
    else:
        raise TypeError(
            f"read_nonmem takes a path, a file object or a pandas DataFrame, got {type(source)}"
        )
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataError(DataProblem("the table is empty", "supply a header and rows"), name)
    sep = "," if "," in lines[0] else r"\s+"
    raw = pd.read_csv(
        io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True
    )
    raw.columns = [c.strip() for c in raw.columns]
    return name, raw.astype(object)


def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip() in ("", ".")


def _validate(raw: pd.DataFrame, source: str | None, covariate_fill: str | None) -> Dataset:
    problems: list[DataProblem] = []
    upper = {c: c.upper() for c in raw.columns}
    dupes = sorted({u for u in upper.values() if list(upper.values()).count(u) > 1})
    if dupes:
        raise DataError(
            DataProblem(
                f"columns {dupes} appear more than once (names are case-insensitive)",
                "rename or drop the duplicates",
            ),
            source,
        )
    raw = raw.rename(columns=upper)
    raw["ROW"] = np.arange(1, len(raw) + 1)
    if covariate_fill not in (None, "locf", "nocb"):
        raise ValueError(f"covariate_fill must be 'locf', 'nocb' or None, got {covariate_fill!r}")

    # Comment rows: a C column holding a mark, or a first field starting with # or @.
    first = raw.columns[0]
    comment = raw[first].map(lambda v: isinstance(v, str) and v.strip()[:1] in ("#", "@"))
    if "C" in raw.columns:
        comment |= raw["C"].map(
            lambda v: isinstance(v, str) and v.strip().upper()[:1] in _COMMENT_MARKS
        )
    raw = raw.loc[~comment].drop(columns=[c for c in ("C",) if c in raw.columns])

    for col in ("ID", "TIME"):
        if col not in raw.columns:
            problems.append(
                DataProblem(f"required column {col} is missing", f"add a {col} column", column=col)
            )
    if problems:
        raise DataError(problems, source)
    if raw.empty:
        raise DataError(
            DataProblem("the table has a header but no data rows", "add records"), source
        )

    table = pd.DataFrame({"ROW": raw["ROW"].to_numpy()})
    for col in _NUMERIC_ITEMS:
        if col in raw.columns:
            table[col] = _numeric_column(raw, col, problems)
        elif col in _DEFAULTS:
            table[col] = _DEFAULTS[col]
    if "CMT" in raw.columns:
        table["CMT"] = [_cmt_value(v) for v in raw["CMT"]]
    else:
        table["CMT"] = None
    if "DV" not in table:
        table["DV"] = np.nan

    covariate_columns = tuple(c for c in raw.columns if c not in RESERVED and c != "ROW")
    for col in covariate_columns:
        table[col] = _numeric_column(raw, col, problems)

    # Unparseable values are NaN from here on; keep checking so that every problem is listed,
    # reporting each (row, column) once.
    _infer_evid_mdv(table)
    problems += _check_records(table)
    problems += _fill_covariates(table, covariate_columns, covariate_fill)
    if problems:
        raise DataError(_first_per_cell(problems), source)
    return Dataset(table=table.reset_index(drop=True), covariate_columns=covariate_columns,
                   source=source)


def _first_per_cell(problems: list[DataProblem]) -> list[DataProblem]:
    seen, kept = set(), []
    for p in problems:
        if (p.row, p.column) not in seen:
            seen.add((p.row, p.column))
            kept.append(p)
    return kept


def _numeric_column(raw, col, problems) -> np.ndarray:
    out = np.full(len(raw), np.nan)
    for k, (row, value) in enumerate(zip(raw["ROW"], raw[col], strict=True)):
        if _is_missing(value):
            continue
        try:
            out[k] = float(value)
        except (TypeError, ValueError):
            problems.append(
                DataProblem(f"value {value!r} is not a number", "write a number or '.'", int(row),
                            col)
            )
            continue
        if not np.isfinite(out[k]):
            problems.append(
                DataProblem(f"value {value!r} is not finite", "write a finite number or '.'",
                            int(row), col)
            )
    return out


def _cmt_value(value):
    if _is_missing(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() else number
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    return value


def _infer_evid_mdv(table: pd.DataFrame) -> None:
    """NONMEM's rules: without EVID, a record with AMT > 0 is a dose; without MDV, a record is
    an observation only if it is EVID 0 with a DV."""
    if "EVID" not in table:
        table["EVID"] = np.where(np.nan_to_num(table["AMT"].to_numpy()) > 0, 1.0, 0.0)
    if "MDV" not in table:
        table["MDV"] = np.where((table["EVID"] == 0) & table["DV"].notna(), 0.0, 1.0)
    for col, default in _DEFAULTS.items():
        table[col] = table[col].fillna(default)


def _check_records(table: pd.DataFrame) -> list[DataProblem]:
    problems: list[DataProblem] = []
    rows = table["ROW"].to_numpy()
    evid, amt, rate = table["EVID"].to_numpy(), table["AMT"].to_numpy(), table["RATE"].to_numpy()
    addl, ii, ss = table["ADDL"].to_numpy(), table["II"].to_numpy(), table["SS"].to_numpy()
    ids, time = table["ID"].to_numpy(), table["TIME"].to_numpy()

    def flag(mask, message, fix, column):
        for r in rows[mask]:
            problems.append(DataProblem(message, fix, int(r), column))

    flag(np.isnan(ids), "ID is missing", "give every record a subject ID", "ID")
    flag(np.isnan(time), "TIME is missing", "give every record a time", "TIME")
    flag(~np.isin(evid, [0, 1, 2, 3, 4]), "EVID must be 0, 1, 2, 3 or 4", "correct the EVID",
         "EVID")
    dose = np.isin(evid, [1, 4])
    ss_infusion = (ss > 0) & (amt == 0) & (rate > 0)
    flag(dose & (amt <= 0) & ~ss_infusion, "a dose must have AMT > 0",
         "give the amount, or use SS=1 with AMT=0 and RATE>0 for a steady-state infusion",
         "AMT")
    flag(dose & (rate < 0) & ~np.isin(rate, [-1, -2]),
         "RATE must be >= 0, -1 (modeled rate) or -2 (modeled duration)", "correct the RATE",
         "RATE")
    flag(dose & (addl > 0) & (ii <= 0), "ADDL > 0 needs II > 0", "give the dosing interval II",
         "II")
    flag(~np.isin(ss, [0, 1, 2]), "SS must be 0, 1 or 2", "correct the SS value", "SS")
    flag(dose & (ss > 0) & (ii <= 0) & ~ss_infusion,
         "a steady-state dose (SS=1/2) needs II > 0", "give II, or use a steady-state infusion "
         "(AMT=0, RATE>0)", "II")
    flag((evid == 0) & (table["MDV"].to_numpy() == 0) & table["DV"].isna().to_numpy(),
         "an observation (EVID=0, MDV=0) has no DV", "give the DV, or set MDV=1", "DV")
    flag(dose & table["CMT"].isna().to_numpy(), "a dose has no CMT",
         "give the compartment number or name", "CMT")

    # Subjects must be contiguous, and time must not go backwards except across a reset.
    seen_closed: set = set()
    previous_id = None
    for k in range(len(table)):
        sid = ids[k]
        if sid != previous_id:
            if sid in seen_closed:
                problems.append(
                    DataProblem(f"subject {_plain(sid)} has records in two separate blocks",
                                "sort the table by ID so each subject's rows are together",
                                int(rows[k]), "ID")
                )
            if previous_id is not None:
                seen_closed.add(previous_id)
            previous_id = sid
        elif time[k] < time[k - 1] and evid[k] not in (3, 4):
            problems.append(
                DataProblem(f"TIME goes backwards ({time[k - 1]} then {time[k]})",
                            "sort the subject's records by time, or start a new period with "
                            "EVID 3 or 4", int(rows[k]), "TIME")
            )
    return problems


def _fill_covariates(table, columns, rule) -> list[DataProblem]:
    problems: list[DataProblem] = []
    for col in columns:
        missing = table[col].isna()
        if not missing.any():
            continue
        if rule is None:
            for r in table.loc[missing, "ROW"]:
                problems.append(
                    DataProblem(f"covariate {col} is missing",
                                "give the value, or read with covariate_fill='locf' or 'nocb'",
                                int(r), col)
                )
            continue
        grouped = table.groupby("ID", sort=False)[col]
        filled = grouped.ffill() if rule == "locf" else grouped.bfill()
        # A value missing at the start (locf) or end (nocb) takes the other direction.
        filled = filled.fillna(grouped.bfill() if rule == "locf" else grouped.ffill())
        table[col] = filled
        still = table[col].isna()
        for r in table.loc[still, "ROW"]:
            problems.append(
                DataProblem(f"covariate {col} has no value for this subject at all",
                            "give at least one value per subject", int(r), col)
            )
    return problems
