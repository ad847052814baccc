"""The estimators: reproducibility, the CLI's model files in both directions, input handling,
pickling, interruption."""
import os
import pickle
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import strongid


@pytest.fixture(scope="module")
def tmi():
    return strongid.simulate.tmi(dim=3, n=3000, random_state=0)


@pytest.fixture(scope="module")
def lin():
    return strongid.simulate.linear_env(envs=3, latent_dim=2, obs_dim=10, per_env=500, random_state=1)


def test_the_same_seed_gives_the_same_bits(tmi, lin):
    a = strongid.TMIFlow(epochs=5, random_state=3).fit_transform(tmi.X)
    b = strongid.TMIFlow(epochs=5, random_state=3).fit_transform(tmi.X)
    assert a.tobytes() == b.tobytes()
    c = strongid.TMIFlow(epochs=5, random_state=4).fit_transform(tmi.X)
    assert a.tobytes() != c.tobytes()
    f = lambda: strongid.FrozenIVAE(anchors=lin.priors, latent_dim=2, epochs=10, random_state=2).fit(lin.X, lin.u)  # noqa: E731
    assert f().transform(lin.X, lin.u).tobytes() == f().transform(lin.X, lin.u).tobytes()


def test_tmi_flow_recovers_the_latent_and_frozen_anchors_too(tmi, lin):
    assert strongid.metrics.strong_mcc(tmi.z, strongid.TMIFlow(epochs=30).fit_transform(tmi.X)) > 0.95
    est = strongid.FrozenIVAE(anchors=lin.priors, latent_dim=2).fit(lin.X, lin.u)
    assert strongid.metrics.strong_mcc(lin.z, est.transform(lin.X, lin.u)) > 0.95
    assert est.anchor_check_["strongly_identifiable"] and est.certificate_["certificate"]["agrees"]
    r = est.training_report_
    assert r["best_epoch"] >= 1 and len(r["val_loss"]) == len(r["train_loss"]) == r["epochs_run"] and r["seconds"] > 0


def test_python_fit_equals_the_cli_fit_byte_for_byte_and_files_go_both_ways(tmi, cli, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, tmi.X)
    cli_model = tmp_path / "cli.safetensors"
    subprocess.run([cli, "fit", "tmi-flow", "--data", str(x), "--epochs", "4", "--hidden", "16", "--seed", "7", "--quiet", "--out", str(cli_model)], check=True, capture_output=True)
    est = strongid.TMIFlow(epochs=4, hidden=16, random_state=7).fit(tmi.X)
    py_model = tmp_path / "py.safetensors"
    est.save(py_model)
    assert py_model.read_bytes() == cli_model.read_bytes()
    # CLI → Python: the CLI's codes equal the loaded estimator's.
    z_cli = tmp_path / "z.npy"
    subprocess.run([cli, "encode", "--model", str(cli_model), "--data", str(x), "--out", str(z_cli)], check=True, capture_output=True)
    loaded = strongid.TMIFlow.load(cli_model)
    assert np.load(z_cli).tobytes() == loaded.transform(tmi.X).tobytes()
    # Python → CLI.
    z_py = tmp_path / "zp.npy"
    subprocess.run([cli, "encode", "--model", str(py_model), "--data", str(x), "--out", str(z_py)], check=True, capture_output=True)
    assert np.load(z_py).tobytes() == est.transform(tmi.X).tobytes()
    with pytest.raises(ValueError, match="already exists"):
        est.save(py_model)
    assert isinstance(strongid.load(cli_model), strongid.TMIFlow)
    with pytest.raises(ValueError, match="holds a tmi-flow model"):
        strongid.IVAE.load(cli_model)


