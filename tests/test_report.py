"""Report figures and HTML on synthetic data: no fits, no JAX."""

import os
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

from cellpkpd.report import (
    Pre,
    Section,
    gof_figure,
    individual_figure,
    save_figure,
    trace_rank_figure,
    vpc_figure,
    vpc_stats,
    write_report,
)
from cellpkpd.report._bins import assign, bin_edges
from cellpkpd.report._smooth import lowess
from cellpkpd.report.html import _number

QPCR_UNIT, SLD_UNIT = "copies/µg DNA", "mm"
LLOQ = 10.0
NOMINAL_DAYS = np.array([0.0, 1, 2, 4, 7, 10, 14, 21, 28])
OMEGA = {"cmax": 0.8, "tmax": 0.2, "alpha": 0.3, "beta": 0.4}
SIGMA = 0.35


# -- synthetic data ----------------------------------------------------------------------------

def qpcr_curve(t, cmax, tmax, alpha, beta, c0=5.0, frac=0.9):
    """CAR-T-like kinetics: log-linear expansion from c0 to cmax at tmax, then bi-exponential
    contraction and persistence (copies/µg DNA, t in days)."""
    rise = c0 * np.exp(np.log(cmax / c0) * np.minimum(t, tmax) / tmax)
    fall = frac * np.exp(-alpha * (t - tmax)) + (1 - frac) * np.exp(-beta * (t - tmax))
    return np.where(t <= tmax, rise, cmax * fall)


TYPICAL = {"cmax": 1e4, "tmax": 9.0, "alpha": 0.35, "beta": 0.15}


def qpcr_individuals(rng, shape):
    return {k: TYPICAL[k] * np.exp(OMEGA[k] * rng.standard_normal(shape)) for k in TYPICAL}


def qpcr_example(n_subjects=12, n_rep=0, seed=0):
    """(pred, curves, sim_dv) for a log-normal population observed at jittered nominal days."""
    rng = np.random.default_rng(seed)
    ind = qpcr_individuals(rng, n_subjects)
    subj = np.repeat(np.arange(n_subjects), len(NOMINAL_DAYS))
    t = np.tile(NOMINAL_DAYS, n_subjects) * np.exp(0.06 * rng.standard_normal(len(subj)))
    ipred = qpcr_curve(t, *(ind[k][subj] for k in TYPICAL))
    pred = qpcr_curve(t, *TYPICAL.values())
    dv = ipred * np.exp(SIGMA * rng.standard_normal(len(t)))
    blq = dv < LLOQ
    dv[blq] = np.nan
    with np.errstate(invalid="ignore"):
        iwres = (np.log(dv) - np.log(ipred)) / SIGMA
        cwres = (np.log(dv) - np.log(pred)) / np.hypot(OMEGA["cmax"], SIGMA)
    table = pd.DataFrame({"ID": subj + 1, "TIME": t, "output": "CAR_T", "DV": dv,
                          "BLQ": blq.astype(int), "LLOQ": LLOQ, "PRED": pred, "IPRED": ipred,
                          "IWRES": iwres, "CWRES": cwres})
    grid = np.linspace(0, 1.02 * t.max(), 161)
    curves = pd.concat([pd.DataFrame({
        "ID": i + 1, "TIME": grid, "output": "CAR_T",
        "IPRED": qpcr_curve(grid, *(ind[k][i] for k in TYPICAL)),
        "PRED": qpcr_curve(grid, *TYPICAL.values())}) for i in range(n_subjects)])
    sim = np.empty((n_rep, len(t)))
    if n_rep:
        rep = qpcr_individuals(rng, (n_rep, n_subjects))
        f = qpcr_curve(t[None, :], *(rep[k][:, subj] for k in TYPICAL))
        sim = f * np.exp(SIGMA * rng.standard_normal(f.shape))
    return table, curves, sim


