"""Bad input gets a clear error, before compilation, naming the row/parameter and the fix."""

import numpy as np
import pytest

import cellpkpd as cp
from cellpkpd.engine import ODE_FAILED

from conftest import table
from models import STIFF

ORAL = "pk_1cmt_oral"


def dose(cmt="1", rate="0"):
    return table(f"""
        ID,TIME,AMT,CMT,RATE,EVID
        1,0,100,1,0,1
        2,0,100,{cmt},{rate},1
    """)


def test_unknown_compartment_name_names_row_and_choices():
    with pytest.raises(cp.DataError) as err:
        cp.simulate(ORAL, dose(cmt="gut"), times=[1.0])
    problem = err.value.problems[0]
    assert (problem.row, problem.column) == (2, "CMT")
    assert "'gut'" in str(err.value) and "depot" in str(err.value)


@pytest.mark.parametrize("cmt", ["3", "0", "1.5"])
def test_compartment_number_out_of_range(cmt):
    with pytest.raises(cp.DataError, match=r"row 2, column CMT: CMT .* is not a compartment"):
        cp.simulate(ORAL, dose(cmt=cmt), times=[1.0])


def test_compartment_by_name_is_accepted():
    by_name = cp.simulate(ORAL, dose(cmt="central"), times=[1.0])
    by_number = cp.simulate(ORAL, dose(cmt="2"), times=[1.0])
    np.testing.assert_array_equal(by_name["cp"].values, by_number["cp"].values)


def test_modeled_rate_without_model_rate_is_a_data_error():
    with pytest.raises(cp.DataError, match=r"row 2, column RATE: RATE=-1 .* infusion_rate"):
        cp.simulate(ORAL, dose(rate="-1"), times=[1.0])


def test_unknown_parameter():
    with pytest.raises(cp.ParameterError, match=r"no parameter\(s\) \['CL'\].*'cl'"):
        cp.simulate(ORAL, dose(), {"CL": 1.0}, times=[1.0])


@pytest.mark.parametrize("value,why", [(np.nan, "is not finite"), (np.inf, "is not finite"),
                                       (0.0, "must be > 0"), (-1.0, "must be > 0")])
def test_bad_parameter_value_names_parameter_and_subject(value, why):
    with pytest.raises(cp.ParameterError, match=rf"'v' = .* for subject 2 {why}"):
        cp.simulate(ORAL, dose(), {"v": np.array([20.0, value])}, times=[1.0])


def test_parameter_array_of_wrong_length():
    with pytest.raises(cp.ParameterError, match="one value per subject"):
        cp.simulate(ORAL, dose(), {"cl": np.ones(3)}, times=[1.0])


def test_failed_solve_raises_and_names_the_subject():
    data = table("""
        ID,TIME,AMT,CMT,EVID
        42,0,100,1,1
    """)
    with pytest.raises(cp.SolverError, match="subject 42: the ODE solver failed"):
        cp.simulate(STIFF, data, times=[1.0, 10.0], solver=cp.Solver(method="tsit5", max_steps=50))


def test_stiff_method_solves_the_stiff_model():
    data = table("""
        ID,TIME,AMT,CMT,EVID
        1,0,100,2,1
    """)
    sim = cp.simulate(STIFF, data, times=[1.0, 10.0], solver=cp.Solver(method="kvaerno5"))
    # fast tracks slow (quasi steady state), which decays at 0.1/h.
    np.testing.assert_allclose(sim["fast"].values[0], 100 * np.exp(-0.1 * np.array([1, 10])),
                               rtol=1e-5)


def test_closed_form_on_a_nonlinear_model_is_refused():
    with pytest.raises(ValueError, match="needs a linear model"):
        cp.simulate(STIFF, dose(), times=[1.0], solver=cp.Solver(method="closed_form"))


def test_solver_arguments_are_checked():
    with pytest.raises(ValueError, match="method='rk4'"):
        cp.Solver(method="rk4")
    with pytest.raises(ValueError, match="rtol"):
        cp.Solver(rtol=0)


def test_a_failed_subject_leaves_its_batch_mates_alone():
    # Subject 1 is stiff and fails its first interval under tsit5 with 200 steps; the engine
    # then stops integrating it (a failed solve is void, and in a vmapped batch every
    # subject would wait for its remaining intervals). Subject 2, in the same batch, must be
    # solved exactly as it is alone.
    rows = ["ID,TIME,AMT,CMT,EVID", "1,0,100,1,1", "2,0,100,1,1"]
    solver = cp.Solver(method="tsit5", rtol=1e-6, atol=1e-8, max_steps=200)
    times = [1.0, 5.0, 10.0, 20.0]
    both = cp.problem(STIFF, table("\n".join(rows)), times=times, solver=solver)
    out, _, status = both.solve(both.parameters({"k_fast": np.array([1e6, 0.5])}))
    alone = cp.problem(STIFF, table("\n".join(rows[::2])), times=times, solver=solver)
    out2, _, status2 = alone.solve(alone.parameters({"k_fast": 0.5}))
    assert int(status[0]) & ODE_FAILED and int(status[1]) == 0 == int(status2[0])
    np.testing.assert_allclose(np.asarray(out)[1], np.asarray(out2)[0], rtol=1e-12)
    # An independent reference for subject 2: scipy at tight tolerance.
    from scipy.integrate import solve_ivp

    ref = solve_ivp(lambda t, y: [-0.5 * (y[0] - y[1]), -0.1 * y[1]], (0, 20), [100.0, 0.0],
                    t_eval=times, rtol=1e-10, atol=1e-10)
    got = both.grid(out)[1, :, 0]
    np.testing.assert_allclose(got, ref.y[0], rtol=1e-4)