def test_ivae_with_labels_round_trips_through_the_cli(lin, cli, tmp_path):
    d = tmp_path / "d"
    subprocess.run([cli, "simulate", "linear-env", "--envs", "3", "--per-env", "500", "--seed", "1", "--out", str(d)], check=True, capture_output=True)
    X, u = np.load(d / "x.npy"), np.load(d / "u.npy")
    m = tmp_path / "cli.safetensors"
    subprocess.run([cli, "fit", "ivae-frozen", "--data", str(d), "--anchors", str(d / "priors.json"), "--latent-dim", "2", "--epochs", "8", "--quiet", "--out", str(m)], check=True, capture_output=True)
    est = strongid.FrozenIVAE(anchors=str(d / "priors.json"), latent_dim=2, epochs=8).fit(X, u)
    py = tmp_path / "py.safetensors"
    est.save(py)
    assert py.read_bytes() == m.read_bytes()
    z = tmp_path / "z.npy"
    subprocess.run([cli, "encode", "--model", str(m), "--data", str(d), "--out", str(z)], check=True, capture_output=True)
    assert np.load(z).tobytes() == strongid.load(m).transform(X, u).tobytes()


def _saved(est):
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    est.save(path)
    return path


def test_pickling_keeps_the_model_and_the_parameters(tmi):
    est = strongid.TMIFlow(epochs=3, hidden=8, random_state=5).fit(tmi.X)
    back = pickle.loads(pickle.dumps(est))
    assert back.get_params() == est.get_params()
    assert back.transform(tmi.X).tobytes() == est.transform(tmi.X).tobytes()
    assert back.training_report_ == est.training_report_
    assert strongid.load(_saved(est)).training_report_["seconds"] == 0, "timings are not in model files"


def test_any_array_like_gives_the_same_codes(tmi):
    pd = pytest.importorskip("pandas")
    est = strongid.TMIFlow(epochs=3, hidden=8).fit(tmi.X)
    want = est.transform(tmi.X)
    for variant in [tmi.X.astype(np.float32).astype(np.float64), np.asfortranarray(tmi.X), tmi.X.tolist(), pd.DataFrame(tmi.X)]:
        assert np.array_equal(est.transform(variant), want)
    f32 = est.transform(tmi.X.astype(np.float32))
    assert f32.dtype == np.float64 and np.allclose(f32, want, atol=1e-4)


def test_bad_input_raises_value_error_naming_the_row_and_column(tmi, lin):
    X = tmi.X.copy()
    X[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"X\[7, 2\] is NaN.*row 7, column 2"):
        strongid.TMIFlow(epochs=1).fit(X)
    with pytest.raises(ValueError, match="Expected 2D array"):
        strongid.TMIFlow(epochs=1).fit(tmi.X[:, 0])
    with pytest.raises(ValueError, match="needs u"):  # scikit-learn's wording: "requires y to be passed"
        strongid.IVAE(epochs=1).fit(lin.X)
    with pytest.raises(ValueError, match="has 3 rows but X has"):
        strongid.IVAE(epochs=1).fit(lin.X, lin.u[:3])
    with pytest.raises(ValueError, match="--lr must be a finite number"):
        strongid.TMIFlow(lr=float("nan")).fit(tmi.X)
    with pytest.raises(ValueError, match="needs integer environment labels"):
        strongid.FrozenIVAE(anchors=lin.priors, latent_dim=2).fit(lin.X, np.random.default_rng(0).normal(size=(lin.X.shape[0], 2)))
    est = strongid.TMIFlow(epochs=1).fit(tmi.X)
    with pytest.raises(ValueError, match="expecting 3 features"):
        est.transform(tmi.X[:, :2])
    with pytest.raises(strongid.NotFittedError):
        strongid.TMIFlow().transform(tmi.X)
    with pytest.raises(ValueError, match="random_state"):
        strongid.TMIFlow(random_state=-1).fit(tmi.X)


def test_a_diverging_fit_raises_fit_diverged_error():
    X = np.random.default_rng(0).normal(size=(300, 10)) * 1e200
    u = np.repeat([0, 1, 2], 100)
    with pytest.raises(strongid.FitDivergedError, match="before any step"):
        strongid.IVAE(standardize=False, epochs=2).fit(X, u)


