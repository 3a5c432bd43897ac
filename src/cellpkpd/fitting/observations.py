"""The observations a fit uses: each observed record's subject, record slot, output, DV and
censoring, gathered once from the dataset and the engine's record layout."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError, DataProblem


@dataclass(frozen=True, eq=False)
class Observations:
    """One entry per observation (EVID 0, MDV 0), in data order."""

    subject: np.ndarray  # index into the problem's subjects
    record: np.ndarray  # record slot within the subject (engine layout)
    output: np.ndarray  # model output index
    dv: np.ndarray
    censored: np.ndarray  # M3: BLQ flagged, or DV < LLOQ
    lloq: np.ndarray  # the censoring limit (NaN where not censored)
    row: np.ndarray  # source row number (ROW)
    id: np.ndarray
    time: np.ndarray
    output_names: tuple[str, ...]  # per observation

    def __len__(self) -> int:
        return len(self.dv)

    def of(self, output: str) -> np.ndarray:
        """Positions of the observations of ``output``."""
        return np.flatnonzero(np.asarray(self.output_names) == output)


def gather(prob, default_output: str) -> Observations:
    """Observations of ``prob.dataset`` mapped to the engine's (subject, record) slots."""
    model = prob.model
    table = prob.dataset.table
    obs_pos = np.flatnonzero(((table.EVID == 0) & (table.MDV == 0)).to_numpy())
    if obs_pos.size == 0:
        raise DataError(DataProblem("the dataset has no observations (EVID 0 with MDV 0) to fit",
                                    "add observation records with a DV"), prob.dataset.source)
    where = {}
    rr = prob.events.record_row
    for s, r in zip(*np.nonzero(rr >= 0), strict=True):
        where[int(rr[s, r])] = (int(s), int(r))
    names = model.output_names
    problems = []
    subject, record, output = [], [], []
    rows = table.ROW.to_numpy()
    dvid = table.DVID.to_numpy(dtype=object)
    for k in obs_pos:
        s, r = where[int(k)]
        name = dvid[k]
        if name is None or (isinstance(name, float) and np.isnan(name)):
            name = default_output
        if not isinstance(name, str):  # read_nonmem checked it: a 1-based output number
            name = names[int(name) - 1]
        if name not in names:
            problems.append(DataProblem(f"DVID {name!r} is not an output of model "
                                        f"{model.name!r}", f"use one of {list(names)}",
                                        int(rows[k]), "DVID"))
            continue
        subject.append(s)
        record.append(r)
        output.append(names.index(name))

    dv = table.DV.to_numpy(dtype=float)[obs_pos]
    lloq = table.LLOQ.to_numpy(dtype=float)[obs_pos]
    blq = table.BLQ.to_numpy(dtype=float)[obs_pos] == 1
    out_idx = np.asarray(output, dtype=int)
    if problems:
        raise DataError(problems, prob.dataset.source)
    # A censored row without its own LLOQ takes the output's declared LLOQ.
    declared = np.array([np.nan if o.lloq is None else o.lloq for o in model.outputs])
    lloq = np.where(np.isnan(lloq), declared[out_idx], lloq)
    censored = blq | (dv < lloq)
    missing_limit = censored & ~np.isfinite(lloq)
    for k in np.flatnonzero(missing_limit):
        problems.append(DataProblem("a BLQ observation has no LLOQ, and its output declares none",
                                    "give LLOQ (or LIMIT) on the row", int(rows[obs_pos[k]]),
                                    "LLOQ"))
    bad_dv = ~censored & ~np.isfinite(dv)
    for k in np.flatnonzero(bad_dv):
        problems.append(DataProblem("an observation (MDV 0) has no finite DV",
                                    "give the DV, set MDV=1, or flag it BLQ",
                                    int(rows[obs_pos[k]]), "DV"))
    if problems:
        raise DataError(problems, prob.dataset.source)
    return Observations(
        subject=np.asarray(subject, dtype=int), record=np.asarray(record, dtype=int),
        output=out_idx, dv=dv, censored=censored,
        lloq=np.where(censored, lloq, np.nan), row=rows[obs_pos].astype(int),
        id=table.ID.to_numpy()[obs_pos], time=table.TIME.to_numpy(dtype=float)[obs_pos],
        output_names=tuple(names[i] for i in out_idx),
    )
