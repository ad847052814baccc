//! The negative ELBO and its gradient by hand (no autodiff graph): the iVAE training hot path.
//! Same objective as `Vae::neg_elbo` (tested against its autodiff gradient):
//!   L = mean_i [ ‖f(z_i) − x_i‖² / (2σ²) + (D/2) log 2πσ² + KL(N(m_i, v_i) ‖ N(m_p, v_p)) ],
//!   z_i = m_i + L_i ε_i,  (m_i, log v_i, L_i below the diagonal) = g(x_i, u_i), L_i,jj = √v_ij,
//!   (m_p, log v_p) = the prior row of u_i; KL with (L Lᵀ)_jj in place of v_j.
use super::Vae;
use crate::matrix::Matrix;
use crate::nn::HostParams;

impl Vae {
    /// q(z | x, u) for the rows of x by the hand-written forward pass in row chunks (inference):
    /// the means (n × d) and, when `want_spread`, the rest of the encoder's output (n × (d + d(d−1)/2):
    /// log-variances of the diagonal, then the Cholesky factor's below-diagonal entries).
    pub fn posterior_cpu(&self, x: &Matrix, onehot: &Matrix, want_spread: bool) -> (Matrix, Option<Matrix>) {
        const CHUNK: usize = 1024;
        let (d, ne, w) = (self.config.latent_dim, self.encoder.n_tensors(), self.config.encoder_width());
        let host = HostParams::from_tensors(&self.params.values[..ne]);
        // Chunks in parallel on rayon's threads; each chunk's result is independent of the others.
        use rayon::prelude::*;
        let starts: Vec<usize> = (0..x.rows).step_by(CHUNK).collect();
        let parts: Vec<Vec<f32>> = starts
            .par_iter()
            .map(|&start| {
                let n = CHUNK.min(x.rows - start);
                if self.config.aux_dim > 0 {
                    // A real-valued u is a dense part of the encoder's input.
                    let xs: Vec<f32> = (start..start + n).flat_map(|i| x.row(i).iter().chain(onehot.row(i)).map(|&v| v as f32)).collect();
                    return self.encoder.infer_cpu(&host.values, xs, None, n);
                }
                let xs: Vec<f32> = x.data[start * x.cols..(start + n) * x.cols].iter().map(|&v| v as f32).collect();
                let idx = (onehot.cols > 0).then(|| (start..start + n).map(|i| onehot.row(i).iter().position(|&v| v == 1.0).unwrap_or(0)).collect());
                self.encoder.infer_cpu(&host.values, xs, idx, n)
            })
            .collect();
        // Encoder rows; the spread only when asked (a mean code needs none).
        let row = |i: usize| {
            let (part, k) = (&parts[i / CHUNK], i % CHUNK);
            &part[k * w..(k + 1) * w]
        };
        let mean = Matrix::new(x.rows, d, (0..x.rows).flat_map(|i| row(i)[..d].iter().map(|&v| f64::from(v))).collect());
        let spread = want_spread.then(|| Matrix::new(x.rows, w - d, (0..x.rows).flat_map(|i| row(i)[d..].iter().map(|&v| f64::from(v))).collect()));
        (mean, spread)
    }