def test_a_fit_is_interrupted_promptly_by_ctrl_c_and_the_next_fit_works(tmi):
    big = strongid.simulate.tmi(dim=4, n=60000, random_state=1)
    # Python's own Ctrl-C handler: a process started in the background by a non-interactive shell
    # (as CI may start this) inherits SIGINT ignored, and Python then leaves it ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    try:
        timer.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            strongid.TMIFlow(epochs=1000, patience=1000).fit(big.X)
        elapsed = time.monotonic() - start
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    assert elapsed < 5, f"interrupted after {elapsed:.1f} s"
    assert strongid.TMIFlow(epochs=2).fit(tmi.X).transform(tmi.X).shape == tmi.X.shape


def test_sample_and_score(tmi, lin):
    est = strongid.TMIFlow(epochs=3).fit(tmi.X)
    assert est.sample(5, random_state=1).tobytes() == est.sample(5, random_state=1).tobytes()
    assert est.score_samples(tmi.X[:10]).shape == (10,) and np.isfinite(est.score(tmi.X))
    fa = strongid.FactorAnalysis(latent_dim=2, triangular=True).fit(lin.X)
    assert fa.model_.kind == "fa-tri" and np.isfinite(fa.score(lin.X))
    iv = strongid.FrozenIVAE(anchors=lin.priors, latent_dim=2, epochs=3).fit(lin.X, lin.u)
    assert iv.sample(4, env=int(lin.u[0])).shape == (4, 10)
    assert not hasattr(iv, "score_samples"), "the ELBO only bounds the log-density"


def test_the_flow_generator_is_the_default_on_square_data_and_encodes_without_u():
    d = strongid.simulate.ivae(latent_dim=3, obs_dim=3, segments=8, per_segment=300, modulation="mean-variance", random_state=4)
    est = strongid.FrozenIVAE(anchors=d.priors, epochs=30).fit(d.X, d.u)
    assert not est.model_.needs_u
    z = est.transform(d.X)
    assert z.tobytes() == est.transform(d.X, d.u).tobytes()
    assert strongid.metrics.strong_mcc(d.z, z) > 0.9
    # The exact log p(x | u), the same numbers as the model's (in Rust) and finite: samples of the
    # model itself score higher on average than the data shifted off it.
    lp = est.log_prob(d.X, d.u)
    assert lp.shape == (d.X.shape[0],) and np.all(np.isfinite(lp))
    assert lp.tobytes() == est.model_.log_prob(d.X, d.u).tobytes()
    assert lp.mean() > est.log_prob(d.X + 0.5 * d.X.std(axis=0), d.u).mean() + 0.5
    with pytest.raises(ValueError, match="environment labels"):
        est.log_prob(d.X, None)
    mlp = strongid.FrozenIVAE(anchors=d.priors, generator="mlp", epochs=2, restarts=1).fit(d.X, d.u)
    with pytest.raises(ValueError, match="needs u"):
        mlp.transform(d.X)
    with pytest.raises(ValueError, match="no closed-form log-density"):
        mlp.log_prob(d.X, d.u)
    with pytest.raises(ValueError, match="option of the MLP generator"):
        strongid.IVAE(generator="flow", posterior="diagonal").fit(d.X, d.u)


def test_importance_sampled_codes_are_seeded_and_refused_without_an_encoder(tmi, lin):
    est = strongid.FrozenIVAE(anchors=lin.priors, latent_dim=2, epochs=10, random_state=2).fit(lin.X, lin.u)
    a = est.transform(lin.X, lin.u, importance_samples=64, random_state=1)
    assert a.tobytes() == est.transform(lin.X, lin.u, importance_samples=64, random_state=1).tobytes()
    assert a.tobytes() != est.transform(lin.X, lin.u, importance_samples=64, random_state=2).tobytes()
    assert strongid.metrics.strong_mcc(lin.z, a) > 0.95
    with pytest.raises(ValueError, match="exact"):
        strongid.TMIFlow(epochs=2).fit(tmi.X).transform(tmi.X, importance_samples=8)
    with pytest.raises(ValueError, match="importance_samples"):
        est.transform(lin.X, lin.u, importance_samples=-1)
