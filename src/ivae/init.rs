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
//! - anchors with affinely independent means (Thm 4.5, Prop. D.9) fix the map from any linear
//!   code to z: their variances fix its scale, their means its rotation (Procrustes).
//!
//! Exact for linear mixing; for nonlinear mixing a start the ELBO then refines.
use crate::matrix::Matrix;
use crate::priors::EnvPrior;
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

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

/// An affine map y = (x − shift) · matrix, fitted on some rows and applied to others.
struct Affine {
    shift: DVector<f64>,
    matrix: DMatrix<f64>,
}

impl Affine {
    fn apply(&self, x: &Matrix) -> Matrix {
        Matrix::from_nalgebra(&(DMatrix::from_fn(x.rows, x.cols, |i, j| x.get(i, j) - self.shift[j]) * &self.matrix))
    }
}

/// PCA whitening onto the top-d principal subspace: y = (x − x̄) E_d Λ_d^{−1/2}.
fn whitening(x: &Matrix, d: usize) -> Affine {
    let n = x.rows as f64;
    let xm = x.to_nalgebra();
    let mean = xm.row_mean().transpose();
    let centred = DMatrix::from_fn(x.rows, x.cols, |i, j| xm[(i, j)] - mean[j]);
    let cov = centred.transpose() * &centred / (n - 1.0).max(1.0);
    let eig = SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..x.cols).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let matrix = DMatrix::from_fn(x.cols, d, |i, k| {
        let j = order[k];
        eig.eigenvectors[(i, j)] / eig.eigenvalues[j].max(1e-12).sqrt()
    });
    Affine { shift: mean, matrix }
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

/// Whether the anchors' means span d dimensions affinely (rank of their contrasts to the
/// first): only then do they fix the orthogonal part of the map (Thm 4.5, mean families).
fn means_span(anchors: &[(usize, &EnvPrior)], d: usize) -> bool {
    let k = anchors.len();
    if k < d + 1 {
        return false;
    }
    let contrasts = DMatrix::from_fn(k - 1, d, |i, j| anchors[i + 1].1.mean[j] - anchors[0].1.mean[j]);
    let sv = contrasts.singular_values();
    sv.len() >= d && sv.min() > 1e-6 * sv.max().max(1e-300)
}

/// The affine map z = S^{1/2} R C^{−1/2} (y − ȳ_pool) + t from a whitened code y to the anchors'
/// latent space, where C is y's pooled within-environment covariance over the anchor
/// environments and S the anchors' pooled variance (so the code's within-environment spread is
/// the anchors'), R orthogonal and t chosen by weighted Procrustes on the environment means. Only
/// d(d−1)/2 + d parameters are fitted to the means (a rotation or reflection and a shift), not
/// d(d+1) as in an unconstrained least-squares map, which is exactly determined by d + 1 anchors
/// and fails when their means are nearly collinear.
fn align_to_anchors(means: &[DVector<f64>], covs: &[DMatrix<f64>], counts: &[usize], anchors: &[(usize, &EnvPrior)]) -> Option<DMatrix<f64>> {
    let d = means.first()?.len();
    let w: Vec<f64> = anchors.iter().map(|(e, _)| counts[*e] as f64).collect();
    let total: f64 = w.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mut c = DMatrix::zeros(d, d);
    let mut s = DVector::zeros(d);
    for ((e, a), w) in anchors.iter().zip(&w) {
        c += &covs[*e] * (*w / total);
        s += DVector::from_column_slice(&a.var) * (*w / total);
    }
    let eig = SymmetricEigen::new(c);
    if eig.eigenvalues.min() <= 1e-12 {
        return None;
    }
    let c_inv_sqrt = &eig.eigenvectors * DMatrix::from_diagonal(&eig.eigenvalues.map(|v| 1.0 / v.sqrt())) * eig.eigenvectors.transpose();
    // Within-whitened means m_e and scaled targets a_e = S^{−1/2} μ_e; centre both (weights n_e).
    let m: Vec<DVector<f64>> = anchors.iter().map(|(e, _)| &c_inv_sqrt * &means[*e]).collect();
    let a: Vec<DVector<f64>> = anchors.iter().map(|(_, p)| DVector::from_fn(d, |j, _| p.mean[j] / s[j].sqrt())).collect();
    let m_bar = m.iter().zip(&w).fold(DVector::zeros(d), |acc, (v, w)| acc + v * (*w / total));
    let a_bar = a.iter().zip(&w).fold(DVector::zeros(d), |acc, (v, w)| acc + v * (*w / total));
    let mut h = DMatrix::zeros(d, d);
    for ((mi, ai), w) in m.iter().zip(&a).zip(&w) {
        h += (mi - &m_bar) * (ai - &a_bar).transpose() * *w;
    }
    let svd = h.svd(true, true);
    let r = svd.v_t?.transpose() * svd.u?.transpose(); // argmax tr(R H) over orthogonal R
    // z = S^{1/2} (R C^{−1/2} (y − m̄_raw) + ā), as a (d + 1) × d matrix acting on [y, 1].
    let s_sqrt = DMatrix::from_diagonal(&s.map(f64::sqrt));
    let lin = &s_sqrt * &r * &c_inv_sqrt; // z = lin y + offset
    let offset = &s_sqrt * (&a_bar - &r * &m_bar);
    let mut out = DMatrix::zeros(d + 1, d);
    out.view_mut((0, 0), (d, d)).copy_from(&lin.transpose());
    out.row_mut(d).copy_from(&offset.transpose());
    Some(out)
}

