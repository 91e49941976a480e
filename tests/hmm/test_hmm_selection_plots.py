"""Model selection picks the generating number of states; plots draw and return Axes."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from probwb.errors import ModelError, StateError
from probwb.hmm import HMM, select_n_states
from probwb.hmm.plots import plot_state_diagram, plot_state_posteriors

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def two_state_data():
    truth = HMM.from_params([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], {"y": ("poisson", {"rates": [0.5, 4.0]})},
                            state_names=["low", "high"])
    return truth.sample(300, 12, random_state=0)


def test_bic_and_heldout_choose_the_true_number_of_states(two_state_data) -> None:
    table = select_n_states(two_state_data, [1, 2, 3], emission={"y": "poisson"}, n_init=2,
                            random_state=0, order_by=("y", "mean"))
    assert list(table.index) == [1, 2, 3]
    assert table["bic"].idxmin() == 2
    # one state is clearly worse at forecasting each entity's later weeks than two
    assert table.loc[2, "heldout_loglik_per_step"] > table.loc[1, "heldout_loglik_per_step"] + 0.05
    assert table.loc[3, "n_params"] > table.loc[2, "n_params"] > table.loc[1, "n_params"]
    with pytest.raises(ModelError, match="state_names"):
        select_n_states(two_state_data, [2], state_names=["a", "b"])


def test_plots_return_axes(two_state_data) -> None:
    import matplotlib.pyplot as plt

    model = HMM(state_names=["low", "high"], emission={"y": "poisson"}, order_by=("y", "mean"),
                n_init=1, random_state=0).fit(two_state_data)
    ax = plot_state_diagram(model)
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("low") for t in texts)
    assert f"{model.transmat_[0, 1]:.3f}" in texts
    fig, ax2 = plt.subplots()
    out = plot_state_posteriors(model, two_state_data, 3, observed="y", ax=ax2)
    assert out is ax2 and len(ax2.collections) == 2
    with pytest.raises(StateError):
        plot_state_posteriors(model, two_state_data, 999)
    plt.close("all")
    assert np.isfinite(model.transmat_).all()
