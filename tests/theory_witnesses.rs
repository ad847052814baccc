//! A witness for each non-identity set of the catalogue: a member A ≠ id of A(M) applied to a
//! fitted or simulated parameter leaves the likelihood unchanged while the codes change.
use nalgebra::{DMatrix, DVector};
use strongid::fa::FactorAnalysis;
use strongid::simulate::standard_normal;
use strongid::train::stream;
use strongid::{Matrix, metrics};

fn rotation(d: usize, angle: f64) -> DMatrix<f64> {
    let mut r = DMatrix::identity(d, d);
    r[(0, 0)] = angle.cos();
    r[(0, 1)] = -angle.sin();
    r[(1, 0)] = angle.sin();
    r[(1, 1)] = angle.cos();
    r
}

#[test]
fn a_rotation_leaves_the_factor_analysis_likelihood_unchanged() {
    let truth = FactorAnalysis { triangular: false, mean: vec![0.0; 5], loading: standard_normal(5, 2, &mut stream(1, 0)), noise_var: vec![0.2; 5] };
    let x = truth.sample(5000, &mut stream(1, 1));
    let (fit, _) = FactorAnalysis::fit(&x, 2, false, 2000, 1e-10, &mut stream(2, 0)).unwrap();
    let rotated = FactorAnalysis { loading: Matrix::from_nalgebra(&(fit.loading.to_nalgebra() * rotation(2, 0.7))), ..fit.clone() };
    let (a, b) = (fit.log_prob(&x), rotated.log_prob(&x));
    let worst = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-6, "log-likelihood changed by {worst}");
    assert!(fit.encode(&x).max_abs_diff(&rotated.encode(&x)) > 0.1, "the codes should differ");
}

#[test]
fn a_sign_flip_leaves_a_variance_only_prior_unchanged() {
    // The variance-only iVAE prior N(0, diag v(u)) of every environment.
    let var = [vec![0.5, 2.0, 1.3], vec![3.0, 0.7, 1.1]];
    let z = standard_normal(200, 3, &mut stream(3, 0));
    let log_p = |z: &[f64], v: &[f64]| -> f64 { z.iter().zip(v).map(|(z, v)| -0.5 * (z * z / v + (2.0 * std::f64::consts::PI * v).ln())).sum() };
    for v in &var {
        for i in 0..z.rows {
            let flipped: Vec<f64> = z.row(i).iter().enumerate().map(|(k, x)| if k == 1 { -x } else { *x }).collect();
            assert!((log_p(z.row(i), v) - log_p(&flipped, v)).abs() < 1e-12);
        }
    }
    // With means (mean-variance priors) the flip changes the density: the witness is specific.
    let mean = [0.0, 1.5, 0.0];
    let shifted: Vec<f64> = z.row(0).iter().zip(mean).map(|(a, m)| a - m).collect();
    let flipped: Vec<f64> = z.row(0).iter().zip(mean).enumerate().map(|(k, (a, m))| if k == 1 { -a - m } else { a - m }).collect();
    assert!((log_p(&shifted, &var[0]) - log_p(&flipped, &var[0])).abs() > 1e-3);
}

/// Linear ICA with Laplace sources: log p(x) = Σ_k log p_s((B x)_k) + log |det B|.
fn ica_log_lik(b: &DMatrix<f64>, x: &Matrix) -> f64 {
    let log_det = b.determinant().abs().ln();
    (0..x.rows)
        .map(|i| {
            let s = b * DVector::from_column_slice(x.row(i));
            s.iter().map(|v| -v.abs() - std::f64::consts::LN_2).sum::<f64>() + log_det
        })
        .sum::<f64>()
        / x.rows as f64
}

#[test]
fn a_permutation_and_scaling_leave_the_linear_ica_likelihood_unchanged() {
    let mut rng = stream(4, 0);
    use rand::Rng;
    let s = Matrix::from_fn(3000, 3, |_, _| {
        let u: f64 = rng.random_range(-0.5..0.5);
        -u.signum() * (1.0 - 2.0 * u.abs()).ln()
    });
    let mixing = DMatrix::from_row_slice(3, 3, &[1.0, 0.5, -0.3, 0.2, 1.2, 0.4, -0.6, 0.1, 0.9]);
    let x = Matrix::from_fn(3000, 3, |i, j| (0..3).map(|k| mixing[(j, k)] * s.get(i, k)).sum());
    let unmix = mixing.try_inverse().unwrap();
    let perm = DMatrix::from_row_slice(3, 3, &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let signs = DMatrix::from_diagonal(&DVector::from_vec(vec![-1.0, 1.0, -1.0]));
    let (a, b) = (ica_log_lik(&unmix, &x), ica_log_lik(&(&signs * &perm * &unmix), &x));
    assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    // A rotation is not an indeterminacy of ICA: it lowers the likelihood of the true unmixing.
    assert!(ica_log_lik(&(rotation(3, 0.6) * &unmix), &x) < a - 0.01);
}

#[test]
fn a_rotation_of_a_fixed_gaussian_prior_flow_code_keeps_its_likelihood() {
    // For any flow with prior N(0, I), z ↦ R z (det R = 1) gives an equally likely parameter.
    let (ds, _) = strongid::simulate::tmi::simulate(2, 3000, 2).unwrap();
    let cfg = strongid::flows::FlowConfig { dim: 2, layers: 2, hidden: 16, hidden_layers: 1, transform: strongid::transforms::TransformKind::Affine, triangular: false, linear: false };
    let train = strongid::train::TrainConfig { epochs: 5, ..Default::default() };
    let (flow, _) = strongid::flows::fit::fit(cfg, &ds.x, &train, false).unwrap();
    let z = flow.encode(&ds.x);
    let r = rotation(2, 1.1);
    let zr = Matrix::from_fn(z.rows, 2, |i, j| (0..2).map(|k| r[(j, k)] * z.get(i, k)).sum());
    let log_n = |m: &Matrix| (0..m.rows).map(|i| m.row(i).iter().map(|v| -0.5 * v * v).sum::<f64>()).collect::<Vec<_>>();
    let worst = log_n(&z).iter().zip(log_n(&zr)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-9);
    assert!(metrics::strong_mcc(&z, &zr) < 0.7, "the rotated code differs");
}
