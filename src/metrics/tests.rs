use super::*;
use crate::simulate::standard_normal;
use crate::train::stream;

fn sample(n: usize, d: usize) -> Matrix {
    standard_normal(n, d, &mut stream(42, 0))
}

fn map_cols(z: &Matrix, f: impl Fn(&[f64]) -> Vec<f64>) -> Matrix {
    let mut out = Matrix::zeros(z.rows, z.cols);
    for i in 0..z.rows {
        let y = f(z.row(i));
        for j in 0..z.cols {
            out.set(i, j, y[j]);
        }
    }
    out
}

#[test]
fn identity_scores_are_perfect() {
    let z = sample(2000, 4);
    let s = evaluate(&z, &z).unwrap();
    assert!((s.strong_mcc - 1.0).abs() < 1e-12);
    assert!((s.mcc - 1.0).abs() < 1e-12);
    assert!((s.mcc_spearman - 1.0).abs() < 1e-12);
    assert!((s.affine_r2 - 1.0).abs() < 1e-12);
    assert!(s.identity_rmse < 1e-15);
    assert_eq!((s.n, s.dim), (2000, 4));
}

#[test]
fn permutation_is_invisible_to_mcc_but_not_to_strong_mcc() {
    let z = sample(2000, 3);
    let zhat = map_cols(&z, |r| vec![r[2], r[0], r[1]]);
    let s = evaluate(&z, &zhat).unwrap();
    assert!((s.mcc - 1.0).abs() < 1e-12);
    assert!((s.affine_r2 - 1.0).abs() < 1e-12);
    assert!(s.strong_mcc.abs() < 0.1, "independent coordinates: near 0, got {}", s.strong_mcc);
    assert!(s.identity_rmse > 1.0);
}

#[test]
fn sign_flip_gives_negative_strong_mcc() {
    let z = sample(2000, 2);
    let zhat = map_cols(&z, |r| vec![-r[0], r[1]]);
    let s = evaluate(&z, &zhat).unwrap();
    assert!((s.strong_mcc - 0.0).abs() < 1e-12, "(−1 + 1)/2 = 0, got {}", s.strong_mcc);
    assert!((s.mcc - 1.0).abs() < 1e-12);
}

#[test]
fn rotation_keeps_affine_r2_but_breaks_matching() {
    let z = sample(5000, 2);
    let (c, sn) = (std::f64::consts::FRAC_PI_4.cos(), std::f64::consts::FRAC_PI_4.sin());
    let zhat = map_cols(&z, |r| vec![c * r[0] - sn * r[1], sn * r[0] + c * r[1]]);
    let s = evaluate(&z, &zhat).unwrap();
    assert!((s.affine_r2 - 1.0).abs() < 1e-10);
    // Each rotated coordinate correlates 1/√2 with each original one.
    assert!((s.mcc - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.03, "mcc {}", s.mcc);
}

#[test]
fn componentwise_cube_is_perfect_for_spearman_only() {
    let z = sample(5000, 3);
    let zhat = map_cols(&z, |r| r.iter().map(|v| v.powi(3)).collect());
    let s = evaluate(&z, &zhat).unwrap();
    assert!((s.mcc_spearman - 1.0).abs() < 1e-12);
    // corr(z, z³) = 3/√15 for a standard normal.
    let expected = 3.0 / 15f64.sqrt();
    assert!((s.mcc - expected).abs() < 0.03, "mcc {} vs {}", s.mcc, expected);
    assert!(s.affine_r2 < 0.9);
}

#[test]
fn shape_mismatch_and_constant_columns_are_errors() {
    let z = sample(100, 2);
    assert!(evaluate(&z, &sample(100, 3)).is_err());
    let mut c = z.clone();
    for i in 0..c.rows {
        c.set(i, 1, 5.0);
    }
    let e = evaluate(&z, &c).unwrap_err().to_string();
    assert!(e.contains("column 2 is constant"), "{e}");
}

#[test]
fn ranks_average_ties() {
    let m = Matrix::new(4, 1, vec![3.0, 1.0, 3.0, 2.0]);
    assert_eq!(ranks(&m).data, vec![2.5, 0.0, 2.5, 1.0]);
}

/// Scale-invariant metrics are scale-safe (#12, defect 9): codes × 1e200 used to give mcc 0.0,
/// × 1e50 a drifting affine R², × 1e-300 "column is constant".
#[test]
fn scale_invariant_metrics_do_not_depend_on_the_codes_scale() {
    let z = crate::simulate::standard_normal(2000, 3, &mut crate::train::stream(3, 0));
    let noise = crate::simulate::standard_normal(2000, 3, &mut crate::train::stream(3, 1));
    let zhat = Matrix::from_fn(2000, 3, |i, j| z.get(i, j) + 0.3 * z.get(i, (j + 1) % 3) + 0.5 * noise.get(i, j));
    let base = evaluate(&z, &zhat).unwrap();
    for scale in [1e200, 1e50, 1e-300] {
        let s = evaluate(&z, &Matrix::from_fn(2000, 3, |i, j| zhat.get(i, j) * scale)).unwrap();
        for (a, b, what) in [(s.strong_mcc, base.strong_mcc, "strong_mcc"), (s.mcc, base.mcc, "mcc"), (s.mcc_spearman, base.mcc_spearman, "mcc_spearman"), (s.affine_r2, base.affine_r2, "affine_r2")] {
            assert!((a - b).abs() < 1e-9, "× {scale:e}: {what} {a} vs {b}");
        }
        // identity_rmse compares values: about |scale| × rms(ẑ) once the scale dominates, and finite.
        assert!(s.identity_rmse.is_finite() && s.identity_rmse > 0.0, "× {scale:e}: identity_rmse {}", s.identity_rmse);
    }
    let big = evaluate(&z, &Matrix::from_fn(2000, 3, |i, j| zhat.get(i, j) * 1e200)).unwrap();
    let rms = (zhat.data.iter().map(|v| v * v).sum::<f64>() / zhat.data.len() as f64).sqrt();
    assert!((big.identity_rmse / 1e200 - rms).abs() < 1e-9 * rms);
}
