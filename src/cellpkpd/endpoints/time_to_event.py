"""Per-subject time-to-event endpoints (OS, PFS, DOR) from a table of event dates.

One row per subject; date columns in days on one clock (NaN = the event did not happen). The
event is the earliest of the event columns; a subject without one is censored at the censoring
column (last contact for OS, last adequate tumour assessment for PFS and DOR, as in the FDA
guidance "Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics", 2018).
Times are measured from the origin column. Feed the result to `kaplan_meier`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError, DataProblem


def time_to_event(data: pd.DataFrame, *, origin: str, events: list[str], censor: str,
                  id_col: str = "id") -> pd.DataFrame:
    """``id``, ``time`` (earliest event, or censoring, minus origin) and ``event`` per row.

    Raises `DataError` naming the row when the origin is missing, an event or censoring date
    precedes the origin, or a subject has neither an event nor a censoring date.
    """
    needed = [id_col, origin, *events, censor]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise DataError(DataProblem(f"column(s) {missing} are missing",
                                    f"supply the columns {needed}"))
    start = data[origin].to_numpy(dtype=np.float64)
    dates = data[events].to_numpy(dtype=np.float64)
    first = np.where(np.isnan(dates), np.inf, dates).min(axis=1)
    last = data[censor].to_numpy(dtype=np.float64)
    had_event = np.isfinite(first)
    end = np.where(had_event, first, last)
    problems = []
    for row, subject in enumerate(data[id_col]):
        if np.isnan(start[row]):
            problems.append(DataProblem(f"subject {subject}: {origin} is missing",
                                        f"fill {origin}", row=row + 1, column=origin))
        elif np.isnan(end[row]):
            problems.append(DataProblem(f"subject {subject}: no event and no censoring date",
                                        f"fill {censor} (last follow-up)", row + 1, censor))
        elif end[row] < start[row]:
            problems.append(DataProblem(f"subject {subject}: event/censoring at {end[row]:g} "
                                        f"precedes {origin} = {start[row]:g}",
                                        "check the dates", row + 1))
    if problems:
        raise DataError(problems)
    return pd.DataFrame({id_col: data[id_col].to_numpy(), "time": end - start,
                         "event": had_event})


def os_times(data: pd.DataFrame, *, origin: str = "start", death: str = "death",
             last_contact: str = "last_contact", id_col: str = "id") -> pd.DataFrame:
    """Overall survival: origin to death from any cause; censored at last contact."""
    return time_to_event(data, origin=origin, events=[death], censor=last_contact,
                         id_col=id_col)


def pfs_times(data: pd.DataFrame, *, origin: str = "start", progression: str = "progression",
              death: str = "death", last_assessment: str = "last_assessment",
              id_col: str = "id") -> pd.DataFrame:
    """Progression-free survival: origin to the first of progression (e.g. RECIST PD) or death;
    censored at the last adequate assessment."""
    return time_to_event(data, origin=origin, events=[progression, death],
                         censor=last_assessment, id_col=id_col)


def dor_times(data: pd.DataFrame, *, response: str = "response_onset",
              progression: str = "progression", death: str = "death",
              last_assessment: str = "last_assessment", id_col: str = "id") -> pd.DataFrame:
    """Duration of response, for responders only (rows with a response onset date): onset of
    the confirmed CR/PR to progression or death; censored at the last adequate assessment."""
    if response not in data.columns:
        raise DataError(DataProblem(f"column {response!r} is missing",
                                    "add the response-onset date column"))
    responders = data[data[response].notna()]
    return time_to_event(responders, origin=response, events=[progression, death],
                         censor=last_assessment, id_col=id_col)
