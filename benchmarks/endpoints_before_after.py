"""Before/after of the endpoint-rule correction (issue 21). Runs against whichever cellpkpd is
importable. For "before", export the older tree and put it first on the path, e.g.
``git archive 9bf26e7 src | tar -x -C /tmp/old && PYTHONPATH=/tmp/old/src python ...``.
Phase 2: RECIST ORR, PFS, DOR; CAR-NK: IMWG. Figures: benchmarks/RESULTS.md, "Endpoint rules
corrected".

    python endpoints_ba.py TAG [--reduced FILE]   # FILE: a saved phase-2 reduced population
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from cellpkpd.endpoints import kaplan_meier, recist
from cellpkpd.regimens import msc_ifna_combination
from cellpkpd.trial_simulation import (
    WeibullDeath,
    phase2_endpoints,
    phase2_reduce,
    phase2_times,
    phase2_trials,
    simulate_carnk,
)
from cellpkpd.virtual_population import simulate_population

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trials import PHASE2_IIV, covariates  # noqa: E402

tag = sys.argv[1]
reduced_file = sys.argv[3] if len(sys.argv) > 3 else None
N, DRAWS, SEED = 60, 5, 1
regimen = msc_ifna_combination(6e5, cycles=12)
first = -5.0
assessments = first + np.arange(0.0, 365.0 + 1e-9, 42.0)
death = WeibullDeath()

t0 = time.perf_counter()
if reduced_file:
    reduced = xr.load_dataset(reduced_file)
else:
    reduce = phase2_reduce(origin=first, assessments=assessments, landmark=death.landmark_days,
                           lab_window=(first, 28.0 * 11 + 30.0))
    reduced = simulate_population("msc_ifna", "defaults", {"6e5 cells/kg": regimen}, N, SEED,
                                  times=phase2_times(regimen), outputs=["sld", "cd4", "cd8",
                                                                        "nk", "anc"],
                                  reduce=reduce, residual_error=True, iiv=PHASE2_IIV, draws=DRAWS,
                                  covariates=covariates(N, 1), chunk=N)
    keep = ["sld_assessed", "tsr", "worst_grade_lymphocytes", "worst_grade_neutrophils"]
    reduced[keep].to_netcdf(f"/tmp/bench21/reduced_{tag}.nc")
print(f"[{tag}] phase-2 population {time.perf_counter() - t0:.1f} s")

seeds = np.random.SeedSequence(SEED).spawn(2)
follow_up = assessments[-1] - first
ep = phase2_endpoints(reduced, origin=first, death=death, seed=seeds[0], follow_up=follow_up)
# DOR per responder, with the same deaths as phase2_endpoints (assessments after death dropped)
sld = reduced["sld_assessed"].transpose("regimen", "draw", "subject", "assessment")
t = sld["assessment"].values - first
dor, dor_event = [], []
for i, series in enumerate(sld.values.reshape(-1, t.size)):
    d = ep["death"].iloc[i]
    seen = t < d if np.isfinite(d) else np.ones(t.size, bool)
    r = recist(t[seen], series[seen])
    if np.isfinite(r.response_onset):
        died = np.isfinite(d) and not r.dor_event
        dor.append(d - r.response_onset if died else r.dor)
        dor_event.append(bool(r.dor_event or died))
trials, summary = phase2_trials(ep, n_subjects=(30,), n_trials=1000, seed=seeds[1])
km_pfs = kaplan_meier(ep["pfs_time"].to_numpy(), ep["pfs_event"].to_numpy() > 0.5)
km_dor = kaplan_meier(np.array(dor), np.array(dor_event))
print(f"[{tag}] best responses: {ep['best_response'].value_counts().to_dict()}")
print(f"[{tag}] population ORR {ep['responder'].mean():.3f}; per draw "
      f"{ep.groupby(level='draw')['responder'].mean().round(3).tolist()}")
print(f"[{tag}] population PFS: events {int(ep['pfs_event'].sum())}/{len(ep)}, KM median "
      f"{km_pfs.median()[0]:.0f} d")
print(f"[{tag}] DOR: {len(dor)} responders, events {int(np.sum(dor_event))}, KM median "
      f"{km_dor.median()[0]:.0f} d")
if "dor_time" in ep.columns:  # phase2_endpoints reports DOR itself (issue 21): the same?
    own = ep["dor_time"].dropna().to_numpy()
    same = np.array_equal(np.sort(own), np.sort(np.array(dor)))
    print(f"[{tag}] phase2_endpoints DOR: {own.size} responders, events "
          f"{int(ep['dor_event'].sum())}; equals the script's own DOR: {same}")
s = summary.set_index("metric")
for m in ("orr", "pfs_median", "pfs_at_landmark"):
    row = s.loc[m]
    print(f"[{tag}] 30-subject trials {m}: median {row['median']:.3f} "
          f"[{row['lower']:.3f}, {row['upper']:.3f}] undefined {row['undefined']:.3f}")
if "dor_median" in s.index:
    row = s.loc["dor_median"]
    print(f"[{tag}] 30-subject trials dor_median: median {row['median']:.3f} "
          f"[{row['lower']:.3f}, {row['upper']:.3f}] undefined {row['undefined']:.3f}")

if reduced_file or "--skip-carnk" in sys.argv:
    sys.exit(0)
t0 = time.perf_counter()
car = simulate_carnk("defaults", doses=(1e8, 1e9, 3e9), n=60, draws=2, seed=2,
                     iiv={"kexp_max": 0.5, "kkill_max": 0.3, "kg": 0.3})
print(f"[{tag}] CAR-NK population {time.perf_counter() - t0:.1f} s")
orr = car.orr[car.orr["event"] == "responder"]
pd.set_option("display.width", 160)
print(orr.pivot(index="week", columns="regimen", values="mean").round(3).to_string())
print(f"[{tag}] DLT: {car.dlt['mean'].round(3).tolist()}")
if getattr(car, "dor", None) is not None:
    print(car.dor.round(1).to_string(index=False))
