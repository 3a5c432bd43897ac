"""Independent plain-NumPy/SciPy implementations of the MODELS.md models, written from the
equations in ../shared/MODELS.md without using cellpkpd. Used by the tests (agreement at
default parameters) and by the benchmarks (the scipy baseline).

Each reference is ``rhs(t, y) -> dy`` over a state vector with the layout in ``STATES``, plus
``outputs(t, y) -> dict``. `simulate_infusions` integrates through a list of doses.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp

CELLS_PER_UG = 151515.0  # MODELS.md: 1 µg gDNA ≈ 151,515 cells


# ---------------------------------------------------------------------------------------------
# Generic dosing: bolus (duration 0) or zero-order infusions; integrate between breakpoints.
# ---------------------------------------------------------------------------------------------
def simulate_infusions(rhs, y0, doses, times, *, t0, method="LSODA", rtol=1e-10, atol=1e-12,
                       extra_breaks=()):
    """States at ``times`` (ascending, all > ``t0``), shape (len(times), n).

    ``doses``: (time, state index, amount, duration) with duration 0 for a bolus. The
    integration restarts at every dose start, infusion end and ``extra_breaks``.
    ``simulate_infusions.n_fev`` holds the number of right-hand-side evaluations.
    """
    times = np.asarray(times, float)
    y = np.asarray(y0, float).copy()
    breaks = sorted({b for d in doses for b in (d[0], d[0] + d[3])} | set(extra_breaks)
                    | {times[-1]})
    breaks = [b for b in breaks if b > t0]
    out = np.full((len(times), len(y)), np.nan)
    n_fev = 0

    def give_boluses(at):
        for ts, cmt, amt, dur in doses:
            if ts == at and dur == 0:
                y[cmt] += amt

    def rate_on(a, b):
        mid = 0.5 * (a + b)
        r = np.zeros(len(y))
        for ts, cmt, amt, dur in doses:
            if dur > 0 and ts <= mid < ts + dur:
                r[cmt] += amt / dur
        return r

    give_boluses(t0)
    t = t0
    for b in breaks:
        r = rate_on(t, b)
        sel = np.nonzero((times > t) & (times <= b))[0]
        t_eval = np.unique(np.append(times[sel], b))
        sol = solve_ivp(lambda tt, yy, r=r: rhs(tt, yy) + r, (t, b), y, method=method,
                        rtol=rtol, atol=atol, t_eval=t_eval)
        if not sol.success:
            raise RuntimeError(f"scipy failed on [{t}, {b}]: {sol.message}")
        n_fev += sol.nfev
        at = {tv: i for i, tv in enumerate(sol.t)}
        for k in sel:
            out[k] = sol.y[:, at[times[k]]]
        y = sol.y[:, -1].copy()
        give_boluses(b)
        t = b
    simulate_infusions.n_fev = n_fev
    return out


# ---------------------------------------------------------------------------------------------
# MSC-IFNα (MODELS.md §1)
# ---------------------------------------------------------------------------------------------
MSC_STATES = [
    "msc_blood", "msc_lung", "msc_spleen", "msc_tumor", "ifna", "ifnb", "il6", "tnfa", "il2",
    "mono", "cd4", "cd8", "nk", "pac_central", "pac_p1", "pac_p2", "prol", "tr1", "tr2", "tr3",
    "anc", "cyc_central", "pd1_central", "pd1_peripheral", "sld",
]
MSC_DEFAULTS = dict(
    k_bl=20.0, k_bs=4.0, k_bt=0.4, k_lb=0.15, k_dl=0.35, k_ds=0.1, k_dt=0.1,
    s_ifn=0.02, cl_ifn=4.0, v_ifn=0.4, k_loc=10.0,
    kout_ifnb=3.9, kout_il6=3.96, kout_tnfa=10.0, kout_il2=10.0,
    base_ifnb=1.0, base_il6=2.0, base_tnfa=5.0, base_il2=1.0,
    emax_ifnb=3.0, emax_il6=10.0, emax_tnfa=3.0, emax_il2=1.0, emax_il2_pd1=1.0,
    ec50_ifnb=10.0, ec50_il6=10.0, ec50_tnfa=10.0, ec50_il2=10.0,
    kout_mono=1.0, kout_nk=0.07, kout_cd4=0.1, kout_cd8=0.1,
    MONO0=400.0, CD40=700.0, CD80=400.0, NK0=200.0,
    emax_marg=1.0, emax_marg_mono=0.5, ec50_marg=5.0,
    emax_prol_mono=0.5, emax_prol_nk=1.0, emax_prol_cd8=0.3, ec50_prol=10.0,
    emax_pd1_cd8=0.5, emax_pd1_cd4=0.2,
    slope_cyc_cd4=1.5, slope_cyc_cd8=1.5, slope_cyc_nk=1.5, slope_cyc_mono=0.2,
    slope_pac_cd4=0.5, slope_pac_cd8=0.5, slope_pac_nk=0.5, slope_pac_mono=1.0,
    other_lymph=300.0,
    kg=0.002, lam=0.006, k_ifn_t=0.01, ec50_ifn_t=10.0, k_pd1=0.004, k_pac=0.15,
    vcn=2.0, ANC0=4.28,
)


def msc_reference(cov: dict, params: dict | None = None, t_first_dose: float = 0.0):
    """(rhs, y0, outputs) of MODELS.md §1 for one subject. Time in days; ``t_first_dose`` is
    the time of the subject's first dose record (the tumor's resistance clock)."""
    P = dict(MSC_DEFAULTS, **(params or {}))
    WT, SLD0, WBC, ALB, AGE = cov["WT"], cov["SLD0"], cov["WBC"], cov["ALB"], cov["AGE"]
    BSA = cov["BSA"]
    ix = {n: i for i, n in enumerate(MSC_STATES)}
    # Chen 2014 nab-paclitaxel, per hour -> per day
    V1, V2, V3 = 15.8, 1650.0, 75.4
    VMTR, KMTR, Q2 = 325000.0 * 24, 4260.0, 41.6 * 24
    VMEL, KMEL = 8070.0 * 24 * (ALB / 3.9) ** 0.554, 40.2
    KTR = 4.0 / (117.0 / 24.0)
    SLOPE = 0.00253 * (1.501 if AGE >= 65 else 1.0)
    GAMMA = 0.187
    # Ahmed 2020 cyclophosphamide
    CL_CYC, V_CYC = 5.41 * 24, 46.5 * (BSA / 1.58) ** 0.861
    # Ahamadi 2017 pembrolizumab
    CL_PD1 = 0.22 * (WT / 76.8) ** 0.595
    VC_PD1 = 3.48 * (WT / 76.8) ** 0.489
    # Ahamadi 2017 scales both clearances and both volumes with weight.
    Q_PD1 = 0.795 * (WT / 76.8) ** 0.595
    VP_PD1 = 4.06 * (WT / 76.8) ** 0.489
    EC50_RO = 0.5
    base = {"mono": P["MONO0"], "cd4": P["CD40"], "cd8": P["CD80"], "nk": P["NK0"]}

    def derived(y):
        c_ifna = y[ix["ifna"]] / (P["v_ifn"] * WT * 1000.0)
        v_tumor = math.pi / 6.0 * (y[ix["sld"]] / 10.0) ** 3
        c_ifna_tumor = P["s_ifn"] * y[ix["msc_tumor"]] / (P["k_loc"] * v_tumor) + c_ifna
        c1 = y[ix["pac_central"]] / V1
        c_pac = c1 / 1000.0
        c_cyc = y[ix["cyc_central"]] / V_CYC
        c_pd1 = y[ix["pd1_central"]] / VC_PD1
        ro = c_pd1 / (c_pd1 + EC50_RO)
        return c_ifna, v_tumor, c_ifna_tumor, c1, c_pac, c_cyc, c_pd1, ro

    def rhs(t, y):
        d = np.zeros_like(y)
        c_ifna, v_tumor, c_ifna_tumor, c1, c_pac, c_cyc, c_pd1, ro = derived(y)
        b, lu, sp, tu = (y[ix[k]] for k in ("msc_blood", "msc_lung", "msc_spleen", "msc_tumor"))
        home = P["k_bt"] * y[ix["sld"]] / SLD0
        d[ix["msc_blood"]] = -(P["k_bl"] + P["k_bs"] + home) * b + P["k_lb"] * lu
        d[ix["msc_lung"]] = P["k_bl"] * b - (P["k_lb"] + P["k_dl"]) * lu
        d[ix["msc_spleen"]] = P["k_bs"] * b - P["k_ds"] * sp
        d[ix["msc_tumor"]] = home * b - P["k_dt"] * tu
        d[ix["ifna"]] = P["s_ifn"] * (b + lu + sp + tu) - P["cl_ifn"] / P["v_ifn"] * y[ix["ifna"]]
        for cy in ("ifnb", "il6", "tnfa", "il2"):
            stim = P[f"emax_{cy}"] * c_ifna / (P[f"ec50_{cy}"] + c_ifna)
            if cy == "il2":
                stim += P["emax_il2_pd1"] * ro
            d[ix[cy]] = P[f"kout_{cy}"] * (P[f"base_{cy}"] * (1 + stim) - y[ix[cy]])
        marg = P["emax_marg"] * c_ifna / (P["ec50_marg"] + c_ifna)
        marg_mono = P["emax_marg_mono"] * c_ifna / (P["ec50_marg"] + c_ifna)
        prol = lambda e: e * c_ifna / (P["ec50_prol"] + c_ifna)  # noqa: E731
        growth = {
            "mono": prol(P["emax_prol_mono"]),
            "nk": prol(P["emax_prol_nk"]),
            "cd8": prol(P["emax_prol_cd8"]) + P["emax_pd1_cd8"] * ro,
            "cd4": P["emax_pd1_cd4"] * ro,
        }
        for x in ("mono", "cd4", "cd8", "nk"):
            m = marg_mono if x == "mono" else marg
            kill = P[f"slope_cyc_{x}"] * c_cyc + P[f"slope_pac_{x}"] * c_pac
            k = P[f"kout_{x}"]
            d[ix[x]] = k * base[x] * (1 + growth[x]) - k * (1 + m + kill) * y[ix[x]]
        cp1 = y[ix["pac_p1"]] / V2
        cp2 = y[ix["pac_p2"]] / V3
        out1 = VMTR * c1 / (KMTR + c1)
        back1 = VMTR * cp1 / (KMTR + cp1)
        d[ix["pac_central"]] = -out1 + back1 - Q2 * (c1 - cp2) - VMEL * c1 / (KMEL + c1)
        d[ix["pac_p1"]] = out1 - back1
        d[ix["pac_p2"]] = Q2 * (c1 - cp2)
        e_drug = SLOPE * c1
        fb = (P["ANC0"] / y[ix["anc"]]) ** GAMMA
        d[ix["prol"]] = KTR * y[ix["prol"]] * (1 - e_drug) * fb - KTR * y[ix["prol"]]
        d[ix["tr1"]] = KTR * (y[ix["prol"]] - y[ix["tr1"]])
        d[ix["tr2"]] = KTR * (y[ix["tr1"]] - y[ix["tr2"]])
        d[ix["tr3"]] = KTR * (y[ix["tr2"]] - y[ix["tr3"]])
        d[ix["anc"]] = KTR * (y[ix["tr3"]] - y[ix["anc"]])
        d[ix["cyc_central"]] = -CL_CYC * c_cyc
        flux = Q_PD1 * (c_pd1 - y[ix["pd1_peripheral"]] / VP_PD1)
        d[ix["pd1_central"]] = -CL_PD1 * c_pd1 - flux
        d[ix["pd1_peripheral"]] = flux
        tt = max(t - t_first_dose, 0.0)
        kill = (P["k_ifn_t"] * c_ifna_tumor / (P["ec50_ifn_t"] + c_ifna_tumor)
                + P["k_pd1"] * ro * (y[ix["cd8"]] / P["CD80"]) + P["k_pac"] * c_pac)
        d[ix["sld"]] = P["kg"] * y[ix["sld"]] - kill * math.exp(-P["lam"] * tt) * y[ix["sld"]]
        return d

    y0 = np.zeros(len(MSC_STATES))
    for x in ("mono", "cd4", "cd8", "nk"):
        y0[ix[x]] = base[x]
    for cy in ("ifnb", "il6", "tnfa", "il2"):
        y0[ix[cy]] = P[f"base_{cy}"]
    for n in ("prol", "tr1", "tr2", "tr3", "anc"):
        y0[ix[n]] = P["ANC0"]
    y0[ix["sld"]] = SLD0

    def outputs(t, y):
        c_ifna, v_tumor, c_ifna_tumor, c1, c_pac, c_cyc, c_pd1, ro = derived(y)
        lymph = y[ix["cd4"]] + y[ix["cd8"]] + y[ix["nk"]] + P["other_lymph"]
        return {
            "qpcr_blood": P["vcn"] * CELLS_PER_UG * (y[ix["msc_blood"]] / (70 * WT * 1000)) / WBC,
            "qpcr_tumor": P["vcn"] * CELLS_PER_UG * y[ix["msc_tumor"]] / (v_tumor * 1e8),
            "ifna_serum": c_ifna, "ifnb_serum": y[ix["ifnb"]], "il2_serum": y[ix["il2"]],
            "il6_serum": y[ix["il6"]], "tnfa_serum": y[ix["tnfa"]],
            "mono": y[ix["mono"]], "cd4": y[ix["cd4"]], "cd8": y[ix["cd8"]], "nk": y[ix["nk"]],
            "cd4_pct": 100 * y[ix["cd4"]] / lymph, "cd8_pct": 100 * y[ix["cd8"]] / lymph,
            "nk_pct": 100 * y[ix["nk"]] / lymph, "mono_pct": 100 * y[ix["mono"]] / WBC,
            "anc": y[ix["anc"]], "sld": y[ix["sld"]], "c_pac": c_pac, "c_cyc": c_cyc,
            "c_pd1": c_pd1,
        }

    return rhs, y0, outputs, ix


# ---------------------------------------------------------------------------------------------
# Singh 2021 (MODELS.md §3) and the NKG2D-CAR-NK variant (§2)
# ---------------------------------------------------------------------------------------------
SINGH_DEFAULTS = dict(
    kexp_max=1.73, ec50_exp=10.0, rm=2e-5, kkill_max=0.343, kc50_kill=2.24, kel_e=113.0,
    kel_m=0.219, k12=1.71, k21=0.176, kg=0.008, kon=7.103e4, koff=2.385e-3, ag_car=15000.0,
    ag_tumor=12590.0, transc=0.002, v_blood=5.0, v_bm=3.65, tumor0=2.5e9, pm=12.1, km=0.117,
    pb=0.175, kb=0.7, gam_m=0.215, gam_b=1.0,
)
CARNK_CHANGES = dict(ag_tumor=3000.0, kexp_max=0.8, kel_e=20.0, kel_m=0.02)
CARNK_CYTOKINES = {"il6": (2.0, 3.96), "ifng": (5.0, 1.51), "tnfa": (5.0, 10.0)}


def car_reference(params: dict | None = None, *, nk: bool = False, ligand_positive=1.0):
    """(rhs, y0, outputs): Singh 2021, or with ``nk`` the CAR-NK model of MODELS.md §2.
    States: e_pb, m_pb, e_t, m_t, complex, tumor, mprot, sbcma (+ il6, ifng, tnfa for NK)."""
    P = dict(SINGH_DEFAULTS, **(CARNK_CHANGES if nk else {}), **(params or {}))
    ag_tumor = P["ag_tumor"] * (ligand_positive if nk else 1.0)
    kon_d = P["kon"] * 86400 / 6.023e23
    koff_d = P["koff"] * 86400
    full_kill = 0.343 * 2.5e9 * 3.65 / 1e9

    def kkill_of(y):
        per_tumor = y[4] / y[5]
        return P["kkill_max"] * per_tumor / (P["kc50_kill"] + per_tumor)

    def rhs(t, y):
        e_pb, m_pb, e_t, m_t, cx, tu, mp, sb = y[:8]
        cart_t = (e_t + m_t) / P["v_bm"]
        car_free = cart_t * P["ag_car"] - cx
        ag_free = tu * ag_tumor - cx
        per_car = cx / cart_t if cart_t > 0 else 0.0
        kexp = P["kexp_max"] * per_car / (P["ec50_exp"] + per_car)
        kkill = kkill_of(y)
        d = np.zeros_like(y)
        d[0] = -P["k12"] * e_pb + P["k21"] * e_t - P["kel_e"] * e_pb
        d[1] = -P["k12"] * m_pb + P["k21"] * m_t - P["kel_m"] * m_pb
        d[2] = P["k12"] * e_pb - P["k21"] * e_t + kexp * e_t - P["rm"] * e_t
        d[3] = P["k12"] * m_pb - P["k21"] * m_t + P["rm"] * e_t
        d[4] = kon_d * car_free * ag_free - koff_d * cx
        d[5] = P["kg"] * tu - kkill * tu
        d[6] = P["pm"] * 1e-12 * P["tumor0"] * (tu / P["tumor0"]) ** P["gam_m"] - P["km"] * mp
        d[7] = P["pb"] * 1e-6 * P["tumor0"] * (tu / P["tumor0"]) ** P["gam_b"] - P["kb"] * sb
        if nk:
            for j, (base, kdeg) in enumerate(CARNK_CYTOKINES.values()):
                p_release = 19 * base * kdeg / full_kill
                d[8 + j] = kdeg * (base - y[8 + j]) + p_release * kkill * tu * P["v_bm"] / 1e9
        return d

    y0 = np.zeros(11 if nk else 8)
    y0[5] = P["tumor0"]
    y0[6] = P["pm"] * 1e-12 * P["tumor0"] / P["km"]
    y0[7] = P["pb"] * 1e-6 * P["tumor0"] / P["kb"]
    if nk:
        y0[8:] = [base for base, _ in CARNK_CYTOKINES.values()]

    def outputs(t, y):
        out = {"transgene": P["transc"] * (y[0] + y[1]) / P["v_blood"], "mprot": y[6],
               "mprot_change": 100 * (y[6] / y0[6] - 1), "tumor": y[5]}
        if nk:
            out.update(il6_serum=y[8], ifng_serum=y[9], tnfa_serum=y[10])
        else:
            out["sbcma"] = y[7]
        return out

    return rhs, y0, outputs