/// A linear code of x (n × D, standardised) in d dimensions: whitened principal components,
/// then aligned to the anchors (`align_to_anchors`) when their means span d dimensions, else
/// jointly diagonalised over the environments' covariances (anchors given as (environment
/// index, prior)). Without such anchors each coordinate has unit variance (its order and sign
/// are arbitrary, as the plain iVAE's indeterminacy allows). With `bootstrap`, the map is fitted
/// on a resample of the rows (with replacement) and applied to all of them: restarts then start
/// from codes that differ by the moments' sampling error, so an ill-determined start shows up as
/// disagreeing restarts instead of being repeated identically.
pub fn linear_code(x: &Matrix, env: &[usize], n_envs: usize, d: usize, anchors: &[(usize, &EnvPrior)], bootstrap: Option<&mut ChaCha8Rng>) -> Matrix {
    let (x_fit, env_fit) = match bootstrap {
        Some(rng) => {
            let rows: Vec<usize> = (0..x.rows).map(|_| rng.random_range(0..x.rows)).collect();
            (x.select_rows(&rows), rows.iter().map(|&i| env[i]).collect())
        }
        None => (x.clone(), env.to_vec()),
    };
    let white = whitening(&x_fit, d);
    let y_fit = white.apply(&x_fit);
    let y = white.apply(x);
    let m = n_envs.max(1);
    let (means, covs) = env_moments(&y_fit, &env_fit, m);
    let mut counts = vec![0usize; m];
    for &e in &env_fit {
        counts[e] += 1;
    }
    if means_span(anchors, d) {
        if let Some(map) = align_to_anchors(&means, &covs, &counts, anchors) {
            let y1 = DMatrix::from_fn(y.rows, d + 1, |i, j| if j < d { y.get(i, j) } else { 1.0 });
            return Matrix::from_nalgebra(&(y1 * map));
        }
    }
    let v = joint_diagonalize(&covs);
    Matrix::from_nalgebra(&(y.to_nalgebra() * v))
}

/// How firmly the anchors pin the linear code down at this sample size: the fraction of
/// `resamples` bootstrap resamples whose code agrees with the full data's at the identity
/// (strong_mcc ≥ `threshold`). Thm 4.5 holds for any affinely independent anchors, but with
/// nearly collinear means the reflection across their line changes the priors so little that the
/// data cannot tell the two codes apart; resamples then disagree. `None` when the anchors' means
/// do not fix the map (the joint-diagonalisation start has no orientation to test).
pub fn anchor_stability(x: &Matrix, env: &[usize], n_envs: usize, d: usize, anchors: &[(usize, &EnvPrior)], resamples: usize, threshold: f64, rng: &mut ChaCha8Rng) -> Option<(usize, usize)> {
    if !means_span(anchors, d) {
        return None;
    }
    let full = linear_code(x, env, n_envs, d, anchors, None);
    let agreeing = (0..resamples)
        .filter(|_| {
            let code = linear_code(x, env, n_envs, d, anchors, Some(&mut *rng));
            crate::metrics::strong_mcc(&full, &code) >= threshold
        })
        .count();
    Some((agreeing, resamples))
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
        let code = linear_code(&x, &env, m, d, &[], None);
        let mcc = crate::metrics::evaluate(&s, &code).unwrap().mcc;
        assert!(mcc > 0.99, "mcc {mcc}");
    }
}