def sld_example(n_subjects=12, seed=1):
    """Sum of longest diameters (mm) under a tumour growth-inhibition model, scans every 6
    weeks, some subjects leaving early; no LLOQ."""
    rng = np.random.default_rng(seed)
    days = np.arange(0, 211, 42.0)

    def sld(t, base, kd, kg):
        return base * (np.exp(-kd * t) + np.exp(kg * t) - 1)

    typical = (60.0, 0.012, 0.003)
    rows, curves = [], []
    grid = np.linspace(0, 210, 106)
    for i in range(n_subjects):
        p = [v * np.exp(w * rng.standard_normal()) for v, w in zip(typical, (0.4, 0.5, 0.6),
                                                                     strict=True)]
        t = days[: rng.integers(3, len(days) + 1)]
        ipred = sld(t, *p)
        sd = np.hypot(3.0, 0.1 * ipred)
        dv = ipred + sd * rng.standard_normal(len(t))
        pred = sld(t, *typical)
        rows.append(pd.DataFrame({
            "ID": i + 1, "TIME": t, "output": "SLD", "DV": dv, "BLQ": 0, "LLOQ": np.nan,
            "PRED": pred, "IPRED": ipred, "IWRES": (dv - ipred) / sd,
            "CWRES": (dv - pred) / np.hypot(0.4 * pred, sd)}))
        curves.append(pd.DataFrame({"ID": i + 1, "TIME": grid, "output": "SLD",
                                    "IPRED": sld(grid, *p), "PRED": sld(grid, *typical)}))
    return pd.concat(rows, ignore_index=True), pd.concat(curves, ignore_index=True)


def posterior(n_chain=4, n_draw=300, seed=2):
    """AR(1) chains for two scalar parameters and a two-element vector."""
    rng = np.random.default_rng(seed)

    def chains(shape, mu, sd):
        x = np.empty((n_chain, n_draw, *shape))
        x[:, 0] = rng.standard_normal((n_chain, *shape))
        for d in range(1, n_draw):
            x[:, d] = 0.6 * x[:, d - 1] + 0.8 * rng.standard_normal((n_chain, *shape))
        return mu + sd * x

    ds = xr.Dataset({
        "cmax": (("chain", "draw"), chains((), 1e4, 800.0)),
        "tmax": (("chain", "draw"), chains((), 9.0, 0.5)),
        "omega": (("chain", "draw", "iiv"), chains((2,), 0.5, 0.05)),
    }, coords={"chain": np.arange(n_chain), "draw": np.arange(n_draw), "iiv": ["cmax", "tmax"]})
    ds["cmax"].attrs["units"] = QPCR_UNIT
    ds["tmax"].attrs["units"] = "day"
    return ds


# -- VPC statistics ----------------------------------------------------------------------------

def censored_reference(y, cens, q):
    """Linear quantile with censored values ranked lowest; NaN when the quantile's lower order
    statistic is censored. Written with np.quantile and counting, independently of the
    implementation."""
    y, cens = np.asarray(y, float), np.asarray(cens, bool)
    if len(y) == 0:
        return np.nan
    floor = np.nanmin(np.where(cens, np.nan, y), initial=0.0) - 1.0
    value = np.quantile(np.where(cens, floor, y), q)
    return np.nan if np.floor((len(y) - 1) * q) < cens.sum() else value


def vpc_reference(t, dv, cens, sims, sim_cens, edges, qs, ci):
    levels = [(1 - ci) / 2, 0.5, (1 + ci) / 2]
    out = []
    for b in range(len(edges) - 1):
        last = b == len(edges) - 2
        inside = (t >= edges[b]) & ((t <= edges[b + 1]) if last else (t < edges[b + 1]))
        row = {"n_obs": inside.sum(), "obs_fblq": cens[inside].mean()}
        for q in qs:
            row[f"obs_{q}"] = censored_reference(dv[inside], cens[inside], q)
            per_rep = np.array([censored_reference(s[inside], c[inside], q)
                                for s, c in zip(sims, sim_cens, strict=True)])
            for name, level in zip(("lo", "med", "hi"), levels, strict=True):
                row[f"sim_{q}_{name}"] = censored_reference(
                    np.nan_to_num(per_rep), np.isnan(per_rep), level)
        fraction = sim_cens[:, inside].mean(axis=1)
        row["sim_fblq"] = np.quantile(fraction, levels)
        out.append(row)
    return out