    /// Mean negative ELBO of n rows and, when `want_grad`, its gradient (else an empty list).
    /// `x` is n × D, `env` the one-hot index of each row (labels; ignored otherwise), `u` the
    /// rows of a real-valued u (n × aux_dim; empty otherwise), `eps` the n × d standard normal draws.
    pub fn neg_elbo_grad(&self, p: &HostParams, x: &[f32], env: &[usize], u: &[f32], eps: &[f32], n: usize, want_grad: bool) -> (f64, Vec<Vec<f32>>) {
        let (dx, d, m_envs, k_u) = (self.config.obs_dim, self.config.latent_dim, self.config.n_envs(), self.config.aux_dim);
        let (ne, nd) = (self.encoder.n_tensors(), self.decoder.n_tensors());
        let inv_n = 1.0 / n as f32;
        // Encoder on (x, u): one-hot labels are a row gather in the first layer, a real u is
        // part of the dense input.
        let (enc_out, enc_tape) = if k_u > 0 {
            let xu: Vec<f32> = (0..n).flat_map(|i| x[i * dx..(i + 1) * dx].iter().chain(&u[i * k_u..(i + 1) * k_u]).copied()).collect();
            self.encoder.forward_cpu(&p.values[..ne], xu, n)
        } else {
            let onehot = (m_envs > 0).then(|| env.to_vec());
            self.encoder.forward_cpu_onehot(&p.values[..ne], x.to_vec(), onehot, n)
        };
        // The prior network λ(u) → (means, log-variances) per row, for a real-valued u.
        let net = self.prior_net.as_ref().map(|net| {
            let e = ne + nd;
            let (out, tape) = net.forward_cpu(&p.values[e..e + net.n_tensors()], u.to_vec(), n);
            (net, e, out, tape)
        });
        // Prior rows (means, log-variances); anchors frozen; variance-only means are 0.
        let table = self.config.has_prior_table() && m_envs > 0;
        let (mut pm, mut plv, mut free) = (vec![0.0f32; m_envs * d], vec![0.0f32; m_envs * d], vec![1.0f32; m_envs * d]);
        if table {
            let e = ne + nd;
            if self.config.prior_mean {
                pm.copy_from_slice(&p.values[e]);
            }
            plv.copy_from_slice(&p.values[e + 1]);
            for a in &self.config.anchors {
                let k = self.config.envs.binary_search(&a.env).expect("anchors checked against envs");
                for j in 0..d {
                    free[k * d + j] = 0.0;
                    pm[k * d + j] = a.mean[j] as f32;
                    plv[k * d + j] = a.var[j].ln() as f32;
                }
            }
        }
        let w = self.config.encoder_width();
        let mut z = vec![0.0f32; n * d];
        let mut kl = 0.0f64;
        let mut d_enc = vec![0.0f32; n * w];
        let (mut g_pm, mut g_plv) = (vec![0.0f32; m_envs * d], vec![0.0f32; m_envs * d]);
        let mut g_net = vec![0.0f32; if net.is_some() { n * 2 * d } else { 0 }];
        for i in 0..n {
            let row = &enc_out[i * w..(i + 1) * w];
            let grow = &mut d_enc[i * w..(i + 1) * w];
            for j in 0..d {
                let (m, lv) = (row[j], row[d + j]);
                let (v, sd) = (lv.exp(), (0.5 * lv).exp());
                // Row j of the Cholesky factor below the diagonal (none for a diagonal posterior).
                let (mut below_eps, mut below_sq) = (0.0f32, 0.0f32);
                if w > 2 * d {
                    for k in 0..j {
                        let l = row[2 * d + super::offdiag_index(j, k)];
                        below_eps += l * eps[i * d + k];
                        below_sq += l * l;
                    }
                }
                z[i * d + j] = m + sd * eps[i * d + j] + below_eps;
                let (mp, lvp) = match &net {
                    Some((_, _, out, _)) => (if self.config.prior_mean { out[i * 2 * d + j] } else { 0.0 }, out[i * 2 * d + d + j]),
                    None if table => (pm[env[i] * d + j], plv[env[i] * d + j]),
                    None => (0.0, 0.0),
                };
                let inv_vp = (-lvp).exp();
                let diff = m - mp;
                let cov_jj = v + below_sq;
                kl += f64::from(0.5 * (lvp - lv + (cov_jj + diff * diff) * inv_vp - 1.0));
                // ∂KL/∂m = (m − m_p)/v_p, ∂KL/∂log v = ½(v/v_p − 1), ∂KL/∂L_jk = L_jk/v_p; the
                // sampling path adds below.
                grow[j] = diff * inv_vp * inv_n;
                grow[d + j] = 0.5 * (v * inv_vp - 1.0) * inv_n;
                if w > 2 * d {
                    for k in 0..j {
                        let c = 2 * d + super::offdiag_index(j, k);
                        grow[c] = row[c] * inv_vp * inv_n;
                    }
                }
                let (gm, glv) = (-diff * inv_vp * inv_n, 0.5 * (1.0 - (cov_jj + diff * diff) * inv_vp) * inv_n);
                if net.is_some() {
                    g_net[i * 2 * d + j] = if self.config.prior_mean { gm } else { 0.0 };
                    g_net[i * 2 * d + d + j] = glv;
                } else if table {
                    g_pm[env[i] * d + j] += gm;
                    g_plv[env[i] * d + j] += glv;
                }
            }
        }
        // Decoder and the reconstruction term.
        let (xhat, dec_tape) = self.decoder.forward_cpu(&p.values[ne..ne + nd], z, n);
        // −log N(x; f(z), diag s²) with s² fixed or learned (floored: no gradient below the floor).
        let floor = crate::ivae::MIN_DECODER_VAR.ln() as f32;
        let log_s2: Vec<f32> = match self.config.decoder_logvar_index() {
            Some(k) => p.values[k].iter().map(|&v| v.max(floor)).collect(),
            None => vec![self.config.decoder_var.ln() as f32; dx],
        };
        let inv_s2: Vec<f32> = log_s2.iter().map(|&v| (-v).exp()).collect();
        let mut sq = vec![0.0f64; dx];
        let mut d_xhat = vec![0.0f32; n * dx];
        for i in 0..n {
            for k in 0..dx {
                let r = xhat[i * dx + k] - x[i * dx + k];
                sq[k] += f64::from(r * r);
                d_xhat[i * dx + k] = r * inv_s2[k] * inv_n;
            }
        }
        let ln_2pi = (2.0 * std::f64::consts::PI).ln();
        let rec: f64 = (0..dx).map(|k| 0.5 * (sq[k] * f64::from(inv_s2[k]) + n as f64 * (f64::from(log_s2[k]) + ln_2pi))).sum();
        if !want_grad {
            return ((rec + kl) / n as f64, Vec::new());
        }
        let mut grads = p.zeros_like();
        if let Some(k) = self.config.decoder_logvar_index() {
            // ∂/∂log s²_k of the mean: ½ (1 − mean_i r²_ik / s²_k), zero where the floor binds.
            for (j, g) in grads[k].iter_mut().enumerate() {
                *g = if p.values[k][j] < floor { 0.0 } else { 0.5 * (1.0 - (sq[j] / n as f64) as f32 * inv_s2[j]) };
            }
        }
        let dz = self.decoder.backward_cpu(&p.values[ne..ne + nd], dec_tape, d_xhat, &mut grads[ne..ne + nd], true).expect("dz requested");
        // z_j = m_j + exp(½ log v_j) ε_j + Σ_{k<j} L_jk ε_k: ∂z_j/∂m_j = 1, ∂z_j/∂log v_j = ½ √v_j ε_j,
        // ∂z_j/∂L_jk = ε_k.
        for i in 0..n {
            for j in 0..d {
                let lv = enc_out[i * w + d + j];
                let g = dz[i * d + j];
                d_enc[i * w + j] += g;
                d_enc[i * w + d + j] += g * 0.5 * (0.5 * lv).exp() * eps[i * d + j];
                if w > 2 * d {
                    for k in 0..j {
                        d_enc[i * w + 2 * d + super::offdiag_index(j, k)] += g * eps[i * d + k];
                    }
                }
            }
        }
        self.encoder.backward_cpu(&p.values[..ne], enc_tape, d_enc, &mut grads[..ne], false);
        if let Some((net, e, _, tape)) = net {
            net.backward_cpu(&p.values[e..e + net.n_tensors()], tape, g_net, &mut grads[e..e + net.n_tensors()], false);
        }
        if table {
            let e = ne + nd;
            if self.config.prior_mean {
                grads[e] = g_pm.iter().zip(&free).map(|(g, f)| g * f).collect();
            }
            grads[e + 1] = g_plv.iter().zip(&free).map(|(g, f)| g * f).collect();
        }
        ((rec + kl) / n as f64, grads)
    }
}
