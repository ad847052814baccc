//! Exact transport maps between Gaussians (THEORY §3), all affine: T(x) = m_b + M (x − m_a).
//! - Knothe–Rosenblatt: M = L_b L_a⁻¹ with L the lower Cholesky factors (the unique
//!   triangular map with positive diagonal pushing N(m_a, Σ_a) to N(m_b, Σ_b)).
//! - Brenier (optimal transport for |x − y|²): the symmetric positive definite
//!   M = Σ_a^{-1/2} (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2} Σ_a^{-1/2}.
//! - OT for the weighted cost c_t(x, y) = Σ_i t^{i−1} (x_i − y_i)² (§5.2): with D_t = diag(t^{i−1}),
//!   y = T(x) is optimal for c_t iff D_t^{1/2} T D_t^{−1/2} is the Brenier map between the
//!   D_t^{1/2}-scaled Gaussians, so M_t = D_t^{−1/2} Brenier(D_t^{1/2} Σ_a D_t^{1/2}, D_t^{1/2} Σ_b D_t^{1/2}) D_t^{1/2};
//!   M_t → the KR matrix as t → 0 (Carlier, Galichon, Santambrogio 2010).
use crate::error::{Error, Result};
use nalgebra::{DMatrix, DVector};

/// An affine map x ↦ shift + matrix (x − center).
#[derive(Clone, Debug, PartialEq)]
pub struct AffineMap {
    pub center: DVector<f64>,
    pub matrix: DMatrix<f64>,
    pub shift: DVector<f64>,
}