@pytest.mark.parametrize("lloq", [None, 2.0])
def test_vpc_stats_matches_numpy(lloq):
    rng = np.random.default_rng(5)
    n, n_rep = 45, 60
    t = rng.uniform(0, 12, n)
    truth = 6 * np.exp(-0.15 * t)
    dv = truth * np.exp(0.5 * rng.standard_normal(n))
    sims = truth * np.exp(0.5 * rng.standard_normal((n_rep, n)))
    cens = dv < lloq if lloq else np.zeros(n, bool)
    sim_cens = sims < lloq if lloq else np.zeros(sims.shape, bool)
    if lloq:
        assert 0.1 < cens.mean() < 0.6
    dv_in = np.where(cens, np.nan, dv)  # censored rows carry no value, as in Fit.predict()
    edges = [0.0, 3.0, 7.0, 12.0]
    qs = (0.05, 0.5, 0.95)

    stats = vpc_stats(t, dv_in, cens.astype(int), None, sims, lloq=lloq, bins=edges,
                      quantiles=qs, ci=0.8)

    reference = vpc_reference(t, dv, cens, sims, sim_cens, edges, qs, 0.8)
    assert len(stats) == 3 and stats.attrs["n_replicates"] == n_rep
    for (_, row), ref in zip(stats.iterrows(), reference, strict=True):
        assert row["n_obs"] == ref["n_obs"]
        assert row["obs_fblq"] == pytest.approx(ref["obs_fblq"])
        np.testing.assert_allclose(
            row[["sim_fblq_lo", "sim_fblq_med", "sim_fblq_hi"]].to_numpy(float),
            ref["sim_fblq"])
        for q, stem in zip(qs, ("p5", "p50", "p95"), strict=True):
            got = row[[f"obs_{stem}", f"sim_{stem}_lo", f"sim_{stem}_med", f"sim_{stem}_hi"]]
            want = [ref[f"obs_{q}"], ref[f"sim_{q}_lo"], ref[f"sim_{q}_med"],
                    ref[f"sim_{q}_hi"]]
            np.testing.assert_allclose(got.to_numpy(float), want, rtol=1e-12, equal_nan=True)
    if lloq:
        # The censoring must actually bite: some low percentiles are reported as below LLOQ.
        assert stats["obs_p5"].isna().any() and stats["sim_p5_lo"].isna().any()
        assert (stats[["obs_p50", "obs_p95"]].dropna() >= lloq).all().all()
    else:
        assert not stats.filter(like="_p").isna().any().any()
        assert (stats["n_blq"] == 0).all() and (stats["sim_fblq_hi"] == 0).all()


def test_vpc_stats_per_replicate_times_and_per_row_lloq():
    rng = np.random.default_rng(8)
    t = np.repeat([1.0, 2.0, 4.0], 10)
    sims = rng.lognormal(1.0, 1.0, (20, len(t)))
    dv = rng.lognormal(1.0, 1.0, len(t))
    lloq = np.where(t < 3, 1.0, 2.0)
    one = vpc_stats(t, dv, None, t, sims, lloq=lloq, bins="auto")
    two = vpc_stats(t, dv, None, np.broadcast_to(t, sims.shape), sims, lloq=lloq, bins="auto")
    pd.testing.assert_frame_equal(one, two)
    assert one["lloq"].tolist() == [1.0, 1.0, 2.0]
    assert one["n_blq"].tolist() == [int(((dv < lloq) & (t == v)).sum()) for v in (1, 2, 4)]


def test_auto_bins_hold_observations():
    rng = np.random.default_rng(3)
    pred, _, _ = qpcr_example()
    designs = {
        "jittered nominal days": pred["TIME"].to_numpy(),
        "continuous": rng.uniform(0, 28, 300),
        "nominal, few times": np.repeat([0.0, 1, 7, 28], 5),
        "skewed": rng.exponential(3.0, 80),
    }
    for name, t in designs.items():
        edges = bin_edges(t, "auto")
        counts = np.bincount(assign(t, edges), minlength=len(edges) - 1)
        assert (counts >= 1).all(), name
        assert counts.sum() == len(t), name
        if len(np.unique(t)) > 10:
            assert 6 <= len(counts) <= 10, name
    # Clusters around nominal days are not split: every bin's times lie near one or more
    # whole nominal days.
    t = designs["jittered nominal days"]
    bins = assign(t, bin_edges(t, "auto"))
    nominal = np.tile(NOMINAL_DAYS, 12)
    for day in NOMINAL_DAYS:
        assert len(set(bins[nominal == day])) == 1
    # Every distinct time its own bin when there are few.
    assert len(bin_edges(designs["nominal, few times"], "auto")) - 1 == 4


