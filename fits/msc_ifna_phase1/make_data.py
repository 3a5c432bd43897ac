"""Simulate the bundled MSC-IFNα phase 1 example data set (``data.csv``) and write the truth
it was simulated from (``truth.json``).

    python fits/msc_ifna_phase1/make_data.py [--seed 20261121] [--out fits/msc_ifna_phase1]

Design (time in days from the first MSC infusion):
- **Arm 1**, MSC-IFNα alone, two infusions 28 days apart, dose de-escalation cohorts of 3:
  2×10⁶, 6×10⁵ and 2×10⁵ cells/kg (9 subjects).
- **Arm 2**, MSC-IFNα 6×10⁵ cells/kg with nab-paclitaxel (day −5), cyclophosphamide (day −4)
  and anti-PD-1 (day +7), two 28-day cycles (6 subjects).
- **Samples**: qPCR in blood (LLOQ 1 copy/µg gDNA), serum IFN-α (LLOQ 0.5 pg/mL), IFN-β,
  IL-2, IL-6, TNF-α (ELISA, LLOQ 1 pg/mL), monocyte, CD4, CD8 and NK counts (flow), and SLD at
  baseline, day 28 and day 56.

Subjects vary log-normally around typical values that differ from the model's defaults (so
a prior centred on a default does not sit on the truth) in k_dl, s_ifn, cd80 and emax_il6;
residual errors are the model's declared ones. Values below an LLOQ are reported as BLQ = 1
with DV = LLOQ, as a laboratory reports them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

import cellpkpd as cp
from cellpkpd import regimens

HERE = Path(__file__).resolve().parent

# Typical values used for the simulation; the fit estimates these (fit.toml).
TYPICAL = {"k_lb": 0.2, "k_dl": 0.25, "s_ifn": 0.03, "emax_il6": 7.0, "cd80": 450.0,
           "emax_prol_cd8": 0.45, "kg": 0.003}
OMEGA = {"k_dl": 0.3, "s_ifn": 0.4, "cd80": 0.3, "emax_il6": 0.4}  # SD of log-normal IIV
LLOQ = {"qpcr_blood": 1.0, "ifna_serum": 0.5, "ifnb_serum": 1.0, "il2_serum": 1.0,
        "il6_serum": 1.0, "tnfa_serum": 1.0}
QPCR = [0.0417, 0.25, 1, 3, 7, 14, 28, 28.0417, 29, 35, 42, 56]
IFNA = [0, 0.0417, 0.25, 1, 3, 7, 14, 28, 28.25, 29, 35, 56]
CYTOKINE = [0, 0.25, 1, 3, 7, 14, 28, 29, 35, 56]
FLOW = [0, 1, 3, 7, 14, 28, 35, 56]
SLD = [0, 28, 56]
SCHEDULE = {"qpcr_blood": QPCR, "ifna_serum": IFNA, "ifnb_serum": CYTOKINE,
            "il2_serum": CYTOKINE, "il6_serum": CYTOKINE, "tnfa_serum": CYTOKINE,
            "mono": FLOW, "cd4": FLOW, "cd8": FLOW, "nk": FLOW, "sld": SLD}
ARMS = [  # (arm, cohort, dose in cells/kg, subjects)
    (1, 1, 2e6, 3), (1, 2, 6e5, 3), (1, 3, 2e5, 3), (2, 1, 6e5, 6)]


def subjects(rng) -> pd.DataFrame:
    n = sum(k for *_, k in ARMS)
    people = pd.DataFrame({
        "WT": np.round(rng.normal(68.0, 11.0, n).clip(45, 110), 1),
        "HT": np.round(rng.normal(168.0, 8.0, n).clip(150, 190), 0),
        "SLD0": np.round(rng.uniform(45.0, 130.0, n), 0),
        "AGE": np.round(rng.uniform(38, 74, n), 0),
        "ALB": np.round(rng.normal(3.9, 0.35, n).clip(2.8, 4.8), 1),
    })
    people["BSA"] = np.round(cp.bsa(people.WT, people.HT), 3)
    return people


def design(people: pd.DataFrame) -> pd.DataFrame:
    """Dosing records and planned sampling times for every subject (EVID 0, MDV 1)."""
    times = sorted({t for ts in SCHEDULE.values() for t in ts} | {-5.0})
    parts, start = [], 0
    for arm, cohort, dose, k in ARMS:
        group = people.iloc[start:start + k].copy()
        group.insert(0, "ID", np.arange(start + 1, start + k + 1))
        reg = (regimens.msc_ifna_monotherapy(dose, infusions=2) if arm == 1
               else regimens.msc_ifna_combination(dose, cycles=2))
        table = reg.to_dataset(group, [t for t in times if arm == 2 or t >= 0]).table
        table["ARM"], table["COHORT"], table["DOSE"] = arm, cohort, dose
        parts.append(table)
        start += k
    return pd.concat(parts, ignore_index=True)


def individual_parameters(rng, n) -> pd.DataFrame:
    values = {name: np.full(n, value) for name, value in TYPICAL.items()}
    for name, omega in OMEGA.items():
        values[name] = values[name] * np.exp(omega * rng.standard_normal(n))
    return pd.DataFrame(values, index=pd.RangeIndex(1, n + 1, name="ID"))


def observe(model, sim, records, rng) -> pd.DataFrame:
    """Observation rows with residual error (the model's declared error models) and BLQ."""
    errors = {o.name: o.error for o in model.outputs}
    rows = []
    for sid in sim["id"].values:
        arm = int(records.loc[records.ID == sid, "ARM"].iloc[0])
        for output, times in SCHEDULE.items():
            ts = list(times) if arm == 1 or output == "qpcr_blood" else [-5.0, *times]
            f = sim[output].sel(id=sid, time=ts).values
            dv = errors[output].sample(f, rng)
            lloq = LLOQ.get(output, np.nan)
            blq = dv < lloq
            for t, y, b in zip(ts, dv, blq, strict=True):
                rows.append({"ID": sid, "TIME": t, "EVID": 0, "MDV": 0, "DVID": output,
                             "DV": float(lloq if b else _round(y)), "BLQ": int(b),
                             "LLOQ": lloq})
    return pd.DataFrame(rows)


def _round(y):
    return float(np.format_float_positional(y, precision=4, unique=False, fractional=False))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    model = cp.load_model("msc_ifna")
    people = subjects(rng)
    records = design(people)
    params = individual_parameters(rng, len(people))
    times = np.unique(records.loc[records.EVID == 0, "TIME"])
    sim = cp.simulate(model, records, {k: v.to_numpy() for k, v in params.items()},
                      times=times)
    obs = observe(model, sim, records, rng)
    doses = records[records.EVID == 1].drop(columns=["DV"])
    covs = records.groupby("ID")[["WT", "HT", "BSA", "SLD0", "AGE", "ALB", "ARM", "COHORT",
                                  "DOSE"]].first()
    obs = obs.join(covs, on="ID")
    table = pd.concat([doses, obs], ignore_index=True).sort_values(
        ["ID", "TIME", "EVID"], ascending=[True, True, False], kind="stable")
    columns = ["ID", "TIME", "EVID", "MDV", "AMT", "CMT", "RATE", "DUR", "ADDL", "II", "DVID", "DV",
               "BLQ",
               "LLOQ", "WT", "HT", "BSA", "SLD0", "AGE", "ALB", "ARM", "COHORT", "DOSE"]
    table = table.reindex(columns=columns)
    for name in ("ID", "EVID", "MDV", "BLQ", "ARM", "COHORT"):
        table[name] = table[name].fillna(0).astype(int)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "data.csv", index=False, na_rep=".")
    truth = {
        "seed": args.seed, "model": "msc_ifna", "typical": TYPICAL, "omega": OMEGA,
        "residual_error": {o.name: str(o.error) for o in model.outputs if o.name in SCHEDULE},
        "lloq": LLOQ,
        "individual": {int(i): {k: float(v) for k, v in row.items()}
                       for i, row in params.iterrows()},
    }
    (args.out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    n_blq = obs.groupby("DVID").BLQ.mean()
    print(f"wrote {args.out / 'data.csv'}: {table.ID.nunique()} subjects, {len(obs)} "
          f"observations; BLQ fraction by output:\n{n_blq.round(2).to_string()}")


if __name__ == "__main__":
    main()
