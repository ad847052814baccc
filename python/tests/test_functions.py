"""metrics, simulate, probe, theory, experiments."""
import numpy as np
import pytest

import strongid


def test_metrics_match_their_definitions():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 3))
    m = strongid.metrics.evaluate(z, z)
    assert m["strong_mcc"] == pytest.approx(1.0) and m["identity_rmse"] == pytest.approx(0.0)
    flipped = -z[:, [1, 2, 0]]
    assert strongid.metrics.strong_mcc(z, flipped) < 0.1
    assert strongid.metrics.mcc(z, flipped) == pytest.approx(1.0)
    assert strongid.metrics.mcc_spearman(z, np.exp(z)) == pytest.approx(1.0)
    assert strongid.metrics.affine_r2(z, z @ rng.normal(size=(3, 3))) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        strongid.metrics.evaluate(z, z[:10])


def test_simulators_return_arrays_and_true_priors():
    d = strongid.simulate.ivae(latent_dim=2, obs_dim=3, segments=5, per_segment=40, modulation="mean-variance", random_state=2)
    assert d.X.shape == (200, 3) and d.z.shape == (200, 2) and d.u.dtype == np.int64 and len(d.priors) == 5
    assert d.meta["parameters"]["seed"] == 2 and d.meta["parameters"]["modulation"] == "mean-variance"
    c = strongid.simulate.ivae(latent_dim=2, obs_dim=2, segments=4, per_segment=50, u_dim=2)
    assert c.u.shape == (200, 2) and c.u.dtype == np.float64 and c.priors is None
    g = strongid.simulate.gaussian(dim=2, n=100)
    assert "kr_map" in g.meta
    assert strongid.simulate.tmi(dim=2, n=50, random_state=3).X.tobytes() == strongid.simulate.tmi(dim=2, n=50, random_state=3).X.tobytes()
    with pytest.raises(ValueError, match="noise"):
        strongid.simulate.linear_env(noise=float("nan"))


def test_probe_classifies_restarts_as_the_theory_predicts():
    d = strongid.simulate.tmi(dim=2, n=3000, random_state=0)
    r = strongid.probe.probe(strongid.TMIFlow(epochs=20), d.X, restarts=2)
    assert r.classification == "strongly-identifiable" and r.predicted == "strongly-identifiable" and r.consistent
    assert len(r.pairs) == 1 and r.pairs[0]["identity"] > 0.95


def test_theory_catalogue_table_and_anchor_check():
    assert "the identity only" in strongid.theory.catalogue("tmi-flow", dim=2)
    rows = strongid.theory.table(3)
    assert len(rows) >= 5 and any(r["strongly_identifiable"] for r in rows) and not all(r["strongly_identifiable"] for r in rows)
    tmi = strongid.theory.entry("tmi-flow", dim=2)
    assert tmi["strongly_identifiable"] and all(t["identifiable"] and t["output_change"] == 0 for t in tmi["tasks"])
    fa = strongid.theory.entry("fa", dim=2)
    assert not fa["strongly_identifiable"] and any(not t["identifiable"] and t["output_change"] > 0 for t in fa["tasks"])
    lin = strongid.simulate.linear_env(random_state=1)
    assert strongid.theory.entry("ivae-frozen", dim=2, anchors=lin.priors)["strongly_identifiable"]
    with pytest.raises(ValueError, match="depends on the anchors"):
        strongid.theory.entry("ivae-frozen", dim=2)
    assert strongid.theory.check_anchors(lin.priors)["strongly_identifiable"]
    assert not strongid.theory.check_anchors(lin.priors[:2])["strongly_identifiable"]


def test_experiments_run_writes_the_report(tmp_path):
    res = strongid.experiments.run(quick=True, out=tmp_path / "e", only=["E4"])
    assert [e["id"] for e in res["experiments"]] == ["E4"]
    assert (tmp_path / "e" / "report.html").exists()