def test_vpc_stats_rejects_bad_input():
    t = np.arange(6.0)
    dv = np.ones(6)
    sims = np.ones((3, 6))
    with pytest.raises(ValueError, match="sim_dv"):
        vpc_stats(t, dv, None, None, np.ones((3, 5)), lloq=None, bins="auto")
    with pytest.raises(ValueError, match="sim_dv"):
        vpc_stats(t, dv, None, None, np.ones(6), lloq=None, bins="auto")
    with pytest.raises(ValueError, match="sim_time"):
        vpc_stats(t, dv, None, np.arange(5.0), sims, lloq=None, bins="auto")
    with pytest.raises(ValueError, match="obs_time"):
        vpc_stats([], [], None, None, np.ones((3, 0)), lloq=None, bins="auto")
    with pytest.raises(ValueError, match="obs_dv"):
        vpc_stats(t, np.r_[dv[:5], np.nan], None, None, sims, lloq=None, bins="auto")
    with pytest.raises(ValueError, match="lloq"):
        vpc_stats(t, dv, [1, 0, 0, 0, 0, 0], None, sims, lloq=None, bins="auto")
    with pytest.raises(ValueError, match="bins"):
        vpc_stats(t, dv, None, None, sims, lloq=None, bins=[3.0, 1.0])
    with pytest.raises(ValueError, match="quantiles"):
        vpc_stats(t, dv, None, None, sims, lloq=None, bins="auto", quantiles=(0.5, 1.0))


def test_lowess_follows_trend_through_ties_and_outliers():
    rng = np.random.default_rng(4)
    x = np.repeat(np.arange(0.0, 50, 5), 12)  # nominal times: many ties
    y = 0.02 * x + 0.3 * rng.standard_normal(len(x))
    y[::17] += 15  # a few gross outliers
    xs, ys = lowess(x, y)
    assert np.all(np.diff(xs) > 0) and np.isfinite(ys).all()
    np.testing.assert_allclose(ys, 0.02 * xs, atol=0.25)
    assert lowess(x[:5], y[:5])[0].size == 0


# -- figures -----------------------------------------------------------------------------------

def all_text(fig):
    parts = [fig.get_suptitle(), fig.get_supxlabel(), fig.get_supylabel()]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    return " | ".join(parts)


def test_gof_figure_log_and_linear():
    pred, _, _ = qpcr_example()
    fig = gof_figure(pred, "CAR_T", unit=QPCR_UNIT, time_unit="day", log=True)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    dv_pred, dv_ipred, res_time, res_pred = fig.axes
    for ax in (dv_pred, dv_ipred):
        assert ax.get_xscale() == ax.get_yscale() == "log"
        assert ax.get_xlim() == ax.get_ylim()
        assert QPCR_UNIT in ax.get_xlabel() and QPCR_UNIT in ax.get_ylabel()
        assert f"{pred.BLQ.sum()} BLQ not shown" in ax.get_title()
    assert res_time.get_ylabel() == "CWRES" and "(day)" in res_time.get_xlabel()
    assert res_pred.get_xscale() == "log" and QPCR_UNIT in res_pred.get_xlabel()

    sld, _ = sld_example()
    fig = gof_figure(sld, "SLD", unit=SLD_UNIT, time_unit="day", log=False)
    assert {ax.get_yscale() for ax in fig.axes} == {"linear"}
    assert "(mm)" in fig.axes[0].get_ylabel() and "BLQ" not in fig.axes[0].get_title()


