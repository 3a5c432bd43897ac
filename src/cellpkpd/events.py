"""Host-side event translation: a `Dataset` and a `Model` become padded per-subject arrays.

Everything here is independent of parameter values and happens once, in NumPy:
ADDL expansion, compartment resolution, ordering keys, reset epochs, covariate carrying,
padding. Parameter-dependent times (lagged doses, infusion ends) are formed on device by the
engine from these arrays, so they stay differentiable.

Ordering at equal times follows the data: for data row k of a subject, its record (observation,
covariate change, reset) has key 4k, its steady-state set-up 4k+1, its dose (and every ADDL
dose it implies) 4k+2, the end of that infusion 4k+3. Requested output times come after every
data row at the same time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .dataset import Dataset
from .errors import DataError, DataProblem, ParameterError
from .nonmem import check_dvid

DEFAULT_MODELED_OVERLAP = 8
MAX_SS_OVERLAP = 1000


@dataclass(frozen=True, eq=False)
class EventTable:
    """Padded arrays, leading axis = subject. ``arrays`` is what the engine consumes."""

    ids: tuple
    arrays: dict[str, np.ndarray]
    n_overlap: int
    has_periodic_ss: bool
    has_constant_ss: bool
    record_row: np.ndarray  # (S, R): index into dataset.table of each record, -1 for grid
    record_grid: np.ndarray  # (S, R): index into the output grid, -1 for data rows
    record_time: np.ndarray  # (S, R): the record's TIME as written in the data
    grid: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_subjects(self) -> int:
        return len(self.ids)


def resolve_cmt(model, value, row: int, problems: list[DataProblem]) -> int:
    """0-based state index of a CMT value (1-based number or state name; missing: the first
    compartment)."""
    names = model.state_names
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return 0  # NONMEM's default dose compartment: the first
    if isinstance(value, str):
        if value in names:
            return names.index(value)
        lowered = [n.lower() for n in names]
        if value.lower() in lowered:
            return lowered.index(value.lower())
        problems.append(DataProblem(
            f"CMT {value!r} is not a compartment of model {model.name!r}",
            f"use a number 1-{len(names)} or one of {list(names)}", row, "CMT"))
        return 0
    number = float(value)
    if not number.is_integer() or not 1 <= number <= len(names):
        problems.append(DataProblem(
            f"CMT {value!r} is not a compartment of model {model.name!r} "
            f"({len(names)} compartments)",
            f"use a number 1-{len(names)} or one of {list(names)}", row, "CMT"))
        return 0
    return int(number) - 1


def cmt_key(value):
    """A CMT value as `Dataset.dose_unit` keys it: None (missing), an int or a str."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    number = float(value)
    return int(number) if number.is_integer() else number


def to_model_units(model, dataset: Dataset) -> Dataset:
    """``dataset`` with every dose (AMT, and RATE > 0) in the unit its compartment declares.

    A dataset without a ``dose_unit`` is returned as it is. Otherwise each dose's unit is
    checked against its compartment's (`cellpkpd.dose_units`): mass into mass is converted,
    a cell count into a mass compartment (or any other mismatch) is a `DataError` naming the
    row, its CMT and the compartment's unit. Unknown compartments are left to `build_events`.
    """
    from dataclasses import replace

    from .dose_units import conversion_factor
    from .errors import UnitError

    units = dataset.dose_unit
    if units is None:
        return dataset
    table = dataset.table
    is_dose = table["EVID"].isin([1, 4]).to_numpy()
    factor = np.ones(len(table))
    problems: list[DataProblem] = []
    known: dict = {}
    for i in np.flatnonzero(is_dose):
        cmt = table["CMT"].iloc[i]
        key = cmt_key(cmt)
        unit = units if isinstance(units, str) else units.get(key)
        if unit is None:
            continue
        scratch: list[DataProblem] = []
        index = resolve_cmt(model, cmt, 0, scratch)
        if scratch:
            continue  # build_events names the unknown compartment
        state = model.states[index]
        if (state.name, unit) not in known:
            try:
                known[state.name, unit] = conversion_factor(
                    unit, state.name, state.unit, model_name=model.name,
                    dose=f"the dose (AMT in {unit})")
            except UnitError as err:
                known[state.name, unit] = err
        found = known[state.name, unit]
        if isinstance(found, UnitError):
            problems.append(DataProblem(found.problem, found.fix, int(table["ROW"].iloc[i]),
                                        "CMT"))
        else:
            factor[i] = found
    if problems:
        raise DataError(problems, dataset.source)
    table = table.copy()
    table["AMT"] = table["AMT"].to_numpy(dtype=float) * factor
    rate = table["RATE"].to_numpy(dtype=float)
    table["RATE"] = np.where(rate > 0, rate * factor, rate)
    return replace(dataset, table=table, dose_unit=None)


