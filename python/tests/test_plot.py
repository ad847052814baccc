"""Plot helpers: each takes and returns an ax."""
import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import strongid  # noqa: E402
from strongid import plot  # noqa: E402


def test_every_helper_draws_on_the_given_ax():
    d = strongid.simulate.tmi(dim=2, n=2000, random_state=0)
    est = strongid.TMIFlow(epochs=5).fit(d.X)
    z = est.transform(d.X)
    r = strongid.probe.probe(strongid.TMIFlow(epochs=3), d.X, restarts=3)
    fig, axes = plt.subplots(1, 4)
    assert plot.true_vs_learned(d.z, z, ax=axes[0]) is axes[0] and len(axes[0].collections) == 2
    assert plot.correlation_heatmap(d.z, z, ax=axes[1]) is axes[1] and len(axes[1].images) == 1
    assert plot.training_curve(est, ax=axes[2]) is axes[2] and len(axes[2].lines) == 3
    assert plot.probe_agreement(r, ax=axes[3]) is axes[3]
    assert np.allclose(np.diag(axes[3].images[0].get_array()), 1.0)
    assert plot.true_vs_learned(d.z, z, coordinate=1) is not None
    plt.close("all")


def test_probe_coordinates_and_condition_means_draw_the_numbers():
    d = strongid.simulate.ivae(latent_dim=2, obs_dim=2, segments=4, per_segment=200, modulation="mean-variance", random_state=1)
    r = strongid.probe.probe(strongid.IVAE(epochs=5), d.X, d.u, restarts=2)
    fig, axes = plt.subplots(1, 2)
    assert plot.probe_coordinates(r, ax=axes[0]) is axes[0]
    shown = axes[0].images[0].get_array()
    assert shown.shape == (2, 5) and shown[0, 0] == pytest.approx(r.coordinates[0]["identity"])
    assert plot.condition_means(r.codes[0], d.u, conditions=["a", "b", "c", "d"], ax=axes[1]) is axes[1]
    means = axes[1].images[0].get_array()
    assert means.shape == (4, 2) and means[2, 1] == pytest.approx(r.codes[0][d.u == 2, 1].mean())
    assert [t.get_text() for t in axes[1].get_yticklabels()] == ["a", "b", "c", "d"]
    plt.close("all")
