"""Reading NONMEM-format tables: parsing and complete validation.

Every table gets one of two outcomes: a `Dataset`, or a `DataError` that lists *every* problem,
each with its data row (1-based, header excluded, comment rows counted), its column and the fix.
Nothing is dropped silently. Parsing is vectorised (pandas/NumPy), so millions of rows take
seconds.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from .dataset import OPTIONAL_ITEMS, Dataset
from .errors import DataError, DataProblem

#: Data items with a NONMEM meaning; every other column is a covariate.
RESERVED = (
    "C", "ID", "TIME", "EVID", "MDV", "AMT", "CMT", "RATE", "DUR", "ADDL", "II", "SS",
    "DV", "DVID", "BLQ", "CENS", "LLOQ", "LIMIT", "OCC",
)  # fmt: skip
_NUMERIC_ITEMS = ("ID", "TIME", "EVID", "MDV", "AMT", "RATE", "DUR", "ADDL", "II", "SS", "DV",
                  "BLQ", "CENS", "LLOQ", "LIMIT", "OCC")
#: No dose is larger than this in any unit (1e12 cells/kg x 1e3 kg is 1e15); beyond it the
#: solution overflows to inf with no solver failure. A larger AMT is an exponent typo.
MAX_AMOUNT = 1e100
_DEFAULTS = {"AMT": 0.0, "RATE": 0.0, "DUR": 0.0, "ADDL": 0.0, "II": 0.0, "SS": 0.0,
             "BLQ": 0.0}
_MISSING = ("", ".")
#: More additional doses than this on one record is taken for a typo (it would be ~20 years
#: of daily dosing).
MAX_ADDL = 10_000


def read_nonmem(source, *, covariate_fill: str | None = None,
                dvid_map: Mapping | None = None, outputs=None,
                default_output: str | None = None, dv_required: bool = True,
                dose_unit: str | None = None) -> Dataset:
    """Read and validate a NONMEM-format table.

    Parameters
    ----------
    source : path, file object, pandas.DataFrame or Dataset
        CSV (comma- or whitespace-separated) with a header row. ``.`` means missing. Rows with
        ``C`` (or ``#``, ``@``) in a ``C`` column, or whose first field starts with ``#``/``@``,
        are comments. Column names are case-insensitive.
    covariate_fill : {"locf", "nocb"}, optional
        Fill missing covariate values within a subject. Without it they are errors.
    dvid_map : mapping, optional
        DVID number -> output name, e.g. ``{1: "cp", 2: "effect"}``.
    outputs : sequence of str, optional
        The output names DVID may use (a model's ``output_names``); checked when given.
        With several outputs, every observation needs a DVID, unless ``default_output``
        says which output the observations without one measure.
    default_output : str, optional
        The output of observations without DVID (checked with ``outputs``).
    dv_required : bool
        An observation record (EVID 0, MDV 0) must have a DV: True for fitting. False for a
        simulation table, whose output rows may have DV '.'.
    dose_unit : str, optional
        The unit of every AMT (and of RATE per time unit), e.g. ``"mg"`` or ``"1e6 cells"``.
        Each dose is then checked against the unit its compartment declares, and converted
        (mg into µg is × 1000), when the data meet a model. Without it, AMT is taken to be
        in the compartment's own unit, as NONMEM does.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Listing every problem found, each with its row, column and fix.

    Notes
    -----
    - Data items: ID, TIME, AMT, EVID, MDV, CMT (number or state name), DV, RATE, DUR (an
      infusion duration, as rxode2 allows; F then changes the rate), ADDL, II, SS, DVID
      (number or output name), BLQ or CENS (1 = below the LLOQ) with LLOQ or LIMIT, and OCC.
      Every other column is a covariate; a column of text is a categorical covariate, coded
      0, 1, ... in sorted order of its labels (``Dataset.encodings``).
    - A missing EVID is 1 where AMT > 0 and 0 elsewhere; a missing MDV is 1 except on EVID 0
      rows with a DV (NONMEM's rules).
    - CENS=1 rows without an LLOQ take DV as the limit (the Monolix/nlmixr2 convention).
    - A dose without CMT goes to the model's first compartment (NONMEM's default dose
      compartment).
    """
    if dose_unit is not None:
        _check_dose_unit(dose_unit)
    if isinstance(source, Dataset):
        if dose_unit is not None and source.dose_unit not in (None, dose_unit):
            raise DataError(DataProblem(
                f"the dataset's doses are already in {source.dose_unit!r}; dose_unit="
                f"{dose_unit!r} would say otherwise", "drop dose_unit=", column="AMT"),
                source.source)
        unit = dose_unit if dose_unit is not None else source.dose_unit
        if dvid_map is None:
            # Already validated: only the model-dependent DVID check is left, and the source
            # row numbers are kept for its messages.
            if outputs is not None:
                problems = check_dvid(source.table, outputs, default_output)
                if problems:
                    raise DataError(problems, source.source)
            return source if unit == source.dose_unit else replace(source, dose_unit=unit)
        dose_unit = unit
        source = source.to_dataframe()
    if covariate_fill not in (None, "locf", "nocb"):
        raise DataError(DataProblem(
            f"covariate_fill must be 'locf', 'nocb' or None, got {covariate_fill!r}",
            "use covariate_fill='locf' or 'nocb'"))
    name, raw = _load_raw(source)
    data = _validate(raw, name, covariate_fill, dvid_map, outputs, default_output,
                     dv_required)
    return data if dose_unit is None else replace(data, dose_unit=dose_unit)


def _check_dose_unit(dose_unit) -> None:
    """A table's dose unit is a flat amount: AMT is what was given, not a dose per kg."""
    from .dose_units import parse_dose_unit
    from .errors import UnitError

    try:
        parsed = parse_dose_unit(dose_unit, what="dose_unit")
    except UnitError as err:
        raise DataError(DataProblem(err.problem, err.fix, column="AMT")) from None
    if parsed.per is not None:
        raise DataError(DataProblem(
            f"dose_unit {dose_unit!r} is per body size, but a table's AMT is the amount given",
            f"write AMT as the amount (the per-kg dose times WT) and dose_unit="
            f"{parsed.amount_text!r}", column="AMT"))


def _load_raw(source) -> tuple[str | None, pd.DataFrame]:
    if isinstance(source, pd.DataFrame):
        raw = source.copy()
        raw.columns = [str(c).strip() for c in raw.columns]
        return None, raw.reset_index(drop=True)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            raise DataError(DataProblem(f"{path} is a directory, not a table",
                                        "give the path of the CSV file"), str(path))
        if not path.is_file():
            raise DataError(DataProblem(f"file {path} does not exist", "check the path"),
                            str(path))
        name = str(path)
        text = _decode(path.read_bytes(), name)
    elif hasattr(source, "read"):
        text = source.read()
        name = getattr(source, "name", None)
        if isinstance(text, bytes):
            text = _decode(text, name)
    else:
        raise DataError(DataProblem(
            f"read_nonmem takes a path, a file object or a pandas DataFrame, got "
            f"{type(source).__name__}", "pass the table's path"))
    text = text.lstrip("\ufeff")
    # Blank lines before the header carry no records (data rows are counted after it).
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    text = "\n".join(lines)
    if not text.strip():
        raise DataError(DataProblem("the table is empty (no header)",
                                    "supply a header row and records"), name)
    first_line = lines[0]
    sep = _separator(first_line, name)
    header = _header(first_line, sep, name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            # The C parser types clean numeric columns itself ('.' and '' are missing); only
            # columns holding text come back as objects and take the slower checked path.
            # index_col=False: a row with a trailing separator must not shift every column.
            raw = pd.read_csv(io.StringIO(text), sep=sep, na_values=list(_MISSING),
                              keep_default_na=False, skipinitialspace=True,
                              skip_blank_lines=True, names=header, header=0, index_col=False)
        except (pd.errors.ParserError, ValueError) as err:
            long = _long_rows(lines[1:], sep, len(header))
            if long:
                raise DataError(long, name) from None
            raise DataError(DataProblem(f"the table cannot be parsed as CSV ({err})",
                                        "give every row as many fields as the header"),
                            name) from None
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        raise DataError(_long_rows(lines[1:], sep, len(header)) or DataProblem(
            f"some rows have more fields than the header's {len(header)}",
            "remove the extra fields, or name their column in the header"), name)
    return name, raw


def _long_rows(lines: list[str], sep: str, n: int) -> list[DataProblem]:
    """The data rows (numbered as ``ROW``: blank lines skipped) with more fields than the
    header's ``n``; a trailing empty field is a trailing separator, not a field."""
    problems, row = [], 0
    for line in lines:
        if not line.strip():
            continue
        row += 1
        fields = next(csv.reader([line])) if sep == "," else line.split()
        while len(fields) > n and not fields[-1].strip():
            fields.pop()
        if len(fields) > n:
            problems.append(DataProblem(
                f"the row has {len(fields)} fields, more fields than the header's {n}",
                "remove the extra fields, or name their column in the header", row))
    return problems


def _decode(data: bytes, name) -> str:
    """Text of a file: UTF-8 (with or without BOM), UTF-16 with a BOM, else Latin-1 (which
    decodes any bytes; the non-ASCII characters can only be in text columns)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise DataError(DataProblem("the file starts with a UTF-16 mark but is not UTF-16",
                                        "save it as UTF-8 CSV"), name) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _separator(first_line: str, name) -> str:
    """',' if the header has one, else whitespace; ';' and tabs-with-commas are refused."""
    if "," in first_line:
        return ","
    if ";" in first_line:
        raise DataError(DataProblem(
            "the header is separated by ';', which NONMEM (NM-TRAN) does not read",
            "save the table with ',' (or whitespace) between fields and '.' as the decimal "
            "mark"), name)
    return r"\s+"


def _header(first_line: str, sep: str, name) -> list[str]:
    """Column names, checked before pandas renames duplicates (``AMT.1``) or fills empty
    names (``Unnamed: 3``)."""
    fields = next(csv.reader([first_line])) if sep == "," else first_line.split()
    names = [f.strip() for f in fields]
    # A trailing separator on the header leaves one empty name at the end: harmless.
    while len(names) > 1 and not names[-1]:
        names.pop()
    problems = [DataProblem(f"column {k + 1} of the header has no name",
                            "name it, or remove the empty field", column=f"#{k + 1}")
                for k, n in enumerate(names) if not n]
    upper = [n.upper() for n in names]
    dupes = sorted({u for u in upper if u and upper.count(u) > 1})
    if dupes:
        problems.append(DataProblem(
            f"columns {dupes} appear more than once (names are case-insensitive)",
            "rename or drop the duplicates", column=dupes[0]))
    if problems:
        raise DataError(problems, name)
    return names


def _text(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Stripped text of a column and its missing mask."""
    text = series.astype("string").str.strip()
    missing = (text.isna() | text.isin(_MISSING)).to_numpy()
    return text, missing


def _numbers(series: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.Series | None]:
    """``(values, unparseable mask, text)``; missing values are NaN and not unparseable."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = np.array(series.to_numpy(dtype=float, na_value=np.nan))
        return values, np.zeros(len(values), bool), None
    text, missing = _text(series)
    values = pd.to_numeric(text.mask(missing), errors="coerce").to_numpy(dtype=float,
                                                                           na_value=np.nan)
    return values, np.isnan(values) & ~missing, text


def _problems(problems, rows, mask, message, fix, column, values=None):
    for k in np.flatnonzero(mask):
        text = message if values is None else message.format(value=values[k])
        problems.append(DataProblem(text, fix, int(rows[k]), column))


def _validate(raw, source, covariate_fill, dvid_map, outputs, default_output=None,
              dv_required=True) -> Dataset:
    upper = [c.upper() for c in raw.columns]
    dupes = sorted({u for u in upper if upper.count(u) > 1})
    if dupes:
        raise DataError(DataProblem(
            f"columns {dupes} appear more than once (names are case-insensitive)",
            "rename or drop the duplicates"), source)
    raw.columns = upper
    if raw.shape[1] == 0:
        raise DataError(DataProblem("the table has no columns", "supply a header row"), source)
    rows_all = np.arange(1, len(raw) + 1)

    # Comment rows: a mark in a C column, or a first field starting with # or @.
    comment = np.zeros(len(raw), dtype=bool)
    # Any non-numeric dtype holds text: object, or pandas' ``str`` dtype (pandas >= 3).
    if not pd.api.types.is_numeric_dtype(raw[raw.columns[0]]):
        first_text, _ = _text(raw[raw.columns[0]])
        comment |= first_text.str[:1].isin(["#", "@"]).fillna(False).to_numpy(dtype=bool)
    if "C" in raw.columns:
        c_text, _ = _text(raw["C"])
        marked = c_text.str[:1].str.upper().isin(["C", "#", "@"]).fillna(False)
        comment = comment | marked.to_numpy(dtype=bool)
    raw = raw.loc[~comment].drop(columns=[c for c in ("C",) if c in raw.columns])
    rows = rows_all[~comment]
    raw = raw.reset_index(drop=True)

    missing_cols = [c for c in ("ID", "TIME") if c not in raw.columns]
    if missing_cols:
        raise DataError([DataProblem(f"required column {c} is missing", f"add a {c} column",
                                     column=c) for c in missing_cols], source)
    if raw.empty:
        raise DataError(DataProblem("the table has a header but no data rows", "add records"),
                        source)

    typos = _typos(raw.columns, raw)
    if typos:
        raise DataError(typos, source)
    problems: list[DataProblem] = []
    table = pd.DataFrame({"ROW": rows})
    for col in _NUMERIC_ITEMS:
        if col in raw.columns:
            values, bad, text = _numbers(raw[col])
            _problems(problems, rows, bad, "value {value!r} is not a number",
                      "write a number, or '.' for missing", col, text.to_numpy() if bad.any()
                      else None)
            _problems(problems, rows, np.isinf(values), "value is not finite",
                      "write a finite number, or '.' for missing", col)
            table[col] = np.where(np.isinf(values), np.nan, values)
        elif col in _DEFAULTS:
            table[col] = _DEFAULTS[col]
    for col, default in _DEFAULTS.items():
        table[col] = table[col].fillna(default)
    table["CMT"] = _names_or_numbers(raw["CMT"]) if "CMT" in raw.columns else None
    table["DVID"] = _dvid(raw, dvid_map, rows, problems)
    if "DV" not in table:
        table["DV"] = np.nan

    _infer_evid_mdv(table)
    _censoring(table, rows, problems)

    covariate_columns = tuple(c for c in raw.columns if c not in RESERVED)
    encodings = {}
    for col in covariate_columns:
        values, mapping = _covariate(raw[col], col, rows, problems)
        table[col] = values
        if mapping is not None:
            encodings[col] = mapping

    problems += _check_records(table, outputs, default_output, dv_required)
    problems += _fill_covariates(table, covariate_columns, covariate_fill)
    if problems:
        raise DataError(_first_per_cell(problems), source)
    items = tuple(c for c in OPTIONAL_ITEMS if c in raw.columns
                  or (c == "BLQ" and "CENS" in raw.columns)
                  or (c == "LLOQ" and "LIMIT" in raw.columns))
    table = table.drop(columns=[c for c in ("CENS", "LIMIT") if c in table])
    return Dataset(table=table, covariate_columns=covariate_columns, source=source,
                   encodings=encodings, items=items)


def _names_or_numbers(series: pd.Series) -> np.ndarray:
    """CMT/DVID: whole numbers as int, other numbers as float, text as stripped str."""
    values, unparseable, text = _numbers(series)
    out = np.empty(len(values), dtype=object)
    out[:] = None
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (np.abs(values) < 2**53) & (np.mod(values, 1) == 0)
    out[whole] = values[whole].astype(np.int64)
    frac = ~np.isnan(values) & ~whole
    out[frac] = values[frac]
    if text is not None:
        out[unparseable] = text.to_numpy()[unparseable]
    return out


def _dvid(raw, dvid_map, rows, problems) -> np.ndarray:
    if "DVID" not in raw.columns:
        return np.full(len(raw), None, dtype=object)
    values = _names_or_numbers(raw["DVID"])
    for k, v in enumerate(values):
        if isinstance(v, float):  # whole numbers came back as int
            problems.append(DataProblem(
                f"DVID {v} is not a whole number, so it names no output",
                "write the output's number (1, 2, ...) or its name", int(rows[k]), "DVID"))
    if dvid_map:
        mapping = {float(k): v for k, v in dvid_map.items()}
        for k, v in enumerate(values):
            if isinstance(v, (int, np.integer)):
                if float(v) in mapping:
                    values[k] = mapping[float(v)]
                else:
                    problems.append(DataProblem(
                        f"DVID {v} is not in dvid_map {dict(dvid_map)}",
                        "add it to dvid_map, or correct the DVID", int(rows[k]), "DVID"))
    return values


def _infer_evid_mdv(table: pd.DataFrame) -> None:
    """NONMEM's rules: without EVID, a record with AMT > 0 is a dose; without MDV, a record is
    an observation only if it is EVID 0 with a DV."""
    if "EVID" not in table:
        table["EVID"] = np.where(table["AMT"].to_numpy() > 0, 1.0, 0.0)
    if "MDV" not in table:
        table["MDV"] = np.where((table["EVID"] == 0) & table["DV"].notna(), 0.0, 1.0)


def _censoring(table, rows, problems) -> None:
    """BLQ/CENS flags and LLOQ/LIMIT into ``BLQ`` (0/1) and ``LLOQ``."""
    if "CENS" in table:
        cens = table["CENS"].fillna(0).to_numpy()
        _problems(problems, rows, cens == -1, "CENS=-1 (right-censoring) is not supported",
                  "use CENS 0 or 1", "CENS")
        _problems(problems, rows, ~np.isin(cens, [-1, 0, 1]), "CENS must be 0 or 1",
                  "correct the CENS value", "CENS")
        table["BLQ"] = np.maximum(table["BLQ"].to_numpy(), (cens == 1).astype(float))
    if "LLOQ" not in table:
        table["LLOQ"] = table["LIMIT"] if "LIMIT" in table else np.nan
    elif "LIMIT" in table:
        table["LLOQ"] = table["LLOQ"].fillna(table["LIMIT"])
    blq = table["BLQ"].to_numpy()
    _problems(problems, rows, ~np.isin(blq, [0, 1]), "BLQ must be 0 or 1",
              "correct the BLQ value", "BLQ")
    if "CENS" in table:  # CENS=1 with no limit: DV is the limit
        use_dv = (table["CENS"] == 1) & table["LLOQ"].isna()
        table.loc[use_dv, "LLOQ"] = table.loc[use_dv, "DV"]
    no_limit = (blq == 1) & table["LLOQ"].isna().to_numpy()
    _problems(problems, rows, no_limit, "the record is flagged BLQ but has no LLOQ",
              "give the limit in an LLOQ (or LIMIT) column", "BLQ")


#: Flag items and the values they take: a column one letter away from an absent one (``WLQ``
#: for ``BLQ``) holding only these values is taken for a typo of it. Only flags: their values
#: are too particular to be a covariate's by chance, unlike RATE's (RACE is a covariate).
_FLAGS = {"BLQ": {0, 1}, "MDV": {0, 1}, "CENS": {-1, 0, 1}, "EVID": {0, 1, 2, 3, 4}}


def _one_edit(a: str, b: str) -> bool:
    """One substitution, insertion, deletion or swap of neighbours turns ``a`` into ``b``."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [k for k in range(len(a)) if a[k] != b[k]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = sorted((a, b), key=len)
    return any(long[:k] + long[k + 1:] == short for k in range(len(long)))


def _swapped(a: str, b: str) -> bool:
    """``b`` is ``a`` with two neighbouring letters swapped (``MCT`` for ``CMT``)."""
    return len(a) == len(b) and a != b and any(
        a[:k] + a[k + 1] + a[k] + a[k + 2:] == b for k in range(len(a) - 1))


def _flag_typo(col: str, absent: list[str], series: pd.Series) -> list[str]:
    swapped = [r for r in absent if len(r) > 2 and _swapped(r, col)]
    if swapped:
        return swapped[:1]
    items = [r for r in absent if r in _FLAGS and _one_edit(col, r)]
    if not items:
        return []
    values = pd.to_numeric(series, errors="coerce")
    given = values.dropna()
    if given.empty or values.isna().sum() > series.isna().sum():  # text: not a flag
        return []
    return [r for r in items if set(given.unique()) <= _FLAGS[r]][:1]


def _typos(columns, values: pd.DataFrame | None = None) -> list[DataProblem]:
    """A column named like an absent data item (``AMNT`` for ``AMT``) is a typo, not a
    covariate: read as one, every dose would silently have AMT 0. So is a column that swaps
    two neighbouring letters of an absent item (``MCT``), or is one edit from an absent flag
    item (``WLQ``, ``MVD``) and holds only that flag's values. Other one-letter changes
    (``ALT``, ``RACE``) are covariate names too often to be refused."""
    problems = []
    for col in columns:
        if col in RESERVED:
            continue
        # An item's name with a suffix (DUR2, AMT_MG) is a deliberate covariate name.
        absent = [r for r in RESERVED
                  if r not in columns and len(r) > 1 and not col.startswith(r)]
        close = difflib.get_close_matches(col, absent, n=1, cutoff=0.8)
        if not close and values is not None:
            close = _flag_typo(col, absent, values[col])
        if close:
            problems.append(DataProblem(
                f"{col} is not a NONMEM data item; did you mean {close[0]}? (read as a "
                "covariate, it would leave every record without " + close[0] + ")",
                f"rename it {close[0]}, or rename the covariate so it does not look like a "
                "data item", column=col))
    return problems


def _covariate(series, col, rows, problems):
    """Numeric values, or codes of a text column with its ``{label: code}`` mapping."""
    values, unparseable, text = _numbers(series)
    _problems(problems, rows, np.isinf(values), "covariate value is not finite (inf, or a "
              "number beyond 1.8e308)", "write a finite number, or '.' for missing", col)
    values = np.where(np.isinf(values), np.nan, values)
    if not unparseable.any():
        return values, None
    parsed = ~np.isnan(values)
    if parsed.any():  # a mix of numbers and text is a typo, not a categorical covariate
        _problems(problems, rows, unparseable,
                  "value {value!r} is text in a column of numbers",
                  "write a number, or make the whole column text (a categorical covariate)",
                  col, text.to_numpy())
        return values, None
    _, missing = _text(series)
    labels = sorted(set(text.to_numpy()[~missing]))
    mapping = {label: code for code, label in enumerate(labels)}
    codes = np.full(len(values), np.nan)
    codes[~missing] = [mapping[v] for v in text.to_numpy()[~missing]]
    return codes, mapping


def _check_records(table: pd.DataFrame, outputs, default_output=None,
                   dv_required=True) -> list[DataProblem]:
    problems: list[DataProblem] = []
    rows = table["ROW"].to_numpy()
    col = {c: table[c].to_numpy() for c in ("ID", "TIME", "EVID", "AMT", "RATE", "DUR", "ADDL",
                                            "II", "SS", "MDV")}
    evid, amt, rate, ss = col["EVID"], col["AMT"], col["RATE"], col["SS"]

    def flag(mask, message, fix, column):
        _problems(problems, rows, mask, message, fix, column)

    flag(np.isnan(col["ID"]), "ID is missing", "give every record a subject ID", "ID")
    flag(np.isnan(col["TIME"]), "TIME is missing", "give every record a time", "TIME")
    flag(~np.isin(evid, [0, 1, 2, 3, 4]), "EVID must be 0, 1, 2, 3 or 4", "correct the EVID",
         "EVID")
    flag(~np.isin(col["MDV"], [0, 1]), "MDV must be 0 or 1", "correct the MDV", "MDV")
    dose = np.isin(evid, [1, 4])
    ss_infusion = (ss > 0) & (amt == 0) & (rate > 0)
    flag(dose & ~(amt > 0) & ~ss_infusion, "a dose must have AMT > 0",
         "give the amount, or use SS=1 with AMT=0 and RATE>0 for a steady-state infusion",
         "AMT")
    flag((evid == 0) & (amt != 0),
         "an observation record (EVID 0) has AMT != 0; NM-TRAN rejects this too",
         "set AMT to 0 (or '.') on observation rows, or EVID 1 for a dose", "AMT")
    flag(np.abs(amt) > MAX_AMOUNT, f"AMT is beyond {MAX_AMOUNT:g}, which no dose reaches",
         "correct the exponent or the unit of AMT", "AMT")
    flag(np.abs(rate) > MAX_AMOUNT, f"RATE is beyond {MAX_AMOUNT:g}, which no infusion reaches",
         "correct the exponent or the unit of RATE", "RATE")
    flag(dose & (rate < 0) & ~np.isin(rate, [-1, -2]),
         "RATE must be >= 0, -1 (modeled rate) or -2 (modeled duration)", "correct the RATE",
         "RATE")
    flag(dose & (col["DUR"] < 0), "DUR must be >= 0", "correct the duration", "DUR")
    flag(dose & (col["DUR"] > 0) & (rate != 0), "a dose has both RATE and DUR",
         "give either the infusion rate or its duration, not both", "DUR")
    flag(dose & (col["ADDL"] > 0) & ~(col["II"] > 0), "ADDL > 0 needs II > 0",
         "give the dosing interval II", "II")
    with np.errstate(invalid="ignore"):
        bad_addl = (col["ADDL"] < 0) | (np.mod(col["ADDL"], 1) != 0) | (col["ADDL"] > MAX_ADDL)
    flag(bad_addl, f"ADDL must be a whole number from 0 to {MAX_ADDL}", "correct the ADDL",
         "ADDL")
    with np.errstate(over="ignore", invalid="ignore"):
        last_dose = col["TIME"] + col["ADDL"] * col["II"]
    flag(dose & ~np.isfinite(last_dose) & np.isfinite(col["TIME"]) & ~bad_addl,
         "TIME + ADDL*II is not a finite time", "correct II or ADDL", "II")
    flag(~np.isin(ss, [0, 1, 2]), "SS must be 0, 1 or 2", "correct the SS value", "SS")
    flag(dose & (ss > 0) & ~(col["II"] > 0) & ~ss_infusion,
         "a steady-state dose (SS=1/2) needs II > 0",
         "give II, or use a steady-state infusion (AMT=0, RATE>0)", "II")
    if dv_required:
        flag((evid == 0) & (col["MDV"] == 0) & table["DV"].isna().to_numpy(),
             "an observation (EVID=0, MDV=0) has no DV",
             "give the DV, or set MDV=1 (a simulation does not need DV)", "DV")
    if outputs is not None:
        problems += check_dvid(table, outputs, default_output)

    # Subjects must be contiguous; time must not go backwards except across a reset.
    ids, time = col["ID"], col["TIME"]
    starts = np.r_[True, ids[1:] != ids[:-1]]
    block_ids = ids[starts]
    seen_before = pd.Series(block_ids).duplicated().to_numpy()
    for k, block_id in zip(np.flatnonzero(starts)[seen_before], block_ids[seen_before],
                           strict=True):
        problems.append(DataProblem(
            f"subject {_whole(block_id)} has records in two separate blocks",
            "sort the table by ID so each subject's rows are together", int(rows[k]), "ID"))
    back = np.r_[False, (~starts[1:]) & (time[1:] < time[:-1])] & ~np.isin(evid, [3, 4])
    for k in np.flatnonzero(back):
        problems.append(DataProblem(
            f"TIME goes backwards ({time[k - 1]} then {time[k]})",
            "sort the subject's records by time, or start a new period with EVID 3 or 4",
            int(rows[k]), "TIME"))
    return problems


def check_dvid(table: pd.DataFrame, outputs, default_output: str | None = None
               ) -> list[DataProblem]:
    """Every DVID must name an output: by name, or by whole 1-based number. With several
    outputs and no ``default_output``, every observation must have a DVID (as nlmixr2's
    etTrans and mrgsolve require for several endpoints): otherwise all of them would be
    taken for the first output."""
    problems = []
    outputs = list(outputs)
    dvid, rows = table["DVID"].to_numpy(), table["ROW"].to_numpy()
    if len(outputs) > 1 and default_output is None:
        observed = ((table["EVID"] == 0) & (table["MDV"] == 0)).to_numpy()
        for k in np.flatnonzero(observed & pd.isna(table["DVID"]).to_numpy()):
            problems.append(DataProblem(
                f"the observation has no DVID, and the model has {len(outputs)} outputs "
                f"({', '.join(outputs[:6])}{', ...' if len(outputs) > 6 else ''})",
                "add a DVID column naming each observation's output (a name or 1-based "
                "number), or fit a single output (error={name: kind})", int(rows[k]), "DVID"))
    for k in np.flatnonzero(~pd.isna(table["DVID"]).to_numpy()):
        value = dvid[k]
        if isinstance(value, str):
            if value not in outputs:
                problems.append(DataProblem(
                    f"DVID {value!r} names no output of the model",
                    f"use one of {outputs}", int(rows[k]), "DVID"))
        elif not float(value).is_integer():
            problems.append(DataProblem(
                f"DVID {value} is not a whole number, so it names no output",
                f"use 1-{len(outputs)} or an output name", int(rows[k]), "DVID"))
        elif not 1 <= value <= len(outputs):
            problems.append(DataProblem(
                f"DVID {value} names no output (the model has {len(outputs)})",
                f"use 1-{len(outputs)}, an output name, or a dvid_map", int(rows[k]), "DVID"))
    return problems


def _whole(value):
    return int(value) if float(value).is_integer() else value


def _fill_covariates(table, columns, rule) -> list[DataProblem]:
    problems: list[DataProblem] = []
    for col in columns:
        missing = table[col].isna()
        if not missing.any():
            continue
        if rule is None:
            _problems(problems, table["ROW"].to_numpy(), missing.to_numpy(),
                      f"covariate {col} is missing",
                      "give the value, or read with covariate_fill='locf' or 'nocb'", col)
            continue
        grouped = table.groupby("ID", sort=False)[col]
        first, second = (grouped.ffill, grouped.bfill) if rule == "locf" else (grouped.bfill,
                                                                                 grouped.ffill)
        # A value missing at the start (locf) or the end (nocb) takes the other direction.
        table[col] = first().fillna(second())
        _problems(problems, table["ROW"].to_numpy(), table[col].isna().to_numpy(),
                  f"covariate {col} has no value for this subject at all",
                  "give at least one value per subject", col)
    return problems


def _first_per_cell(problems: list[DataProblem]) -> list[DataProblem]:
    seen, kept = set(), []
    for p in problems:
        if (p.row, p.column) not in seen:
            seen.add((p.row, p.column))
            kept.append(p)
    return kept