def _covariate_matrix(model, rows) -> np.ndarray:
    cols: dict[str, np.ndarray] = {}
    for cov in model.covariates:
        if cov.name in rows.columns:
            cols[cov.name] = rows[cov.name].to_numpy(dtype=float)
        elif cov.derive is not None:
            cols[cov.name] = np.broadcast_to(
                np.asarray(cov.derive(dict(cols)), dtype=float), (len(rows),)).copy()
        else:
            cols[cov.name] = np.full(len(rows), float(cov.default))
    if not cols:
        return np.zeros((len(rows), 0))
    return np.stack(list(cols.values()), axis=1)


def _lookup(times: np.ndarray, query: np.ndarray, rule: str) -> np.ndarray:
    """Index of the record whose covariates hold at each query time."""
    if len(query) == 0:
        return np.zeros(0, dtype=int)
    ge = times[None, :] >= query[:, None]
    le = times[None, :] <= query[:, None]
    if rule == "nocb":
        first_ge = np.where(ge.any(1), ge.argmax(1), len(times) - 1)
        return first_ge
    last_le = np.where(le.any(1), len(times) - 1 - le[:, ::-1].argmax(1), 0)
    return last_le


def build_events(model, dataset: Dataset, *, grid=None, covariates: str = "nocb",
                 max_ss_overlap: int | None = None) -> EventTable:
    """Translate ``dataset`` for ``model``.

    Parameters
    ----------
    grid : 1-D array, optional
        Extra output times added to every subject (after the data rows at equal times).
    covariates : {"nocb", "locf"}
        How a covariate holds between records: NONMEM's next observation carried backward
        (the value on a record holds since the previous record), or last observation carried
        forward.
    """
    if covariates not in ("nocb", "locf"):
        raise ParameterError(f"covariates= must be 'nocb' or 'locf', got {covariates!r}; 'nocb' "
                             "(the default) is NONMEM's next observation carried backward")
    grid = np.asarray([] if grid is None else grid, dtype=float)
    dataset = to_model_units(model, dataset)
    problems: list[DataProblem] = check_dvid(dataset.table, model.output_names,
                                                  model.output_names[0])
    per_subject = []
    for sid, rows in dataset.subject_tables():
        per_subject.append(_subject(model, sid, rows, grid, covariates, problems))
    if problems:
        raise DataError(problems, dataset.source)

    ss_inf = [s for subj in per_subject for s in subj["ss_overlap_hint"]]
    if max_ss_overlap is not None:
        n_overlap = int(max_ss_overlap)
    elif ss_inf:
        n_overlap = max(ss_inf)
    else:
        n_overlap = 0
    has_periodic = any(subj["has_periodic"] for subj in per_subject)
    has_constant = any(subj["has_constant"] for subj in per_subject)

    defaults = np.array([float(c.default) for c in model.covariates])
    arrays = _pad(per_subject, defaults)
    return EventTable(
        ids=tuple(s["id"] for s in per_subject),
        arrays={k: v for k, v in arrays.items() if not k.startswith("_")},
        n_overlap=n_overlap,
        has_periodic_ss=has_periodic,
        has_constant_ss=has_constant,
        record_row=arrays["_rec_row"],
        record_grid=arrays["_rec_grid"],
        record_time=arrays["_rec_time_data"],
        grid=grid,
    )


