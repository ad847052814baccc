//! A linear first guess of the code, to start the iVAE family's networks in the right basin.
//!
//! Random initialisation leaves the ELBO to find the identifiable solution from a code that is a
//! rotation of it, and the prior's pull towards the right rotation is weak: single fits of the
//! plain iVAE stop at mixtures of the sources (MCC 0.6–0.7 on the official recipe), frozen-anchor
//! fits at reflections. Two linear facts give a far better start:
//! - non-stationary ICA: if y = A z with independent components whose variances change across
//!   environments, every per-environment covariance A diag(v_e) Aᵀ is diagonalised by A⁻¹, so a
//!   joint diagonalisation of the whitened covariances recovers A up to permutation, scale and
//!   sign (Pham & Cardoso 2001; the linear case of TCL / iVAE);
//! - anchors with affinely independent means (Thm 4.5, Prop. D.9) fix the affine map from any
//!   linear code to z by least squares on the environment means.
//!
//! Exact for linear mixing; for nonlinear mixing a start the ELBO then refines.
use crate::matrix::Matrix;
use crate::priors::EnvPrior;
use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Mean and covariance of the rows of y in each of `m` environments (`env[i]` in 0..m).
fn env_moments(y: &Matrix, env: &[usize], m: usize) -> (Vec<DVector<f64>>, Vec<DMatrix<f64>>) {
    let d = y.cols;
    let mut count = vec![0usize; m];
    let mut mean = vec![DVector::zeros(d); m];
    for (i, &e) in env.iter().enumerate() {
        count[e] += 1;
        mean[e] += DVector::from_row_slice(y.row(i));
    }
    for e in 0..m {
        mean[e] /= count[e].max(1) as f64;
    }
    let mut cov = vec![DMatrix::zeros(d, d); m];
    for (i, &e) in env.iter().enumerate() {
        let r = DVector::from_row_slice(y.row(i)) - &mean[e];
        cov[e] += &r * r.transpose();
    }
    for e in 0..m {
        cov[e] /= count[e].saturating_sub(1).max(1) as f64;
    }
    (mean, cov)
}

/// PCA whitening onto the top-d principal subspace: y = (x − x̄) E_d Λ_d^{−1/2}.
pub fn whiten(x: &Matrix, d: usize) -> Matrix {
    let n = x.rows as f64;
    let xm = x.to_nalgebra();
    let mean = xm.row_mean();
    let centred = DMatrix::from_fn(x.rows, x.cols, |i, j| xm[(i, j)] - mean[j]);
    let cov = centred.transpose() * &centred / (n - 1.0).max(1.0);
    let eig = SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..x.cols).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let proj = DMatrix::from_fn(x.cols, d, |i, k| {
        let j = order[k];
        eig.eigenvectors[(i, j)] / eig.eigenvalues[j].max(1e-12).sqrt()
    });
    Matrix::from_nalgebra(&(centred * proj))
}

/// The orthogonal V that makes every Vᵀ M_k V as diagonal as possible (sum of squared
/// off-diagonal entries), by Jacobi rotations with the closed-form angle of Cardoso & Souloumiac
/// (1996). The matrices must be symmetric.
pub fn joint_diagonalize(ms: &[DMatrix<f64>]) -> DMatrix<f64> {
    let d = ms.first().map_or(0, |m| m.nrows());
    let mut ms: Vec<DMatrix<f64>> = ms.to_vec();
    let mut v = DMatrix::identity(d, d);
    for _sweep in 0..100 {
        let mut rotated = false;
        for p in 0..d {
            for q in p + 1..d {
                // G = Σ_k g_k g_kᵀ with g_k = (M_pp − M_qq, M_pq + M_qp); the angle is that of its
                // leading eigenvector.
                let (mut g11, mut g12, mut g22) = (0.0, 0.0, 0.0);
                for m in &ms {
                    let (a, b) = (m[(p, p)] - m[(q, q)], m[(p, q)] + m[(q, p)]);
                    g11 += a * a;
                    g12 += a * b;
                    g22 += b * b;
                }
                let (ton, toff) = (g11 - g22, 2.0 * g12);
                let theta = 0.5 * toff.atan2(ton + (ton * ton + toff * toff).sqrt());
                let (c, s) = (theta.cos(), theta.sin());
                if s.abs() < 1e-12 {
                    continue;
                }
                rotated = true;
                let mut r = DMatrix::identity(d, d);
                r[(p, p)] = c;
                r[(q, q)] = c;
                r[(p, q)] = -s;
                r[(q, p)] = s;
                for m in ms.iter_mut() {
                    *m = r.transpose() * &*m * &r;
                }
                v *= &r;
            }
        }
        if !rotated {
            break;
        }
    }
    v
}

