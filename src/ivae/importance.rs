//! The fitted model's posterior mean E[z | x, u] by self-normalised importance sampling from
//! the encoder q(z | x, u): Σ_k w_k z_k / Σ_k w_k, z_k ~ q, w_k = p(x | z_k) p(z_k | u) / q(z_k | x, u)
//! (the weights of the importance-weighted bound, Burda et al. 2016). q's own mean is an
//! amortised approximation of this; the estimate tends to the model's exact posterior mean as K
//! grows, the best code under squared error when the model is right (issue #21: on noisy data
//! it moves strong_mcc toward the Bayes-optimal code's, `docs/src/benchmarks.md`).
use super::Vae;
use crate::matrix::Matrix;
use crate::tensor::{self, Tensor};
use rayon::prelude::*;

/// Rows per block of draws: each block draws from its own stream, so the codes do not depend on
/// how many threads run or how a caller chunks the rows (as long as chunks start at multiples).
pub const IW_BLOCK: usize = 1024;

impl Vae {
    /// Posterior means of the standardised rows `x` with K draws each (`eps`: K × [n, d]
    /// standard normals).
    pub fn iw_posterior_mean(&self, p: &[Tensor<2>], x: Tensor<2>, onehot: Option<Tensor<2>>, eps: Vec<Tensor<2>>) -> Tensor<2> {
        let (w, zs) = self.importance_draws(p, x, onehot, eps);
        let w = w.clone().sub(w.max_dim(1)).exp();
        let total = w.clone().sum_dim(1);
        let mut mean = zs[0].zeros_like();
        for (k, z) in zs.into_iter().enumerate() {
            mean = mean.add(z.mul(w.clone().narrow(1, k, 1)));
        }
        mean.div(total)
    }

    /// `iw_posterior_mean` of raw rows x (one-hot u rows `onehot`), `k` draws per row; block b of
    /// IW_BLOCK rows draws from stream (seed, (first_row / IW_BLOCK) + b), in parallel.
    pub fn encode_importance(&self, x: &Matrix, onehot: &Matrix, k: usize, seed: u64, first_row: usize) -> Matrix {
        let x = self.config.standardize.as_ref().map_or_else(|| x.clone(), |s| s.apply(x));
        let d = self.config.latent_dim;
        let blocks: Vec<usize> = (0..x.rows).step_by(IW_BLOCK).collect();
        let parts: Vec<Vec<f64>> = blocks
            .par_iter()
            .map(|&start| {
                let rows: Vec<usize> = (start..(start + IW_BLOCK).min(x.rows)).collect();
                let mut rng = crate::train::stream(seed, STREAM_IW + ((first_row + start) / IW_BLOCK) as u64);
                let xt = tensor::from_matrix(&x.select_rows(&rows), self.dtype());
                let ut = self.onehot_tensor(&onehot.select_rows(&rows));
                let eps = (0..k).map(|_| tensor::from_matrix(&crate::simulate::standard_normal(rows.len(), d, &mut rng), self.dtype())).collect();
                tensor::to_matrix(self.iw_posterior_mean(&self.params.values, xt, ut, eps)).data
            })
            .collect();
        Matrix::new(x.rows, d, parts.concat())
    }
}

/// Streams of the importance draws start here (block b uses STREAM_IW + b).
const STREAM_IW: u64 = 1 << 32;