def _subject(model, sid, rows, grid, rule, problems) -> dict:
    n_rows = len(rows)
    time = rows["TIME"].to_numpy(dtype=float)
    evid = rows["EVID"].to_numpy(dtype=int)
    amt = rows["AMT"].to_numpy(dtype=float)
    rate = rows["RATE"].to_numpy(dtype=float)
    data_dur = rows["DUR"].to_numpy(dtype=float) if "DUR" in rows else np.zeros(n_rows)
    # A DUR item is an infusion of given duration: NONMEM's RATE=-2 with D from the data.
    rate = np.where(data_dur > 0, -2.0, rate)
    addl = rows["ADDL"].to_numpy(dtype=float).astype(int)
    ii = rows["II"].to_numpy(dtype=float)
    ss = rows["SS"].to_numpy(dtype=float).astype(int)
    row_no = rows["ROW"].to_numpy(dtype=int)
    cov = _covariate_matrix(model, rows)

    # Time may restart at a reset (EVID 3/4): shift later periods so engine time increases.
    engine_time = time.copy()
    offset = 0.0
    for k in range(1, n_rows):
        engine_time[k] = time[k] + offset
        if engine_time[k] < engine_time[k - 1] and evid[k] in (3, 4):
            offset += engine_time[k - 1] - engine_time[k]
            engine_time[k] = time[k] + offset

    resets = (evid == 3) | (evid == 4) | (np.isin(evid, [1, 4]) & (ss == 1))
    epoch = np.cumsum(resets).astype(np.int32)
    cov_after = cov.copy()
    if rule == "nocb" and n_rows > 1:
        cov_after[:-1] = cov[1:]

    doses, ss_slots, overlap_hint = [], [], []
    has_periodic = has_constant = False
    for k in np.flatnonzero(np.isin(evid, [1, 4])):
        cmt = resolve_cmt(model, rows["CMT"].iloc[k], int(row_no[k]), problems)
        state = model.state_names[cmt]
        if rate[k] == -1 and state not in model.infusion_rate:
            problems.append(DataProblem(
                f"RATE=-1 asks for a modeled infusion rate, but model {model.name!r} declares "
                f"no infusion_rate for compartment {state!r}",
                "give the rate in RATE, or declare infusion_rate in the model", int(row_no[k]),
                "RATE"))
        if rate[k] == -2 and data_dur[k] <= 0 and state not in model.infusion_duration:
            problems.append(DataProblem(
                f"RATE=-2 asks for a modeled infusion duration, but model {model.name!r} "
                f"declares no infusion_duration for compartment {state!r}",
                "give the rate in RATE, or declare infusion_duration in the model",
                int(row_no[k]), "RATE"))
        constant = ss[k] > 0 and amt[k] == 0 and rate[k] > 0
        if ss[k] > 0:
            ss_slots.append(dict(time=engine_time[k], cmt=cmt, amt=amt[k], rate=rate[k],
                                 dur=data_dur[k], ii=ii[k], mode=ss[k], key=4 * k + 1,
                                 epoch=epoch[k], cov=cov[k]))
            has_constant |= constant
            has_periodic |= not constant
            if not constant and (rate[k] > 0 or data_dur[k] > 0):
                with np.errstate(over="ignore", divide="ignore"):
                    spans = (data_dur[k] if data_dur[k] > 0 else amt[k] / rate[k]) / ii[k]
                if not np.isfinite(spans) or spans > MAX_SS_OVERLAP:
                    problems.append(DataProblem(
                        f"this steady-state infusion lasts {spans:.3g} dosing intervals (over "
                        f"{MAX_SS_OVERLAP})", "check AMT, RATE/DUR and II", int(row_no[k]),
                        "II"))
                    spans = 0.0
                overlap_hint.append(math.ceil(2 * spans) + 1)
            elif rate[k] < 0:
                overlap_hint.append(DEFAULT_MODELED_OVERLAP)
        n_doses = addl[k] + 1 if ii[k] > 0 else 1
        dose_times = engine_time[k] + ii[k] * np.arange(n_doses)
        # ADDL doses take the covariates in force at their own time.
        which = _lookup(engine_time, dose_times, rule)
        which[0] = k
        for j in range(n_doses):
            if j == 0 and constant:
                continue  # the infusion runs from the SS set-up on; no separate dose event
            doses.append(dict(time=dose_times[j], cmt=cmt, amt=amt[k], rate=rate[k],
                              dur=data_dur[k], key=4 * k + 2, epoch=epoch[k],
                              cov=cov[which[j]]))

    grid_cov_index = _lookup(engine_time, grid, rule)
    rec_time = np.concatenate([engine_time, grid])
    rec_key = np.concatenate([4 * np.arange(n_rows), 4 * (n_rows + np.arange(len(grid)))])
    rec_reset = np.concatenate([(evid == 3) | (evid == 4), np.zeros(len(grid), bool)])
    rec_epoch = np.concatenate([epoch, np.zeros(len(grid), np.int32)])
    rec_cov_own = np.concatenate([cov, cov[grid_cov_index]]) if len(grid) else cov
    rec_cov_after = np.concatenate([cov_after, cov[grid_cov_index]]) if len(grid) else cov_after
    rec_has_cov = np.concatenate([np.ones(n_rows, bool), np.zeros(len(grid), bool)])
    return dict(
        id=sid,
        cov0=cov[0],
        t_end=rec_time.max(),
        records=dict(time=rec_time, key=rec_key, reset=rec_reset, epoch=rec_epoch,
                     cov_own=rec_cov_own, cov_after=rec_cov_after, has_cov=rec_has_cov,
                     row=np.concatenate([rows.index.to_numpy(), -np.ones(len(grid), int)]),
                     grid=np.concatenate([-np.ones(n_rows, int), np.arange(len(grid))]),
                     time_data=np.concatenate([time, grid])),
        doses=doses,
        ss=ss_slots,
        ss_overlap_hint=overlap_hint,
        has_periodic=has_periodic,
        has_constant=has_constant,
    )