/// The least-squares affine map sending the anchor environments' mean codes to the anchors'
/// means, applied to every row; `None` when the anchor means do not span d dimensions affinely
/// (variance-only or degenerate anchors: the means cannot fix the map).
fn align_to_anchor_means(y: &Matrix, means: &[DVector<f64>], anchors: &[(usize, &EnvPrior)]) -> Option<Matrix> {
    let d = y.cols;
    let k = anchors.len();
    if k < d + 1 {
        return None;
    }
    // Affine rank of the anchor means: rank of their contrasts to the first.
    let contrasts = DMatrix::from_fn(k - 1, d, |i, j| anchors[i + 1].1.mean[j] - anchors[0].1.mean[j]);
    let sv = contrasts.singular_values();
    if sv.min() <= 1e-6 * sv.max().max(1e-300) || sv.len() < d {
        return None;
    }
    let design = DMatrix::from_fn(k, d + 1, |i, j| if j < d { means[anchors[i].0][j] } else { 1.0 });
    let target = DMatrix::from_fn(k, d, |i, j| anchors[i].1.mean[j]);
    let b = design.svd(true, true).solve(&target, 1e-12).ok()?;
    Some(Matrix::from_fn(y.rows, d, |i, j| (0..d).map(|l| y.get(i, l) * b[(l, j)]).sum::<f64>() + b[(d, j)]))
}

/// A linear code of x (n × D, standardised) in d dimensions: whitened principal components,
/// jointly diagonalised over the environments' covariances, then aligned to the anchors' means
/// when they fix an affine map (anchors given as (environment index, prior)). Without such
/// anchors each coordinate has unit variance (its order and sign are arbitrary, as the plain
/// iVAE's indeterminacy allows).
pub fn linear_code(x: &Matrix, env: &[usize], n_envs: usize, d: usize, anchors: &[(usize, &EnvPrior)]) -> Matrix {
    let y = whiten(x, d);
    let (means, covs) = env_moments(&y, env, n_envs.max(1));
    if let Some(code) = align_to_anchor_means(&y, &means, anchors) {
        return code;
    }
    let v = joint_diagonalize(&covs);
    Matrix::from_nalgebra(&(y.to_nalgebra() * v))
}

/// Per-environment mean and variance of a code (the plain iVAE's prior tables at the start).
pub fn env_mean_var(code: &Matrix, env: &[usize], n_envs: usize) -> (Matrix, Matrix) {
    let (means, covs) = env_moments(code, env, n_envs);
    let d = code.cols;
    (Matrix::from_fn(n_envs, d, |e, j| means[e][j]), Matrix::from_fn(n_envs, d, |e, j| covs[e][(j, j)].max(1e-6)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::stream;
    use rand::Rng;

    /// y = A s with independent sources whose variances change across 6 environments: the linear
    /// code recovers s up to permutation, sign and scale.
    #[test]
    fn joint_diagonalisation_recovers_nonstationary_linear_sources() {
        let (d, m, per) = (3, 6, 2000);
        let mut rng = stream(7, 0);
        let scales: Vec<Vec<f64>> = (0..m).map(|_| (0..d).map(|_| rng.random_range(0.3..3.0)).collect()).collect();
        let s = crate::simulate::standard_normal(m * per, d, &mut rng);
        let s = Matrix::from_fn(m * per, d, |i, j| s.get(i, j) * scales[i / per][j]);
        let a = Matrix::from_fn(d, d, |_, _| rng.random_range(-1.0..1.0));
        let x = Matrix::from_nalgebra(&(s.to_nalgebra() * a.to_nalgebra().transpose()));
        let env: Vec<usize> = (0..m * per).map(|i| i / per).collect();
        let code = linear_code(&x, &env, m, d, &[]);
        let mcc = crate::metrics::evaluate(&s, &code).unwrap().mcc;
        assert!(mcc > 0.99, "mcc {mcc}");
    }
}
