//! Adam (Kingma & Ba 2015) over a `ParamSet`, with optional global gradient-norm clipping.
//! The state is ours (not burn's) so that it can be checkpointed alongside the parameters.
use crate::tensor::{self, Tensor};

pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Clip the global L2 norm of the gradient to this value (None: no clipping).
    pub clip_norm: Option<f64>,
    step: i32,
    m: Vec<Tensor<2>>,
    v: Vec<Tensor<2>>,
}

impl Adam {
    pub fn new(lr: f64, clip_norm: Option<f64>) -> Self {
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, clip_norm, step: 0, m: Vec::new(), v: Vec::new() }
    }

    /// One update; returns the new parameter values and the gradient norm before clipping.
    pub fn step(&mut self, params: &[Tensor<2>], grads: Vec<Tensor<2>>) -> (Vec<Tensor<2>>, f64) {
        if self.m.is_empty() {
            self.m = params.iter().map(|p| p.zeros_like()).collect();
            self.v = params.iter().map(|p| p.zeros_like()).collect();
        }
        let sq: f64 = grads.iter().map(|g| tensor::scalar(g.clone().square().sum())).sum();
        let norm = sq.sqrt();
        let scale = match self.clip_norm {
            Some(c) if norm > c => c / norm,
            _ => 1.0,
        };
        self.step += 1;
        let bc1 = 1.0 - self.beta1.powi(self.step);
        let bc2 = 1.0 - self.beta2.powi(self.step);
        let mut out = Vec::with_capacity(params.len());
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let g = if scale < 1.0 { g.mul_scalar(scale) } else { g };
            self.m[i] = self.m[i].clone().mul_scalar(self.beta1).add(g.clone().mul_scalar(1.0 - self.beta1));
            self.v[i] = self.v[i].clone().mul_scalar(self.beta2).add(g.square().mul_scalar(1.0 - self.beta2));
            let denom = self.v[i].clone().div_scalar(bc2).sqrt().add_scalar(self.eps);
            let update = self.m[i].clone().div_scalar(bc1).div(denom).mul_scalar(self.lr);
            out.push(p.clone().sub(update));
        }
        (out, norm)
    }
}
