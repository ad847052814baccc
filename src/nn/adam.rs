//! Adam (Kingma & Ba 2015) with optional global gradient-norm clipping, on host f32 buffers:
//! one fused pass per parameter instead of a dozen tensor ops. The state is ours (not burn's)
//! so that it can be checkpointed alongside the parameters.
use super::HostParams;

#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Clip the global L2 norm of the gradient to this value (None: no clipping).
    pub clip_norm: Option<f64>,
    /// Steps taken (bias correction), first and second moments: the state a checkpoint keeps.
    pub step: i32,
    pub m: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

impl Adam {
    pub fn new(lr: f64, clip_norm: Option<f64>) -> Self {
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, clip_norm, step: 0, m: Vec::new(), v: Vec::new() }
    }

    /// One update of `params` in place; returns the gradient norm before clipping.
    pub fn step(&mut self, params: &mut HostParams, grads: &[Vec<f32>]) -> f64 {
        assert_eq!(params.values.len(), grads.len(), "one gradient per parameter");
        if self.m.is_empty() {
            self.m = params.values.iter().map(|p| vec![0.0; p.len()]).collect();
            self.v = self.m.clone();
        }
        let norm = grads.iter().flatten().map(|&g| f64::from(g) * f64::from(g)).sum::<f64>().sqrt();
        let scale = match self.clip_norm {
            Some(c) if norm > c => (c / norm) as f32,
            _ => 1.0,
        };
        self.step += 1;
        let (b1, b2) = (self.beta1 as f32, self.beta2 as f32);
        let bc1 = (1.0 - self.beta1.powi(self.step)) as f32;
        let bc2 = (1.0 - self.beta2.powi(self.step)) as f32;
        let (lr, eps) = (self.lr as f32, self.eps as f32);
        for (i, g) in grads.iter().enumerate() {
            let (p, m, v) = (&mut params.values[i], &mut self.m[i], &mut self.v[i]);
            assert_eq!(p.len(), g.len(), "gradient shaped like its parameter");
            // Zipped slices (no bounds checks) let the compiler vectorise the divisions and
            // square roots; the arithmetic, and so every bit, is that of the scalar loop.
            for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g.iter()) {
                let g = g * scale;
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *p -= lr * (*m / bc1) / ((*v / bc2).sqrt() + eps);
            }
        }
        norm
    }
}
