//! The flow's log-density and its gradient by hand (no autodiff graph): the training hot path,
//! and the batched inference path. Same map as `Flow::forward_with` (tested against autodiff):
//!   −log p(x) = ½‖T(x)‖² + (d/2) log 2π − Σ_steps Σ_j ℓ_j − log|det standardisation|.
use super::Flow;
use crate::nn::HostParams;
use crate::nn::cpu::MlpTape;

struct StepTape {
    input: Vec<f32>,
    theta: Vec<f32>,
    /// The transform's per-element tape (`TransformKind::tape_len` floats each).
    cache: Vec<f32>,
    made: MlpTape,
}

impl Flow {
    /// Standardised rows of raw x (n × d).
    fn standardized(&self, x: &[f32]) -> Vec<f32> {
        let d = self.config.dim;
        let (mean, sd): (Vec<f32>, Vec<f32>) = (self.standardize.mean.iter().map(|&v| v as f32).collect(), self.standardize.sd.iter().map(|&v| v as f32).collect());
        x.iter().enumerate().map(|(k, &v)| (v - mean[k % d]) / sd[k % d]).collect()
    }

    /// z = T(x) and log|det ∂T/∂x| per row, keeping what the backward pass needs when `tape`.
    fn forward_cpu_inner(&self, p: &[Vec<f32>], x: &[f32], n: usize, want_log_det: bool, mut tape: Option<&mut Vec<StepTape>>) -> (Vec<f32>, Vec<f64>) {
        let (d, per, tl) = (self.config.dim, self.config.transform.n_params(), self.config.transform.tape_len());
        let k = self.made.n_tensors();
        let mut h = self.standardized(x);
        let mut cache = vec![0.0f32; n * d * tl];
        let mut log_det = vec![self.standardize.log_det(); n];
        for l in 0..self.config.layers {
            let (theta, made_tape) = match tape {
                Some(_) => self.made.mlp().forward_cpu(&p[l * k..(l + 1) * k], h.clone(), n),
                None => (self.made.mlp().infer_cpu(&p[l * k..(l + 1) * k], h.clone(), None, n), MlpTape::empty()),
            };
            let mut y = vec![0.0f32; n * d];
            for i in 0..n {
                let mut row_ld = 0.0f64;
                for j in 0..d {
                    let e = i * d + j;
                    let (v, ld) = self.config.transform.forward_elem(h[e], &theta[e * per..(e + 1) * per], &mut cache[e * tl..(e + 1) * tl], want_log_det);
                    y[i * d + j] = v;
                    row_ld += f64::from(ld);
                }
                log_det[i] += row_ld;
            }
            if self.reverses_after(l) {
                for row in y.chunks_exact_mut(d) {
                    row.reverse();
                }
            }
            if let Some(t) = tape.as_deref_mut() {
                let cache = std::mem::replace(&mut cache, vec![0.0f32; n * d * tl]);
                t.push(StepTape { input: std::mem::replace(&mut h, y), theta, cache, made: made_tape });
            } else {
                h = y;
            }
        }
        (h, log_det)
    }

    /// Encoder z = T(x) and log|det ∂T/∂x| per row, without autodiff (inference).
    pub fn forward_cpu(&self, p: &[Vec<f32>], x: &[f32], n: usize) -> (Vec<f32>, Vec<f64>) {
        self.forward_cpu_inner(p, x, n, true, None)
    }

    /// The code z = T(x) alone (no log-determinant).
    pub fn encode_cpu(&self, p: &[Vec<f32>], x: &[f32], n: usize) -> Vec<f32> {
        self.forward_cpu_inner(p, x, n, false, None).0
    }

    /// log p(x) per row, without autodiff (validation and inference).
    pub fn log_prob_cpu(&self, p: &[Vec<f32>], x: &[f32], n: usize) -> Vec<f64> {
        let d = self.config.dim;
        let (z, log_det) = self.forward_cpu(p, x, n);
        (0..n).map(|i| -neg_log_normal(&z[i * d..(i + 1) * d]) + log_det[i]).collect()
    }

    /// Mean negative log-density of n rows of raw x and its gradient.
    pub fn nll_grad(&self, p: &HostParams, x: &[f32], n: usize) -> (f64, Vec<Vec<f32>>) {
        let (d, per, tl) = (self.config.dim, self.config.transform.n_params(), self.config.transform.tape_len());
        let k = self.made.n_tensors();
        let mut tapes = Vec::with_capacity(self.config.layers);
        let (z, log_det) = self.forward_cpu_inner(&p.values, x, n, true, Some(&mut tapes));
        let nll: f64 = (0..n).map(|i| neg_log_normal(&z[i * d..(i + 1) * d]) - log_det[i]).sum::<f64>() / n as f64;
        let inv_n = 1.0 / n as f32;
        let mut grads = p.zeros_like();
        let mut g: Vec<f32> = z.iter().map(|&v| v * inv_n).collect();
        for (l, t) in tapes.into_iter().enumerate().rev() {
            if self.reverses_after(l) {
                for row in g.chunks_exact_mut(d) {
                    row.reverse();
                }
            }
            let mut g_theta = vec![0.0f32; n * d * per];
            let mut g_in = vec![0.0f32; n * d];
            for e in 0..n * d {
                let th = &t.theta[e * per..(e + 1) * per];
                g_in[e] = self.config.transform.backward_elem(t.input[e], th, &t.cache[e * tl..(e + 1) * tl], g[e], -inv_n, &mut g_theta[e * per..(e + 1) * per]);
            }
            let via_made = self.made.mlp().backward_cpu(&p.values[l * k..(l + 1) * k], t.made, g_theta, &mut grads[l * k..(l + 1) * k], l > 0);
            if let Some(extra) = via_made {
                for (a, b) in g_in.iter_mut().zip(extra) {
                    *a += b;
                }
            }
            g = g_in;
        }
        (nll, grads)
    }
}

/// −log N(z; 0, I) = ½‖z‖² + (d/2) log 2π.
fn neg_log_normal(z: &[f32]) -> f64 {
    z.iter().map(|&v| 0.5 * f64::from(v) * f64::from(v)).sum::<f64>() + 0.5 * z.len() as f64 * (2.0 * std::f64::consts::PI).ln()
}
