"""Clinical endpoint rules: NCA, RECIST 1.1, iRECIST, IMWG, CTCAE v5.0 lab grades, ASTCT CRS
grades, the MSC-IFNα treatment-intolerance rule, Kaplan–Meier survival and response rates.

Times are in days unless an argument says otherwise. Each function's docstring states its rule,
units and source.
"""

from .crs import astct_crs_grade
from .ctcae import LABS, ctcae_grade, grade_episodes, to_1e9_per_l
from .imwg import ImwgResult, imwg, imwg_timepoint
from .intolerance import treatment_intolerance
from .irecist import IrecistResult, irecist
from .nca import NCAResult, nca, nca_frame
from .orr import IMWG_RESPONDERS, RECIST_RESPONDERS, objective_response_rate
from .recist import RecistResult, recist, timepoint_response
from .survival import KaplanMeier, kaplan_meier, km_plot
from .time_to_event import dor_times, os_times, pfs_times, time_to_event

__all__ = [
    "IMWG_RESPONDERS", "ImwgResult", "IrecistResult", "KaplanMeier", "LABS", "NCAResult",
    "RECIST_RESPONDERS", "RecistResult", "astct_crs_grade", "ctcae_grade", "dor_times",
    "grade_episodes", "imwg", "imwg_timepoint", "irecist", "kaplan_meier", "km_plot", "nca",
    "nca_frame",
    "objective_response_rate", "os_times", "pfs_times", "recist", "time_to_event",
    "timepoint_response", "to_1e9_per_l", "treatment_intolerance",
]  # fmt: skip
