//! Warm start: before the ELBO, the networks regress onto a linear code t (`init::linear_code`):
//!   L = mean_i ½ [ ‖m(x_i, u_i) − t_i‖² + ‖log v(x_i, u_i) − log v₀‖² + ‖f(t_i) − x_i‖² (+ ‖L_i below diag‖²) ],
//! so the encoder starts near x ↦ t with a narrow posterior (v₀ = 1 % of each coordinate's
//! variance) and the decoder near its inverse. The prior tables are not touched here.
use super::Vae;
use crate::matrix::Matrix;
use crate::nn::HostParams;
use crate::tensor::{self, DType, Tensor};
use crate::train::Objective;
use rand_chacha::ChaCha8Rng;

pub struct WarmStart<'a> {
    pub vae: &'a Vae,
    /// Standardised observations, n × D.
    pub x: &'a Matrix,
    /// One-hot index of each row's environment.
    pub env: &'a [usize],
    /// The target code, n × d.
    pub code: &'a Matrix,
    /// Target posterior log-variance per latent coordinate.
    pub log_v0: Vec<f64>,
}

impl WarmStart<'_> {
    fn rows(&self, rows: &[usize]) -> (Vec<f32>, Vec<usize>, Vec<f32>) {
        let x = rows.iter().flat_map(|&r| self.x.row(r).iter().map(|&v| v as f32)).collect();
        let env = rows.iter().map(|&r| self.env[r]).collect();
        let t = rows.iter().flat_map(|&r| self.code.row(r).iter().map(|&v| v as f32)).collect();
        (x, env, t)
    }

    fn loss_grad(&self, p: &HostParams, rows: &[usize], want_grad: bool) -> (f64, Vec<Vec<f32>>) {
        let vae = self.vae;
        let (n, d, dx) = (rows.len(), vae.config.latent_dim, vae.config.obs_dim);
        let (ne, nd) = (vae.encoder.n_tensors(), vae.decoder.n_tensors());
        let (x, env, t) = self.rows(rows);
        let inv_n = 1.0 / n as f32;
        let onehot = (vae.config.n_envs() > 0).then_some(env);
        let (enc_out, enc_tape) = vae.encoder.forward_cpu_onehot(&p.values[..ne], x.clone(), onehot, n);
        let (xhat, dec_tape) = vae.decoder.forward_cpu(&p.values[ne..ne + nd], t.clone(), n);
        let mut loss = 0.0f64;
        let w = vae.config.encoder_width();
        let mut d_enc = vec![0.0f32; n * w];
        for i in 0..n {
            for j in 0..d {
                let (rm, rv) = (enc_out[i * w + j] - t[i * d + j], enc_out[i * w + d + j] - self.log_v0[j] as f32);
                loss += 0.5 * f64::from(rm * rm + rv * rv);
                d_enc[i * w + j] = rm * inv_n;
                d_enc[i * w + d + j] = rv * inv_n;
            }
            // A full posterior's below-diagonal Cholesky entries start at 0 (a diagonal start).
            for c in 2 * d..w {
                let r = enc_out[i * w + c];
                loss += 0.5 * f64::from(r * r);
                d_enc[i * w + c] = r * inv_n;
            }
        }
        let mut d_dec = vec![0.0f32; n * dx];
        for k in 0..n * dx {
            let r = xhat[k] - x[k];
            loss += 0.5 * f64::from(r * r);
            d_dec[k] = r * inv_n;
        }
        if !want_grad {
            return (loss / n as f64, Vec::new());
        }
        let mut grads = p.zeros_like();
        vae.encoder.backward_cpu(&p.values[..ne], enc_tape, d_enc, &mut grads[..ne], false);
        vae.decoder.backward_cpu(&p.values[ne..ne + nd], dec_tape, d_dec, &mut grads[ne..ne + nd], false);
        (loss / n as f64, grads)
    }
}

impl Objective for WarmStart<'_> {
    /// The same loss on tensors (the autodiff reference of the hand-written gradient).
    fn loss(&self, p: &[Tensor<2>], rows: &[usize], _rng: &mut ChaCha8Rng) -> Tensor<1> {
        let vae = self.vae;
        let d = vae.config.latent_dim;
        let x = tensor::from_matrix(&self.x.select_rows(rows), DType::F32);
        let t = tensor::from_matrix(&self.code.select_rows(rows), DType::F32);
        let onehot = (vae.config.n_envs() > 0).then(|| {
            tensor::from_matrix(&Matrix::from_fn(rows.len(), vae.config.n_envs(), |i, k| f64::from(u8::from(self.env[rows[i]] == k))), DType::F32)
        });
        let q = vae.posterior(p, x.clone(), onehot);
        let log_v0 = tensor::from_f64(&self.log_v0, [1, d], DType::F32);
        let xhat = vae.decode(p, t.clone());
        let mut per_row = q.mean.sub(t).square().sum_dim(1).add(q.var.log().sub(log_v0).square().sum_dim(1)).add(xhat.sub(x).square().sum_dim(1));
        if let Some(off) = q.offdiag {
            per_row = per_row.add(off.square().sum_dim(1));
        }
        let per_row = per_row.mul_scalar(0.5);
        per_row.squeeze_dim::<1>(1).mean()
    }
    fn loss_and_grad(&self, params: &HostParams, rows: &[usize], _rng: &mut ChaCha8Rng) -> (f64, Vec<Vec<f32>>) {
        self.loss_grad(params, rows, true)
    }
    fn loss_value(&self, params: &HostParams, rows: &[usize], _rng: &mut ChaCha8Rng) -> f64 {
        self.loss_grad(params, rows, false).0
    }
    fn n_rows(&self) -> usize {
        self.x.rows
    }
}