def test_gof_residual_fallback():
    pred, _, _ = qpcr_example(n_subjects=4)
    npde = pred.drop(columns="CWRES").assign(NPDE=pred["CWRES"])
    fig = gof_figure(npde, "CAR_T", unit=QPCR_UNIT, time_unit="day", log=True)
    assert fig.axes[2].get_ylabel() == "NPDE"
    fig = gof_figure(pred.drop(columns="CWRES"), "CAR_T", unit=QPCR_UNIT, time_unit="day",
                     log=True)
    assert fig.axes[2].get_ylabel().startswith("IWRES (no population residual")
    with pytest.raises(ValueError, match="IWRES"):
        gof_figure(pred.drop(columns=["CWRES", "IWRES"]), "CAR_T", unit=QPCR_UNIT,
                   time_unit="day", log=True)


@pytest.mark.parametrize("figure", ["gof", "individual"])
def test_figures_reject_bad_tables(figure):
    pred, curves, _ = qpcr_example(n_subjects=3)

    def draw(table, output="CAR_T"):
        if figure == "gof":
            return gof_figure(table, output, unit=QPCR_UNIT, time_unit="day", log=True)
        return individual_figure(table, curves, output, unit=QPCR_UNIT, time_unit="day",
                                 log=True)

    with pytest.raises(ValueError, match="PRED" if figure == "gof" else "LLOQ"):
        draw(pred.drop(columns=["PRED", "LLOQ"]))
    with pytest.raises(ValueError, match="empty"):
        draw(pred.iloc[:0])
    with pytest.raises(ValueError, match="'IL6'"):
        draw(pred, "IL6")
    if figure == "individual":
        with pytest.raises(ValueError, match="curves.*IPRED"):
            individual_figure(pred, curves.drop(columns="IPRED"), "CAR_T", unit=QPCR_UNIT,
                              time_unit="day", log=True)


def test_individual_figure_marks_blq():
    pred, curves, _ = qpcr_example(n_subjects=6)
    n_blq = int(pred.BLQ.sum())
    assert n_blq > 0
    fig = individual_figure(pred, curves, "CAR_T", unit=QPCR_UNIT, time_unit="day", log=True)
    assert len(fig.axes) == 6
    assert {ax.get_yscale() for ax in fig.axes} == {"log"}
    triangles = [line for ax in fig.axes for line in ax.get_lines() if line.get_marker() == "v"]
    assert sum(len(line.get_xdata()) for line in triangles) == n_blq
    for line in triangles:  # open markers drawn at the LLOQ
        assert line.get_markerfacecolor() == "none"
        assert set(np.asarray(line.get_ydata(), float)) == {LLOQ}
    assert QPCR_UNIT in all_text(fig) and "(day)" in all_text(fig)
    assert len(fig.legends) == 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:3] == ["observed", "IPRED", "PRED"] and "LLOQ" in labels


def test_individual_figure_caps_subjects_and_linear_scale():
    sld, curves = sld_example(n_subjects=7)
    fig = individual_figure(sld, curves, "SLD", unit=SLD_UNIT, time_unit="day", log=False,
                            max_subjects=5)
    assert len(fig.axes) == 5 and "first 5 of 7 subjects" in fig.get_suptitle()
    assert {ax.get_yscale() for ax in fig.axes} == {"linear"}
    assert not any(line.get_marker() == "v" for ax in fig.axes for line in ax.get_lines())
    assert fig.axes[0].get_ylim()[0] == 0  # sizes on a linear axis start at zero
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "LLOQ" not in labels


def test_vpc_figure_with_and_without_blq():
    pred, _, sims = qpcr_example(n_subjects=12, n_rep=50)
    stats = vpc_stats(pred.TIME, pred.DV, pred.BLQ, None, sims, lloq=LLOQ, bins="auto")
    fig = vpc_figure(stats, output="CAR_T", unit=QPCR_UNIT, time_unit="day", log=True,
                     obs=pred)
    assert len(fig.axes) == 2
    top, bottom = fig.axes
    assert top.get_yscale() == "log" and QPCR_UNIT in top.get_ylabel()
    assert "(day)" in bottom.get_xlabel() and "LLOQ" in bottom.get_ylabel()

    sld, _ = sld_example()
    rng = np.random.default_rng(0)
    sim = sld.IPRED.to_numpy() + 5 * rng.standard_normal((30, len(sld)))
    stats = vpc_stats(sld.TIME, sld.DV, None, sld.TIME, sim, lloq=None, bins="auto")
    fig = vpc_figure(stats, output="SLD", unit=SLD_UNIT, time_unit="day", log=False)
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "linear"
    assert "(mm)" in fig.axes[0].get_ylabel() and "(day)" in fig.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="obs_p"):
        vpc_figure(stats.drop(columns=["obs_p5", "obs_p50", "obs_p95"]), output="SLD",
                   unit=SLD_UNIT, time_unit="day", log=False)


