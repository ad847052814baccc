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
    assert r.verdict == "coordinates 1–2 unique at the identity across 2 restarts" and len(r.codes) == 2
    assert [c["level"] for c in r.coordinates] == ["strongly-identifiable"] * 2
    assert r.peers["cebra_mean"] > 0.95 and len(r.peers["cebra_pairs"]) == 2


def test_probe_null_controls_and_peer_scores():
    d = strongid.simulate.ivae(latent_dim=2, obs_dim=2, segments=10, per_segment=300, modulation="mean-variance", random_state=6)
    r = strongid.probe.probe(strongid.FrozenIVAE(anchors=d.priors), d.X, d.u, restarts=3, controls=True)
    assert r.classification == "strongly-identifiable"
    assert [c["control"] for c in r.controls] == ["shuffled-u", "merged-environments"]
    assert all(c["result"].classification == "not-identifiable" for c in r.controls)
    s = strongid.probe.peer_scores(r.codes)
    assert s["cebra_mean"] == pytest.approx(r.peers["cebra_mean"], abs=1e-12)
    z = d.z
    flipped = strongid.probe.peer_scores([z, -z[:, ::-1]])
    assert flipped["ituna"]["permutation"] == pytest.approx(1.0) and flipped["ituna"]["identity"] < 0


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


def test_real_datasets_load_through_the_library():
    s = strongid.datasets.load("sachs")
    assert s.X.shape == (7466, 11) and s.u.dtype == np.int64 and len(s.conditions) == 9
    assert s.conditions[int(s.u[-1])] == "β2cAMP" and s.columns[0] == "praf"
    assert s.meta["source_sha256"].startswith("fc331dcd")
    # U0126 blocks MEK: p44/42 falls against the CD3/CD28 baseline (x is log intensity).
    erk = s.columns.index("p44/42")
    assert np.median(s.X[s.u == 5, erk]) < np.median(s.X[s.u == 0, erk]) - 1.0
    t = strongid.datasets.load("tuebingen", pair=1)
    assert t.X.shape == (349, 2) and t.u is None and t.meta["pair"] == 1
    assert set(strongid.datasets.names()) == {"sachs", "tuebingen"}
    with pytest.raises(ValueError, match="1..99"):
        strongid.datasets.load("tuebingen")
    with pytest.raises(ValueError, match="built-in datasets are"):
        strongid.datasets.load("iris")
