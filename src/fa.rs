//! Linear Gaussian factor analysis x = μ + W z + ε, z ~ N(0, I_d), ε ~ N(0, diag ψ), fitted by
//! EM (Rubin & Thayer 1982) in f64. The linear face of the theory: with a full loading matrix
//! the likelihood is invariant under W → W R for every rotation R (A(M) = O(d), weakly
//! identifiable); `fa-tri` constrains W to be lower-triangular with a positive diagonal, which
//! leaves only the identity (the linear case of Thm 5.1's triangular generators).
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use nalgebra::{DMatrix, DVector};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FactorAnalysis {
    pub triangular: bool,
    pub mean: Vec<f64>,
    /// Loadings, obs_dim × latent_dim, row-major.
    pub loading: Matrix,
    /// Noise variances ψ, one per observed coordinate.
    pub noise_var: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmReport {
    pub iterations: usize,
    pub converged: bool,
    /// Mean log-likelihood per row on the data EM was run on.
    pub train_log_lik: f64,
}

fn covariance(x: &Matrix, mean: &[f64]) -> DMatrix<f64> {
    let c = DMatrix::from_fn(x.rows, x.cols, |i, j| x.get(i, j) - mean[j]);
    c.transpose() * &c / x.rows as f64
}

/// A uniformly random orthogonal matrix (QR of a Gaussian matrix, signs fixed so the
/// distribution is Haar).
pub(crate) fn random_rotation(d: usize, rng: &mut impl Rng) -> DMatrix<f64> {
    let g = DMatrix::from_fn(d, d, |_, _| StandardNormal.sample(rng));
    let qr = g.qr();
    let (mut q, r) = (qr.q(), qr.r());
    for j in 0..d {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    q
}

impl FactorAnalysis {
    /// Check parameters read from a file: shapes that agree (d × k loading, k ≤ d, d means and
    /// noise variances), finite values, positive noise variances.
    pub fn check(&self) -> std::result::Result<(), String> {
        let (d, k) = (self.loading.rows, self.loading.cols);
        if d == 0 || k == 0 || k > d || self.mean.len() != d || self.noise_var.len() != d {
            return Err(format!("a {d} × {k} loading with {} means and {} noise variances", self.mean.len(), self.noise_var.len()));
        }
        if self.loading.data.iter().chain(&self.mean).any(|v| !v.is_finite()) || self.noise_var.iter().any(|v| !(*v > 0.0 && v.is_finite())) {
            return Err("loadings and means must be finite, noise variances positive and finite".into());
        }
        // Positive definite in exact arithmetic; extreme values (e.g. a loading of 1e300, a noise
        // variance of 1e-320) overflow in floating point, and encode / log_prob would fail.
        let wt_psi = DMatrix::from_fn(k, d, |i, j| self.loading.get(j, i) / self.noise_var[j]);
        let posterior = DMatrix::identity(k, k) + &wt_psi * self.w();
        if posterior.iter().chain(self.covariance().iter()).any(|v| !v.is_finite()) || posterior.cholesky().is_none() || self.covariance().cholesky().is_none() {
            return Err("loadings and noise variances so extreme that the covariance W Wᵀ + Ψ or I + Wᵀ Ψ⁻¹ W is not numerically positive definite".into());
        }
        Ok(())
    }

    fn w(&self) -> DMatrix<f64> {
        self.loading.to_nalgebra()
    }

    /// Model covariance W Wᵀ + diag ψ.
    pub fn covariance(&self) -> DMatrix<f64> {
        let w = self.w();
        &w * w.transpose() + DMatrix::from_diagonal(&DVector::from_vec(self.noise_var.clone()))
    }

    /// Posterior map β = (I + Wᵀ Ψ⁻¹ W)⁻¹ Wᵀ Ψ⁻¹, so E[z | x] = β (x − μ).
    fn beta(&self) -> DMatrix<f64> {
        let w = self.w();
        let d = w.ncols();
        let wt_psi = DMatrix::from_fn(d, w.nrows(), |i, j| w[(j, i)] / self.noise_var[j]);
        let m = DMatrix::identity(d, d) + &wt_psi * &w;
        m.cholesky().expect("I + WᵀΨ⁻¹W is positive definite").solve(&wt_psi)
    }

    /// Posterior means E[z | x] (n × d).
    pub fn encode(&self, x: &Matrix) -> Matrix {
        let beta = self.beta();
        Matrix::from_fn(x.rows, beta.nrows(), |i, k| (0..x.cols).map(|j| beta[(k, j)] * (x.get(i, j) - self.mean[j])).sum())
    }

    /// Exact log-density of each row under N(μ, W Wᵀ + Ψ).
    pub fn log_prob(&self, x: &Matrix) -> Vec<f64> {
        let chol = self.covariance().cholesky().expect("covariance is positive definite");
        let log_det: f64 = 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
        let p = x.cols as f64;
        (0..x.rows)
            .map(|i| {
                let r = DVector::from_fn(x.cols, |j, _| x.get(i, j) - self.mean[j]);
                let quad = r.dot(&chol.solve(&r));
                -0.5 * (quad + log_det + p * (2.0 * std::f64::consts::PI).ln())
            })
            .collect()
    }

    /// Draw x = μ + W z + ε.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> Matrix {
        let d = self.loading.cols;
        let z = crate::simulate::standard_normal(n, d, rng);
        let mut x = crate::simulate::affine_rows(&z, &self.loading, &self.mean);
        for i in 0..n {
            for j in 0..x.cols {
                let e: f64 = StandardNormal.sample(rng);
                x.set(i, j, x.get(i, j) + self.noise_var[j].sqrt() * e);
            }
        }
        x
    }

    /// EM from a randomly rotated principal-component start (the rotation comes from `rng`, so
    /// restarts of plain `fa` land on different, equally good rotations). `fa-tri` is the same
    /// maximum-likelihood fit rotated to lower-triangular form: the likelihood is invariant under
    /// W → W R, and the rotation making the top d × d block lower-triangular with a positive
    /// diagonal is unique (an LQ decomposition) — so the constrained MLE needs no constrained EM.
    pub fn fit(x: &Matrix, latent_dim: usize, triangular: bool, max_iter: usize, tol: f64, rng: &mut impl Rng) -> Result<(FactorAnalysis, EmReport)> {
        let (n, p, d) = (x.rows, x.cols, latent_dim);
        if d == 0 || d > p {
            return Err(Error::usage(format!("factor analysis needs 1 ≤ --latent-dim ≤ the data's {p} columns, got {d}")));
        }
        if n <= p {
            return Err(Error::usage(format!("factor analysis needs more rows ({n}) than columns ({p})")));
        }
        let mean: Vec<f64> = (0..p).map(|j| x.col(j).iter().sum::<f64>() / n as f64).collect();
        let s = covariance(x, &mean);
        let eig = s.clone().symmetric_eigen();
        let mut order: Vec<usize> = (0..p).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let pcs = DMatrix::from_fn(p, d, |i, k| eig.eigenvectors[(i, order[k])] * eig.eigenvalues[order[k]].max(1e-12).sqrt());
        let w0 = pcs * random_rotation(d, rng);
        let mut fa = FactorAnalysis {
            triangular: false,
            mean,
            loading: Matrix::from_nalgebra(&w0),
            noise_var: (0..p).map(|j| (0.5 * s[(j, j)]).max(1e-6)).collect(),
        };
        let mut prev = f64::NEG_INFINITY;
        let mut report = EmReport { iterations: 0, converged: false, train_log_lik: prev };
        for it in 1..=max_iter {
            fa.em_step(&s);
            let ll = fa.mean_log_lik(&s);
            report = EmReport { iterations: it, converged: false, train_log_lik: ll };
            if !ll.is_finite() {
                return Err(Error::Diverged { epoch: it, msg: "factor-analysis log-likelihood is not finite".into() });
            }
            if (ll - prev).abs() < tol {
                report.converged = true;
                break;
            }
            prev = ll;
        }
        if triangular {
            fa.rotate_to_triangular();
        }
        Ok((fa, report))
    }

    /// Mean log-likelihood from the sample covariance: −½ [p log 2π + log|C| + tr(C⁻¹ S)].
    fn mean_log_lik(&self, s: &DMatrix<f64>) -> f64 {
        let c = self.covariance();
        let p = c.nrows() as f64;
        match c.cholesky() {
            Some(ch) => {
                let log_det: f64 = 2.0 * ch.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
                -0.5 * (p * (2.0 * std::f64::consts::PI).ln() + log_det + ch.solve(s).trace())
            }
            None => f64::NAN,
        }
    }

    /// One EM iteration using the sufficient statistic S (sample covariance).
    fn em_step(&mut self, s: &DMatrix<f64>) {
        let d = self.loading.cols;
        let w = self.w();
        let beta = self.beta();
        // E-step moments: Ezx = (1/n) Σ E[z](x − μ)ᵀ = β S; Ezz = (1/n) Σ E[zzᵀ] = I − βW + β S βᵀ.
        let ezx = &beta * s;
        let ezz = DMatrix::identity(d, d) - &beta * &w + &ezx * beta.transpose();
        // M-step: W = Ezxᵀ Ezz⁻¹.
        let w_new = ezz.cholesky().expect("E[zzᵀ] is positive definite").solve(&ezx).transpose();
        for i in 0..self.loading.rows {
            let explained: f64 = (0..d).map(|r| w_new[(i, r)] * ezx[(r, i)]).sum();
            self.noise_var[i] = (s[(i, i)] - explained).max(1e-8 * s[(i, i)].max(1e-12));
        }
        self.loading = Matrix::from_nalgebra(&w_new);
    }

    /// W → W Q with W_topᵀ = Q R (so W_top Q = Rᵀ is lower-triangular), then column signs made
    /// positive on the diagonal (z_k → −z_k preserves N(0, I)).
    fn rotate_to_triangular(&mut self) {
        let d = self.loading.cols;
        let w = self.w();
        let qr = w.view((0, 0), (d, d)).transpose().qr();
        let mut rotated = &w * qr.q();
        for k in 0..d {
            if rotated[(k, k)] < 0.0 {
                rotated.column_mut(k).neg_mut();
            }
            for j in k + 1..d {
                rotated[(k, j)] = 0.0; // exact zeros above the diagonal (they are rounding noise)
            }
        }
        self.loading = Matrix::from_nalgebra(&rotated);
        self.triangular = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::stream;

    fn data(triangular_truth: bool) -> (Matrix, Matrix) {
        let (n, p, d) = (20_000, 6, 2);
        let mut rng = stream(3, 0);
        let w = Matrix::from_fn(p, d, |i, k| if triangular_truth && k > i { 0.0 } else if k == i { 1.5 } else { rng.random_range(-1.0..1.0) });
        let truth = FactorAnalysis { triangular: triangular_truth, mean: vec![0.5; p], loading: w.clone(), noise_var: vec![0.1; p] };
        (truth.sample(n, &mut stream(3, 1)), w)
    }

    #[test]
    fn em_increases_the_likelihood_and_recovers_the_covariance() {
        let (x, w) = data(false);
        let (fa, rep) = FactorAnalysis::fit(&x, 2, false, 2000, 1e-10, &mut stream(0, 0)).unwrap();
        assert!(rep.converged);
        let truth = FactorAnalysis { triangular: false, mean: vec![0.5; 6], loading: w, noise_var: vec![0.1; 6] };
        let diff = (fa.covariance() - truth.covariance()).abs().max();
        assert!(diff < 0.05, "covariance error {diff}");
    }

    #[test]
    fn fa_restarts_differ_by_a_rotation_with_equal_likelihood_and_fa_tri_restarts_agree() {
        let (x, w) = data(true);
        let fits: Vec<(FactorAnalysis, f64)> = (0..2)
            .map(|seed| {
                let (fa, _) = FactorAnalysis::fit(&x, 2, false, 2000, 1e-10, &mut stream(seed, 7)).unwrap();
                let ll = fa.log_prob(&x).iter().sum::<f64>() / x.rows as f64;
                (fa, ll)
            })
            .collect();
        assert!((fits[0].1 - fits[1].1).abs() < 1e-6, "equal likelihood: {} vs {}", fits[0].1, fits[1].1);
        // W_b = W_a R: R = W_a⁺ W_b is orthogonal and far from the identity.
        let (wa, wb) = (fits[0].0.w(), fits[1].0.w());
        let r = wa.clone().pseudo_inverse(1e-12).unwrap() * wb;
        let orth = (r.transpose() * &r - DMatrix::identity(2, 2)).abs().max();
        assert!(orth < 1e-3, "R not orthogonal: {orth}");
        assert!((r - DMatrix::identity(2, 2)).abs().max() > 0.1, "the two fa restarts happen to agree");
        // fa-tri: both restarts give the same loading, equal to the true triangular one.
        let tri: Vec<FactorAnalysis> = (0..2).map(|seed| FactorAnalysis::fit(&x, 2, true, 2000, 1e-10, &mut stream(seed, 7)).unwrap().0).collect();
        assert!(tri[0].loading.max_abs_diff(&tri[1].loading) < 1e-4);
        assert!(tri[0].loading.max_abs_diff(&w) < 0.05, "{:?} vs {:?}", tri[0].loading, w);
    }
}

/// Fit on the seeded training split and report the held-out NLL like the gradient-trained
/// models do (EM iterations in place of epochs).
pub fn fit_split(x: &Matrix, latent_dim: usize, triangular: bool, cfg: &crate::train::TrainConfig) -> Result<(FactorAnalysis, crate::train::TrainReport)> {
    let start = std::time::Instant::now();
    let (train_rows, val_rows) = crate::train::split_rows(x.rows, cfg.val_fraction, cfg.split_seed)?;
    let (fa, em) = FactorAnalysis::fit(&x.select_rows(&train_rows), latent_dim, triangular, 5000, 1e-9, &mut crate::train::stream(cfg.seed, crate::train::STREAM_INIT))?;
    let val = fa.log_prob(&x.select_rows(&val_rows));
    let val_nll = -val.iter().sum::<f64>() / val.len() as f64;
    let report = crate::train::TrainReport {
        epochs_run: em.iterations,
        best_epoch: em.iterations,
        best_val_loss: val_nll,
        train_loss: vec![-em.train_log_lik],
        val_loss: vec![val_nll],
        n_train: train_rows.len(),
        n_val: val_rows.len(),
        seconds: start.elapsed().as_secs_f64(),
        ..Default::default()
    };
    Ok((fa, report))
}