def _pad(subjects, cov_defaults) -> dict[str, np.ndarray]:
    n_s = len(subjects)
    n_c = len(cov_defaults)
    n_r = max(len(s["records"]["time"]) for s in subjects)
    n_d = max((len(s["doses"]) for s in subjects), default=0)
    n_ss = max((len(s["ss"]) for s in subjects), default=0)

    def full(shape, value, dtype=float):
        return np.full(shape, value, dtype=dtype)

    out = {
        "cov0": np.stack([s["cov0"] for s in subjects]) if n_c else np.zeros((n_s, 0)),
        "t_end": np.array([s["t_end"] for s in subjects]),
        "rec_time": full((n_s, n_r), 0.0), "rec_key": full((n_s, n_r), 0, np.int64),
        "rec_valid": full((n_s, n_r), False, bool), "rec_reset": full((n_s, n_r), False, bool),
        "rec_epoch": full((n_s, n_r), 0, np.int32),
        "rec_cov_own": np.broadcast_to(cov_defaults, (n_s, n_r, n_c)).copy(),
        "rec_cov_after": np.broadcast_to(cov_defaults, (n_s, n_r, n_c)).copy(),
        "rec_has_cov": full((n_s, n_r), False, bool),
        "_rec_row": full((n_s, n_r), -1, np.int64), "_rec_grid": full((n_s, n_r), -1, np.int64),
        "_rec_time_data": full((n_s, n_r), np.nan),
    }
    dose_fields = dict(time=0.0, cmt=0, amt=0.0, rate=0.0, dur=0.0, key=0, epoch=0)
    ss_fields = dict(time=0.0, cmt=0, amt=0.0, rate=0.0, dur=0.0, ii=1.0, mode=1, key=0,
                     epoch=0)
    for prefix, fields, n in (("dose", dose_fields, n_d), ("ss", ss_fields, n_ss)):
        for name, fill in fields.items():
            dtype = np.int64 if isinstance(fill, int) else float
            out[f"{prefix}_{name}"] = full((n_s, n), fill, dtype)
        out[f"{prefix}_valid"] = full((n_s, n), False, bool)
        out[f"{prefix}_cov"] = np.broadcast_to(cov_defaults, (n_s, n, n_c)).copy()

    for i, s in enumerate(subjects):
        rec = s["records"]
        m = len(rec["time"])
        out["rec_time"][i, :m] = rec["time"]
        out["rec_key"][i, :m] = rec["key"]
        out["rec_valid"][i, :m] = True
        out["rec_reset"][i, :m] = rec["reset"]
        out["rec_epoch"][i, :m] = rec["epoch"]
        out["rec_cov_own"][i, :m] = rec["cov_own"]
        out["rec_cov_after"][i, :m] = rec["cov_after"]
        out["rec_has_cov"][i, :m] = rec["has_cov"]
        out["_rec_row"][i, :m] = rec["row"]
        out["_rec_grid"][i, :m] = rec["grid"]
        out["_rec_time_data"][i, :m] = rec["time_data"]
        for prefix, items in (("dose", s["doses"]), ("ss", s["ss"])):
            for j, item in enumerate(items):
                for name, value in item.items():
                    out[f"{prefix}_{name}"][i, j] = value
                out[f"{prefix}_valid"][i, j] = True
    return out
