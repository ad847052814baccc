//! The official iVAE's weighted objective (ilkhem/iVAE `cleanIVAE.elbo`, configs/ivae.yaml:
//! a = 100, b = 1, c = 0, d = 10), the ELBO's KL split into index-code mutual information, total
//! correlation and dimension-wise KL (β-TCVAE's decomposition) and weighted:
//!   a log p(x|z) − b (log q(z|x,u) − log q(z)) − c (log q(z) − Σ_j log q(z_j)) − d (Σ_j log q(z_j) − log p(z|u)),
//! with the aggregate posterior's densities estimated by minibatch-weighted sampling over the M
//! rows of the batch, log q(z_i) ≈ logsumexp_k log q(z_i | x_k, u_k) − log(N M) (N: training
//! rows), and per coordinate the same for log q(z_ij). a = b = c = d = 1 is the ELBO up to the
//! estimator. Trained through burn's autodiff (no hand-written gradient): slower than the ELBO.
use super::Vae;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Weights (a, b, c, d) of the four terms.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
}

impl Weights {
    /// configs/ivae.yaml of the official code.
    pub const OFFICIAL: Weights = Weights { a: 100.0, b: 1.0, c: 0.0, d: 10.0 };
}

/// log N(x; m, v) element-wise (broadcasting).
fn log_normal<const D: usize>(x: Tensor<D>, m: Tensor<D>, v: Tensor<D>) -> Tensor<D> {
    x.sub(m).square().div(v.clone()).add(v.log()).add_scalar((2.0 * std::f64::consts::PI).ln()).mul_scalar(-0.5)
}

/// log Σ exp along `dim` (kept as a size-1 axis), shifted by the (detached) maximum.
fn logsumexp<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let m = x.clone().max_dim(dim).detach();
    x.sub(m.clone()).exp().sum_dim(dim).log().add(m)
}

impl Vae {
    /// The negated weighted objective per row for a batch (mean it for the loss); `n_total` is
    /// the number of training rows N. Diagonal posterior only (as the official code).
    pub fn neg_weighted_objective(&self, p: &[Tensor<2>], x: Tensor<2>, onehot: Option<Tensor<2>>, eps: Tensor<2>, n_total: usize, w: Weights) -> Tensor<1> {
        assert_eq!(self.config.n_offdiag(), 0, "the weighted objective is defined for the diagonal posterior");
        let [m_rows, d] = eps.dims();
        let q = self.posterior(p, x.clone(), onehot.clone());
        let prior = self.prior(p, onehot, m_rows, &x);
        let z = q.mean.clone().add(q.var.clone().sqrt().mul(eps));
        let s2 = match self.config.decoder_logvar_index() {
            Some(k) => p[k].clone().clamp_min(super::MIN_DECODER_VAR.ln()).exp(),
            None => crate::tensor::full_like(&x, [1, self.config.obs_dim], self.config.decoder_var),
        };
        let log_px = log_normal(x, self.decode(p, z.clone()), s2).sum_dim(1);
        let log_qz_xu = log_normal(z.clone(), q.mean.clone(), q.var.clone()).sum_dim(1);
        let log_pz_u = log_normal(z.clone(), prior.mean, prior.var).sum_dim(1);
        // Pairwise log q(z_ij | x_k, u_k): [M, M, d], row i's sample under row k's posterior.
        let pair = log_normal(z.unsqueeze_dim::<3>(1), q.mean.unsqueeze_dim::<3>(0), q.var.unsqueeze_dim::<3>(0));
        let log_nm = ((n_total * m_rows) as f64).ln();
        let log_qz = logsumexp(pair.clone().sum_dim(2), 1).reshape([m_rows, 1]).sub_scalar(log_nm);
        let log_qz_j = logsumexp(pair, 1).reshape([m_rows, d]).sub_scalar(log_nm).sum_dim(1);
        let objective = log_px
            .mul_scalar(w.a)
            .sub(log_qz_xu.sub(log_qz.clone()).mul_scalar(w.b))
            .sub(log_qz.sub(log_qz_j.clone()).mul_scalar(w.c))
            .sub(log_qz_j.sub(log_pz_u).mul_scalar(w.d));
        objective.neg().squeeze_dim::<1>(1)
    }
}
