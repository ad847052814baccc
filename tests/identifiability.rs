//! Thm 5.1 end to end on seeded synthetic data: a triangular monotone flow with a fixed N(0, I)
//! prior recovers the exact KR map (Gaussian oracle) and the true latents (TMI data), restarts
//! agree, and the permuting baseline does not.
mod common;
use common::*;
use strongid::flows::{FlowConfig, fit::fit};
use strongid::metrics::{self, evaluate};
use strongid::train::TrainConfig;
use strongid::transforms::TransformKind;
use strongid::{Matrix, simulate};

/// Least-squares affine fit z ≈ A x + c over the rows: returns A (d × d).
fn linear_part(x: &Matrix, z: &Matrix) -> Matrix {
    let d = x.cols;
    let design = nalgebra::DMatrix::from_fn(x.rows, d + 1, |i, j| if j < d { x.get(i, j) } else { 1.0 });
    let target = z.to_nalgebra();
    let coef = design.svd(true, true).solve(&target, 1e-12).unwrap();
    Matrix::from_fn(d, d, |r, c| coef[(c, r)])
}

#[test]
fn affine_tmi_flow_recovers_the_exact_gaussian_kr_map() {
    for dim in 3..=5 {
        let sim = simulate::gaussian::simulate(dim, 20_000, dim as u64).unwrap();
        let config = FlowConfig { dim, layers: 1, hidden: 32, hidden_layers: 2, transform: TransformKind::Affine, triangular: true, linear: false };
        let train = TrainConfig { epochs: 80, batch: 256, lr: 1e-3, seed: 1, ..TrainConfig::default() };
        let (flow, rep) = fit(config, &sim.dataset.x, &train, false).unwrap();
        eprintln!("d = {dim}: {} epochs, best at {}", rep.epochs_run, rep.best_epoch);
        let a = linear_part(&sim.dataset.x, &flow.encode(&sim.dataset.x));
        let err = a.max_abs_diff(&sim.kr_map);
        eprintln!("d = {dim}: max |A − L⁻¹| = {err:.4}");
        assert!(err < 0.05, "d = {dim}: learned linear map differs from L⁻¹ by {err}\nlearned {a:?}\nexact {:?}", sim.kr_map);
    }
}

fn spline_config(triangular: bool) -> FlowConfig {
    FlowConfig { dim: 4, layers: 3, hidden: 64, hidden_layers: 2, transform: TransformKind::Spline { bins: 8, tail_bound: 4.0 }, triangular, linear: false }
}

#[test]
fn spline_tmi_flow_recovers_tmi_latents_and_restarts_agree() {
    let (ds, _) = simulate::tmi::simulate(4, 20_000, 0).unwrap();
    let z = ds.z.as_ref().unwrap();
    let train = |seed| TrainConfig { epochs: 40, batch: 256, lr: 3e-3, seed, ..TrainConfig::default() };
    let (tmi_a, _) = fit(spline_config(true), &ds.x, &train(1), false).unwrap();
    let (tmi_b, _) = fit(spline_config(true), &ds.x, &train(2), false).unwrap();
    let (perm, _) = fit(spline_config(false), &ds.x, &train(1), false).unwrap();
    let (za, zb, zp) = (tmi_a.encode(&ds.x), tmi_b.encode(&ds.x), perm.encode(&ds.x));
    let (sa, sb, sp) = (evaluate(z, &za).unwrap(), evaluate(z, &zb).unwrap(), evaluate(z, &zp).unwrap());
    let agree = metrics::strong_mcc(&za, &zb);
    eprintln!("tmi-flow seed 1: {sa:?}\ntmi-flow seed 2: {sb:?}\nflow: {sp:?}\nrestart agreement strong_mcc {agree:.4}");
    assert!(sa.strong_mcc >= 0.97 && sb.strong_mcc >= 0.97, "tmi-flow strong_mcc {} / {}", sa.strong_mcc, sb.strong_mcc);
    assert!(agree >= 0.97, "two tmi-flow restarts disagree: strong_mcc {agree}");
    assert!(sp.strong_mcc < sa.strong_mcc - 0.03, "permuting flow strong_mcc {} not clearly below {}", sp.strong_mcc, sa.strong_mcc);
    assert!(sp.identity_rmse > 2.0 * sa.identity_rmse, "permuting flow rmse {} vs tmi {}", sp.identity_rmse, sa.identity_rmse);
    // A trained flow inverts to f32 precision on the data and far into the tails.
    let mut zt = strongid::simulate::standard_normal(10_000, 4, &mut strongid::train::stream(5, 0));
    for v in zt.data.iter_mut().step_by(7) {
        *v *= 3.0;
    }
    let err = zt.max_abs_diff(&tmi_a.encode(&tmi_a.generate(&zt)));
    assert!(err < 1e-4, "trained flow round trip error {err}");
}

#[test]
fn same_seed_gives_identical_bytes_on_any_thread_count_and_instruction_set() {
    let dir = scratch("determinism");
    let data = dir.join("data");
    assert!(strongid(&["simulate", "tmi", "--dim", "3", "--n", "3000", "--seed", "7", "--out", p(&data)]).status.success());
    let (mut codes, mut densities) = (Vec::new(), Vec::new());
    // Run 0 on one thread, runs 1 and 2 on two: batches of 256 are split in halves computed in
    // parallel, and the split never depends on the thread count. Run 3 forces the portable
    // (SSE2) copies of the vectorised kernels instead of the AVX2 ones (`fastmath::simd_fn`).
    for (run, threads, simd) in [(0, "1", "auto"), (1, "2", "auto"), (2, "2", "auto"), (3, "2", "baseline")] {
        let env = [("RAYON_NUM_THREADS", threads), ("STRONGID_SIMD", simd)];
        let model = dir.join(format!("m{run}.safetensors"));
        let out = strongid_env(&["fit", "tmi-flow", "--data", p(&data), "--out", p(&model), "--epochs", "4", "--hidden", "32", "--batch", "256", "--seed", "11", "--quiet"], &env);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (z, lp) = (dir.join(format!("z{run}.npy")), dir.join(format!("lp{run}.npy")));
        assert!(strongid_env(&["encode", "--model", p(&model), "--data", p(&data.join("x.npy")), "--out", p(&z)], &env).status.success());
        assert!(strongid_env(&["logprob", "--model", p(&model), "--data", p(&data.join("x.npy")), "--out", p(&lp)], &env).status.success());
        codes.push(std::fs::read(&z).unwrap());
        densities.push(std::fs::read(&lp).unwrap());
    }
    assert!(codes.iter().all(|c| *c == codes[0]), "same seed, different encoded bytes");
    assert!(densities.iter().all(|d| *d == densities[0]), "same seed, different log-density bytes");
    // A different seed gives a different fit (the test above is not vacuous).
    let model = dir.join("other.safetensors");
    assert!(strongid(&["fit", "tmi-flow", "--data", p(&data), "--out", p(&model), "--epochs", "4", "--hidden", "32", "--seed", "12", "--quiet"]).status.success());
    let z = dir.join("other.npy");
    assert!(strongid(&["encode", "--model", p(&model), "--data", p(&data.join("x.npy")), "--out", p(&z)]).status.success());
    assert!(std::fs::read(&z).unwrap() != codes[0]);
}
