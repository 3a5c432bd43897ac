"""Mutated real tables for the property-based fuzz of issue 20 (tests/test_data_fuzz.py and
benchmarks/fuzz_tables.py).

Each `Case` is one defect (or one harmless change of format) applied to a real table:
``fits/theophylline`` (all 12 subjects) or ``fits/msc_ifna_phase1`` (its first subjects, to
keep an example fast), with the outcome a correct reader must give: ``"read"`` (the same
dataset as the original, or the one the rule derives) or ``"reject"`` (a cellpkpd error that
names the row or column of the defect, or for a defect of the whole file, the table).

`outcome(case)` runs the reader and the model check the fit runs (DVIDs, compartments, dose
units) and classifies what happened: ``accepted-correct``, ``rejected-named``, and the
failures ``silent`` (a defect accepted, or a harmless change read differently),
``rejected-unnamed`` (an error that names neither row nor column), ``rejected-wrongly`` (a
harmless change refused) and ``foreign`` (an exception that is not cellpkpd's). Nothing here
compiles JAX: models are built, never solved.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
MSC_SUBJECTS = 3

_models: dict = {}
_originals: dict = {}


@dataclass(frozen=True)
class Source:
    name: str
    model: str
    header: list[str]
    rows: list[list[str]]  # data lines split at ',' (no quoted commas in these tables)


def _source(name: str) -> Source:
    if name == "theophylline":
        text = (ROOT / "fits/theophylline/theoph_nonmem.csv").read_text()
        model = "pk_1cmt_oral"
    else:
        text = (ROOT / "fits/msc_ifna_phase1/data.csv").read_text()
        model = "msc_ifna"
    lines = [line.split(",") for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    if name == "msc_ifna":
        ids = list(dict.fromkeys(r[0] for r in rows))[:MSC_SUBJECTS]
        rows = [r for r in rows if r[0] in ids]
    return Source(name, model, header, rows)


SOURCES = {name: _source(name) for name in ("theophylline", "msc_ifna")}


def model_of(source: Source):
    import cellpkpd as cp

    if source.model not in _models:
        _models[source.model] = cp.load_model(source.model)
    return _models[source.model]


@dataclass
class Case:
    source: str
    kind: str
    data: bytes
    expect: str  # "read" or "reject"
    row: int | None = None  # 1-based data row of the defect
    column: str | None = None  # its column (upper case)
    table_level: str | None = None  # words a whole-file error must contain
    kwargs: dict = field(default_factory=dict)  # read_nonmem options (dose_unit, ...)
    transform: callable = None  # the expected dataset from the original, for "read"
    regimen: tuple | None = None  # (subjects, Regimen) for a body-size case


def _text(header, rows, sep=",", newline="\n") -> str:
    return newline.join(sep.join(r) for r in [header, *rows]) + newline


def _encode(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def _col(source: Source, name: str) -> int:
    return source.header.index(name)


def _is(row, source, col, values) -> bool:
    return row[_col(source, col)] in values


# -- the defects ------------------------------------------------------------------------------

NON_FINITE = ["inf", "-inf", "Infinity", "1e400", "-1e999", "nan", "NaN"]
NOT_NUMBERS = ["abc", "1,5", "12a", "--1", "1e", "0x10", "TRUE"]


@st.composite
def cases(draw, sources=("theophylline", "msc_ifna")):
    source = SOURCES[draw(st.sampled_from(sources))]
    kinds = [k for k, (_, only) in KINDS.items() if only in (None, source.name)]
    kind = draw(st.sampled_from(sorted(kinds)))
    case = KINDS[kind][0](draw, source)
    case.kind = kind
    return case


def _pick_row(draw, source, where=None) -> int:
    candidates = [i for i, r in enumerate(source.rows) if where is None or where(r)]
    return draw(st.sampled_from(candidates))


def _cell(draw, source, column, value, where=None) -> Case:
    header, rows = list(source.header), [list(r) for r in source.rows]
    i = _pick_row(draw, source, where)
    rows[i][_col(source, column)] = value
    return Case(source.name, "", _encode(_text(header, rows)), "reject", row=i + 1,
                column=column)


def _dose(source):
    return lambda r: _is(r, source, "EVID", {"1"})


def _obs(source):
    return lambda r: _is(r, source, "EVID", {"0"}) and _is(r, source, "MDV", {"0"})


def duplicate_column(draw, source):
    k = draw(st.integers(0, len(source.header) - 1))
    name = source.header[k]
    dup = draw(st.sampled_from([name, name.lower()]))
    header = [*source.header, dup]
    rows = [[*r, r[k]] for r in source.rows]
    return Case(source.name, "", _encode(_text(header, rows)), "reject", column=name.upper())


def empty_header(draw, source):
    k = draw(st.integers(0, len(source.header) - 2))  # a last empty name is a trailing comma
    header = list(source.header)
    header[k] = draw(st.sampled_from(["", " "]))
    return Case(source.name, "", _encode(_text(header, source.rows)), "reject",
                column=f"#{k + 1}")


def non_finite_covariate(draw, source):
    return _cell(draw, source, "WT", draw(st.sampled_from(NON_FINITE)))


def non_finite_item(draw, source):
    col = draw(st.sampled_from(["TIME", "AMT", "DV"]))
    where = _dose(source) if col == "AMT" else _obs(source) if col == "DV" else None
    return _cell(draw, source, col, draw(st.sampled_from(NON_FINITE[:5])), where)


def not_a_number(draw, source):
    col = draw(st.sampled_from(["TIME", "AMT", "EVID", "MDV", "DV", "ID"]))
    return _cell(draw, source, col, draw(st.sampled_from(NOT_NUMBERS)))


def amt_on_observation(draw, source):
    value = draw(st.sampled_from(["1", "0.5", "100", "-3"]))
    return _cell(draw, source, "AMT", value, lambda r: _is(r, source, "EVID", {"0"}))


def huge_amt(draw, source):
    value = draw(st.sampled_from(["1.8e308", "1e101", "-1.8e308", "1e200"]))
    return _cell(draw, source, "AMT", value, _dose(source))


def bad_dose_amount(draw, source):
    return _cell(draw, source, "AMT", draw(st.sampled_from(["0", "-100", "."])), _dose(source))


def bad_evid(draw, source):
    return _cell(draw, source, "EVID", draw(st.sampled_from(["5", "1.5", "-1", "9"])))


def bad_mdv(draw, source):
    return _cell(draw, source, "MDV", draw(st.sampled_from(["2", "0.5", "-1"])))


def bad_cmt(draw, source):
    value = draw(st.sampled_from(["99", "1.5", "gut", "0", "-1"]))
    return _cell(draw, source, "CMT", value, _dose(source))


def missing_dv(draw, source):
    return _cell(draw, source, "DV", ".", _obs(source))


def fractional_dvid(draw, source):
    return _cell(draw, source, "DVID", draw(st.sampled_from(["1.5", "2.25", "qpcr_blod",
                                                             "0", "99"])), _obs(source))


def bad_blq(draw, source):
    return _cell(draw, source, "BLQ", draw(st.sampled_from(["2", "-1", "0.5"])))


def missing_dvid(draw, source):
    """Several outputs, no DVID column: every observation would go to the first output."""
    k = _col(source, "DVID")
    header = [h for j, h in enumerate(source.header) if j != k]
    rows = [[v for j, v in enumerate(r) if j != k] for r in source.rows]
    first = next(i for i, r in enumerate(source.rows) if _obs(source)(r))
    return Case(source.name, "", _encode(_text(header, rows)), "reject", row=first + 1,
                column="DVID")


def time_backwards(draw, source):
    header, rows = list(source.header), [list(r) for r in source.rows]
    t, idc = _col(source, "TIME"), _col(source, "ID")
    later = [i for i in range(1, len(rows)) if rows[i][idc] == rows[i - 1][idc]
             and float(rows[i - 1][t]) > 0]
    i = draw(st.sampled_from(later))
    rows[i][t] = repr(float(rows[i - 1][t]) - draw(st.sampled_from([0.01, 1.0, 100.0])))
    return Case(source.name, "", _encode(_text(header, rows)), "reject", row=i + 1,
                column="TIME")


def split_subject(draw, source):
    """A row of the first subject moved to the end: the subject in two blocks."""
    header, rows = list(source.header), [list(r) for r in source.rows]
    idc = _col(source, "ID")
    first_id = rows[0][idc]
    own = [i for i, r in enumerate(rows) if r[idc] == first_id]
    i = draw(st.sampled_from(own[1:]))
    moved = rows.pop(i)
    rows.append(moved)
    return Case(source.name, "", _encode(_text(header, rows)), "reject", row=len(rows),
                column="ID")


def drop_required(draw, source):
    name = draw(st.sampled_from(["ID", "TIME"]))
    k = _col(source, name)
    header = [h for j, h in enumerate(source.header) if j != k]
    rows = [[v for j, v in enumerate(r) if j != k] for r in source.rows]
    return Case(source.name, "", _encode(_text(header, rows)), "reject", column=name)


def _typo(draw, name: str) -> str:
    k = draw(st.integers(0, len(name) - 1))
    how = draw(st.sampled_from(["insert", "delete", "double", "swap", "substitute"]))
    letter = draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    if how == "insert":
        return name[:k] + letter + name[k:]
    if how == "delete" and len(name) > 2:
        return name[:k] + name[k + 1:]
    if how == "double":
        return name[:k] + name[k] + name[k:]
    if how == "swap" and k + 1 < len(name):
        return name[:k] + name[k + 1] + name[k] + name[k + 2:]
    return name[:k] + letter + name[k + 1:]


def column_typo(draw, source):
    from cellpkpd.nonmem import RESERVED

    items = [h for h in source.header if h in RESERVED and len(h) > 2]
    name = draw(st.sampled_from(items))
    typo = _typo(draw, name)
    if typo in RESERVED or typo.upper() in (h.upper() for h in source.header) or typo == name:
        typo = name + "X"  # a typo that is another item's name means something else
    header = [typo if h == name else h for h in source.header]
    return Case(source.name, "", _encode(_text(header, source.rows)), "reject",
                column=typo.upper(), table_level=name)


def semicolons(draw, source):
    text = _text(source.header, source.rows, sep=";")
    if draw(st.booleans()):
        text = text.replace(".", ",")  # the decimal comma that comes with it
    return Case(source.name, "", _encode(text), "reject", table_level="';'")


def extra_field(draw, source):
    header, rows = list(source.header), [list(r) for r in source.rows]
    i = _pick_row(draw, source)
    rows[i].append(draw(st.sampled_from(["1", "x", "."])))
    return Case(source.name, "", _encode(_text(header, rows)), "reject", row=i + 1)


def empty_file(draw, source):
    data = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\n\n", b"\xff\xfe",
                                 _encode(",".join(source.header) + "\n")]))
    return Case(source.name, "", data, "reject", table_level="table")


def dose_unit_mismatch(draw, source):
    unit = draw(st.sampled_from(["cells", "nmol", "copies"] if source.name == "theophylline"
                                else ["mg", "ug", "nmol"]))
    first = next(i for i, r in enumerate(source.rows) if _dose(source)(r))
    case = Case(source.name, "", _encode(_text(source.header, source.rows)), "reject",
                row=first + 1, column="CMT")
    case.kwargs = {"dose_unit": unit}
    return case


def bad_dose_unit(draw, source):
    unit = draw(st.sampled_from(["cels", "furlongs", "mg/kg", "", "mg/L", "1"]))
    case = Case(source.name, "", _encode(_text(source.header, source.rows)), "reject",
                column="AMT")
    case.kwargs = {"dose_unit": unit}
    return case


def body_size_for_regimen(draw, source):
    """WT (or HT, for BSA) <= 0, non-finite or missing for a subject a dose is scaled by."""
    import cellpkpd as cp

    covs = [c for c in ("WT", "HT") if c in source.header]
    frame = pd.DataFrame([r for r in source.rows], columns=source.header)
    subjects = frame.groupby("ID", sort=False)[covs].first().reset_index()
    subjects[covs] = subjects[covs].astype(float)
    col = draw(st.sampled_from(covs))
    k = draw(st.integers(0, len(subjects) - 1))
    subjects.loc[k, col] = draw(st.sampled_from([0.0, -70.0, float("nan"), float("inf")]))
    unit = "mg/m2" if col == "HT" else draw(st.sampled_from(["mg/kg", "cells/kg"]))
    reg = cp.regimen(cp.Dose(1.0, unit, 1))
    return Case(source.name, "", b"", "reject", row=k + 1, column=col,
                regimen=(subjects, reg))


# -- harmless changes: the same dataset must come back ---------------------------------------

def _same(case: Case) -> Case:
    case.expect = "read"
    return case


def lower_case_header(draw, source):
    header = [h.lower() if draw(st.booleans()) else h for h in source.header]
    return _same(Case(source.name, "", _encode(_text(header, source.rows)), ""))


def whitespace_separated(draw, source):
    sep = draw(st.sampled_from(["\t", " ", "  ", " \t"]))
    return _same(Case(source.name, "", _encode(_text(source.header, source.rows, sep=sep)),
                      ""))


def other_encoding(draw, source):
    encoding = draw(st.sampled_from(["utf-8-sig", "utf-16", "latin-1", "cp1252"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = _text(source.header, source.rows, newline=newline)
    return _same(Case(source.name, "", text.encode(encoding), ""))


def leading_blank_lines(draw, source):
    blank = "\n" * draw(st.integers(1, 3))
    return _same(Case(source.name, "", _encode(blank + _text(source.header, source.rows)), ""))


def trailing_comma(draw, source):
    with_header = draw(st.booleans())
    header = [*source.header, ""] if with_header else source.header
    rows = [[*r, ""] for r in source.rows]
    return _same(Case(source.name, "", _encode(_text(header, rows)), ""))


def comment_rows(draw, source):
    rows = [list(r) for r in source.rows]
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(rows)))
        mark = draw(st.sampled_from(["#", "@", "# note"]))
        rows.insert(at, [mark] + [""] * (len(source.header) - 1))
    return _same(Case(source.name, "", _encode(_text(source.header, rows)), ""))


def reordered_columns(draw, source):
    order = draw(st.permutations(range(len(source.header))))
    header = [source.header[j] for j in order]
    rows = [[r[j] for j in order] for r in source.rows]
    return _same(Case(source.name, "", _encode(_text(header, rows)), ""))


def padded_values(draw, source):
    rows = [[f" {v}" if draw(st.booleans()) else v for v in r] for r in source.rows[:20]]
    rows += [list(r) for r in source.rows[20:]]
    return _same(Case(source.name, "", _encode(_text(source.header, rows)), ""))


def inferred_evid(draw, source):
    """No EVID column: a record with AMT > 0 is a dose (NONMEM's rule), the same records."""
    k = _col(source, "EVID")
    header = [h for j, h in enumerate(source.header) if j != k]
    rows = [[v for j, v in enumerate(r) if j != k] for r in source.rows]
    return _same(Case(source.name, "", _encode(_text(header, rows)), ""))


def stated_dose_unit(draw, source):
    """``dose_unit`` the compartment's own or another mass: AMT converted by the factor."""
    unit, factor = draw(st.sampled_from([("mg", 1.0), ("g", 1000.0), ("ug", 1e-3)]))
    case = _same(Case(source.name, "", _encode(_text(source.header, source.rows)), ""))
    case.kwargs = {"dose_unit": unit}

    def scaled(table):
        table = table.copy()
        dose = table["EVID"].isin([1, 4])
        table.loc[dose, "AMT"] = table.loc[dose, "AMT"] * factor
        return table

    case.transform = scaled
    return case


#: kind -> (builder, the only source it applies to or None)
KINDS = {
    "duplicate_column": (duplicate_column, None),
    "empty_header": (empty_header, None),
    "non_finite_covariate": (non_finite_covariate, None),
    "non_finite_item": (non_finite_item, None),
    "not_a_number": (not_a_number, None),
    "amt_on_observation": (amt_on_observation, None),
    "huge_amt": (huge_amt, None),
    "bad_dose_amount": (bad_dose_amount, None),
    "bad_evid": (bad_evid, None),
    "bad_mdv": (bad_mdv, None),
    "bad_cmt": (bad_cmt, None),
    "missing_dv": (missing_dv, None),
    "fractional_dvid": (fractional_dvid, "msc_ifna"),
    "bad_blq": (bad_blq, "msc_ifna"),
    "missing_dvid": (missing_dvid, "msc_ifna"),
    "time_backwards": (time_backwards, None),
    "split_subject": (split_subject, None),
    "drop_required": (drop_required, None),
    "column_typo": (column_typo, None),
    "semicolons": (semicolons, None),
    "extra_field": (extra_field, None),
    "empty_file": (empty_file, None),
    "dose_unit_mismatch": (dose_unit_mismatch, None),
    "bad_dose_unit": (bad_dose_unit, None),
    "body_size_for_regimen": (body_size_for_regimen, None),
    "lower_case_header": (lower_case_header, None),
    "whitespace_separated": (whitespace_separated, None),
    "other_encoding": (other_encoding, None),
    "leading_blank_lines": (leading_blank_lines, None),
    "trailing_comma": (trailing_comma, None),
    "comment_rows": (comment_rows, None),
    "reordered_columns": (reordered_columns, None),
    "padded_values": (padded_values, None),
    "inferred_evid": (inferred_evid, None),
    "stated_dose_unit": (stated_dose_unit, "theophylline"),
}


# -- running one case -----------------------------------------------------------------------

def _read(source: Source, data: bytes, kwargs: dict):
    """What `cellpkpd fit` and `check-data --model` do: read with the model's outputs, then
    translate for the model (DVIDs, compartments, dose units)."""
    import cellpkpd as cp
    from cellpkpd.events import build_events
    from cellpkpd.fitting.run import default_output_for

    model = model_of(source)
    dataset = cp.read_nonmem(io.BytesIO(data), outputs=model.output_names,
                             default_output=default_output_for(model, None), **kwargs)
    build_events(model, dataset)
    from cellpkpd.events import to_model_units

    return to_model_units(model, dataset)


def original(source: Source):
    if source.name not in _originals:
        _originals[source.name] = _read(source, _encode(_text(source.header, source.rows)), {})
    return _originals[source.name]


def _same_events(source: Source, dataset) -> bool:
    from cellpkpd.events import build_events

    model = model_of(source)
    a = build_events(model, dataset).arrays
    b = build_events(model, original(source)).arrays
    return a.keys() == b.keys() and all(
        a[k].shape == b[k].shape and np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def _named(err, case: Case) -> bool:
    problems = getattr(err, "problems", None)
    if problems is None:  # a UnitError / ParameterError: its message must name the place
        text = str(err)
        return any(w and w in text for w in (case.column, case.table_level))
    for p in problems:
        if case.row is not None and p.row == case.row:
            return True
        if case.column is not None and (p.column or "").upper() == case.column:
            return True
        if case.table_level is not None and case.table_level in p.message:
            return True
    return False


def outcome(case: Case) -> tuple[str, str]:
    """(classification, detail) for ``case``."""
    import cellpkpd as cp

    source = SOURCES[case.source]
    try:
        if case.regimen is not None:
            subjects, reg = case.regimen
            result = reg.to_dataset(subjects)
        else:
            result = _read(source, case.data, case.kwargs)
    except cp.CellpkpdError as err:
        if case.expect == "read":
            return "rejected-wrongly", str(err)[:300]
        return ("rejected-named" if _named(err, case) else "rejected-unnamed"), str(err)[:300]
    except Exception as err:  # noqa: BLE001 - a foreign exception is what we count
        return "foreign", f"{type(err).__name__}: {err}"[:300]
    if case.expect == "reject":
        if case.kind == "column_typo" and _same_events(source, result):
            # A misspelt item NM-TRAN would also read as another column, whose loss changes
            # nothing here (CMT 1 is the default dose compartment): what was meant is read.
            return "accepted-equivalent", case.data.splitlines()[0].decode()[:80]
        return "silent", f"accepted: {case.kind} row={case.row} column={case.column}"
    want = original(source)
    table = case.transform(want.table) if case.transform else want.table
    expected = type(want)(table=table, covariate_columns=want.covariate_columns,
                          encodings=want.encodings, items=want.items)
    if not result.equals(expected):
        return "silent", f"read differently: {case.kind}"
    return "accepted-correct", ""


FAILURES = ("silent", "rejected-unnamed", "rejected-wrongly", "foreign")


def summary(counts) -> str:
    keys = ["accepted-correct", "accepted-equivalent", "rejected-named", *FAILURES]
    return ", ".join(f"{k}: {counts.get(k, 0)}" for k in keys)


__all__ = ["Case", "FAILURES", "KINDS", "SOURCES", "cases", "np", "outcome", "summary"]