def test_trace_rank_figure():
    ds = posterior()
    fig = trace_rank_figure(ds, ["cmax", "tmax", "omega"])
    assert len(fig.axes) == 8  # 4 rows (omega has two elements) x (trace, rank)
    titles = [ax.get_title(loc="left") for ax in fig.axes[::2]]
    assert [t.split(":")[0] for t in titles] == ["cmax", "tmax", "omega[cmax]", "omega[tmax]"]
    assert all(re.search(r"R-hat 1\.0\d\d,  ESS bulk \d+", t) for t in titles)
    assert QPCR_UNIT in fig.axes[0].get_ylabel()
    rank = fig.axes[1]
    assert len(rank.patches) == 4 * 20  # 20 rank bins per chain

    single = trace_rank_figure(ds.isel(chain=[0]), ["cmax", "omega"])
    assert len(single.axes) == 3 and "single chain: no rank plot" in single.get_suptitle()
    with pytest.raises(ValueError, match="'nope'"):
        trace_rank_figure(ds, ["cmax", "nope"])
    with pytest.raises(ValueError, match="var_names"):
        trace_rank_figure(ds, [])


# -- HTML report -------------------------------------------------------------------------------

def small_figure():
    fig = Figure(figsize=(2, 1.5))
    fig.subplots().plot([0, 1], [0, 1])
    fig.suptitle("a line")
    return fig


def test_write_report_is_self_contained(tmp_path):
    png = save_figure(small_figure(), tmp_path / "figs" / "line.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    table = pd.DataFrame({"estimate": [12345.678, 0.0123456, 3.0], "rse %": [12.34, 5.0, np.nan]},
                         index=pd.Index(["cmax", "alpha", "n"], name="parameter"))
    out = write_report(tmp_path / "report.html", title="CAR-T fit <run 7>",
                       subtitle="study ABC-101", sections=[
                           Section("Estimates", ["Posterior medians.\n\nSecond paragraph.",
                                                 table]),
                           Section("Figures", [small_figure(), png, Pre("$THETA 1 <x>")]),
                       ])
    text = out.read_text(encoding="utf-8")
    assert "CAR-T fit &lt;run 7&gt;" in text and "<run 7>" not in text
    assert text.count('<img src="data:image/png;base64,') == 2
    assert '<table class="dataframe data">' in text
    assert "12350" in text and "0.01235" in text and "<th>cmax</th>" in text
    assert "<pre>$THETA 1 &lt;x&gt;</pre>" in text
    assert "<p>Second paragraph.</p>" in text
    assert "http" not in text.lower() and "src=\"/" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs", "report.html"]


def test_write_report_failure_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    write_report(path, title="first", sections=[Section("A", ["text"])])
    before = path.read_text()
    with pytest.raises(ValueError, match="Section 'B'|section 'B'"):
        write_report(path, title="second", sections=[Section("B", [object()])])
    with pytest.raises(ValueError, match="not a PNG"):
        (tmp_path / "fake.png").write_text("nope")
        write_report(path, title="second", sections=[Section("B", [tmp_path / "fake.png"])])

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_report(path, title="second", sections=[Section("B", ["text"])])
    with pytest.raises(OSError, match="disk full"):
        save_figure(small_figure(), tmp_path / "fig.png")
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.png", "report.html"]


@pytest.mark.parametrize("value, text", [
    (12345.678, "12350"), (1234.5, "1234"), (0.000123456, "0.0001235"), (3.0, "3"),
    (1.5e7, "1.500e+07"), (2.5e-6, "2.500e-06"), (0.0, "0"), (np.nan, "–"), (-0.5, "-0.5"),
])
def test_number_format(value, text):
    assert _number(value) == text