impl AffineMap {
    pub fn apply(&self, x: &DVector<f64>) -> DVector<f64> {
        &self.shift + &self.matrix * (x - &self.center)
    }
    /// Covariance of the pushforward of N(·, Σ): M Σ Mᵀ.
    pub fn push_covariance(&self, sigma: &DMatrix<f64>) -> DMatrix<f64> {
        &self.matrix * sigma * self.matrix.transpose()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Gaussian {
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
}

impl Gaussian {
    pub fn new(mean: DVector<f64>, cov: DMatrix<f64>) -> Result<Gaussian> {
        let d = mean.len();
        if cov.nrows() != d || cov.ncols() != d {
            return Err(Error::usage(format!("covariance must be {d} × {d}")));
        }
        if (&cov - cov.transpose()).abs().max() > 1e-10 * cov.abs().max().max(1.0) || cov.clone().cholesky().is_none() {
            return Err(Error::usage("covariance must be symmetric positive definite"));
        }
        Ok(Gaussian { mean, cov })
    }
    pub fn dim(&self) -> usize {
        self.mean.len()
    }
    fn cholesky(&self) -> DMatrix<f64> {
        self.cov.clone().cholesky().expect("checked positive definite").l()
    }
}

/// Symmetric PSD square root (and inverse square root) by eigen-decomposition.
pub fn sqrtm(s: &DMatrix<f64>) -> DMatrix<f64> {
    spectral(s, f64::sqrt)
}
pub fn inv_sqrtm(s: &DMatrix<f64>) -> DMatrix<f64> {
    spectral(s, |v| 1.0 / v.sqrt())
}
fn spectral(s: &DMatrix<f64>, f: impl Fn(f64) -> f64) -> DMatrix<f64> {
    let sym = (s + s.transpose()) * 0.5;
    let e = sym.symmetric_eigen();
    let vals = DVector::from_iterator(e.eigenvalues.len(), e.eigenvalues.iter().map(|v| f(v.max(0.0))));
    &e.eigenvectors * DMatrix::from_diagonal(&vals) * e.eigenvectors.transpose()
}

/// Knothe–Rosenblatt map from a to b: M = L_b L_a⁻¹ (lower-triangular, positive diagonal).
///
/// ```
/// use nalgebra::{DMatrix, DVector};
/// use strongid::ot::gaussian::{kr_map, Gaussian};
/// let a = Gaussian { mean: DVector::zeros(2), cov: DMatrix::identity(2, 2) };
/// let b = Gaussian { mean: DVector::from_vec(vec![1.0, -1.0]), cov: DMatrix::from_row_slice(2, 2, &[4.0, 1.0, 1.0, 2.0]) };
/// let m = kr_map(&a, &b);
/// assert!(m.matrix[(0, 1)].abs() < 1e-12, "triangular");
/// assert!((m.push_covariance(&a.cov) - &b.cov).abs().max() < 1e-12, "pushes a forward to b");
/// ```
pub fn kr_map(a: &Gaussian, b: &Gaussian) -> AffineMap {
    let la_inv = a.cholesky().try_inverse().expect("Cholesky factor is invertible");
    AffineMap { center: a.mean.clone(), matrix: b.cholesky() * la_inv, shift: b.mean.clone() }
}

/// Brenier (quadratic-cost optimal transport) map from a to b.
pub fn brenier_map(a: &Gaussian, b: &Gaussian) -> AffineMap {
    let ra = sqrtm(&a.cov);
    let ra_inv = inv_sqrtm(&a.cov);
    let m = &ra_inv * sqrtm(&(&ra * &b.cov * &ra)) * &ra_inv;
    AffineMap { center: a.mean.clone(), matrix: (&m + m.transpose()) * 0.5, shift: b.mean.clone() }
}

/// The weights λ_i = t^{i−1} of the cost c_t.
pub fn cost_weights(d: usize, t: f64) -> DVector<f64> {
    DVector::from_iterator(d, (0..d).map(|i| t.powi(i as i32)))
}

/// Optimal map for the weighted quadratic cost c_t, in closed form.
pub fn weighted_ot_map(a: &Gaussian, b: &Gaussian, t: f64) -> AffineMap {
    let w = cost_weights(a.dim(), t);
    let half = DMatrix::from_diagonal(&w.map(f64::sqrt));
    let half_inv = DMatrix::from_diagonal(&w.map(|v| 1.0 / v.sqrt()));
    let scaled = |g: &Gaussian| Gaussian { mean: &half * &g.mean, cov: &half * &g.cov * &half };
    let inner = brenier_map(&scaled(a), &scaled(b));
    AffineMap { center: a.mean.clone(), matrix: &half_inv * inner.matrix * &half, shift: b.mean.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::stream;
    use rand::Rng;

    fn random_gaussian(d: usize, seed: u64) -> Gaussian {
        let mut rng = stream(seed, 0);
        let a = DMatrix::from_fn(d, d, |_, _| rng.random_range(-1.0..1.0));
        let cov = &a * a.transpose() + DMatrix::identity(d, d) * 0.3;
        Gaussian::new(DVector::from_fn(d, |_, _| rng.random_range(-2.0..2.0)), cov).unwrap()
    }

    #[test]
    fn kr_pushes_forward_is_triangular_and_is_identity_on_itself() {
        for d in 1..=5 {
            let (a, b) = (random_gaussian(d, d as u64), random_gaussian(d, 100 + d as u64));
            let kr = kr_map(&a, &b);
            assert!((kr.push_covariance(&a.cov) - &b.cov).abs().max() < 1e-10);
            assert!((kr.apply(&a.mean) - &b.mean).abs().max() < 1e-12);
            for i in 0..d {
                assert!(kr.matrix[(i, i)] > 0.0);
                for j in i + 1..d {
                    assert_eq!(kr.matrix[(i, j)], 0.0, "KR must be lower-triangular");
                }
            }
            let own = kr_map(&a, &a);
            assert!((own.matrix - DMatrix::identity(d, d)).abs().max() < 1e-12, "KR of a measure to itself is the identity");
        }
    }

    #[test]
    fn brenier_pushes_forward_and_is_symmetric_positive_definite() {
        for d in 1..=5 {
            let (a, b) = (random_gaussian(d, d as u64), random_gaussian(d, 200 + d as u64));
            let ot = brenier_map(&a, &b);
            assert!((ot.push_covariance(&a.cov) - &b.cov).abs().max() < 1e-9);
            assert!((&ot.matrix - ot.matrix.transpose()).abs().max() < 1e-12);
            assert!(ot.matrix.clone().symmetric_eigen().eigenvalues.iter().all(|v| *v > 0.0));
            assert!((brenier_map(&a, &a).matrix - DMatrix::identity(d, d)).abs().max() < 1e-9);
        }
    }

    #[test]
    fn weighted_ot_is_brenier_at_t_1_and_tends_to_kr() {
        let (a, b) = (random_gaussian(3, 7), random_gaussian(3, 8));
        assert!((weighted_ot_map(&a, &b, 1.0).matrix - brenier_map(&a, &b).matrix).abs().max() < 1e-12);
        let kr = kr_map(&a, &b).matrix;
        let mut prev = f64::INFINITY;
        for t in [1.0, 0.3, 0.1, 0.03, 0.01, 0.001, 1e-4] {
            let m = weighted_ot_map(&a, &b, t);
            assert!((m.push_covariance(&a.cov) - &b.cov).abs().max() < 1e-8, "t = {t}: not a pushforward");
            let err = (&m.matrix - &kr).abs().max();
            assert!(err < prev, "t = {t}: error {err} did not decrease from {prev}");
            prev = err;
        }
        assert!(prev < 1e-3, "at t = 1e-4 the OT map is within {prev} of KR");
    }
}
