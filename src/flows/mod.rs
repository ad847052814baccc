//! Autoregressive monotone flows. `tmi-flow` (Thm 5.1): every step is triangular in ONE fixed
//! variable ordering, so the whole encoder z = T(x) is a triangular monotone increasing (TMI)
//! map, and with the fixed prior N(0, I) its maximum-likelihood limit is the Knothe–Rosenblatt
//! map from the data law to N(0, I): strongly identifiable. `flow` is the same network with the
//! coordinates reversed between steps: no longer triangular, only weakly identifiable.
mod backprop;
pub mod fit;
pub mod linear;

use crate::matrix::Matrix;
pub use crate::standardize::Standardize;
use crate::nn::{Made, ParamSet};
use crate::tensor::{self, DType, Tensor};
use crate::transforms::TransformKind;
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowConfig {
    pub dim: usize,
    /// Number of MADE + transform steps.
    pub layers: usize,
    /// Width of each hidden layer of the conditioner.
    pub hidden: usize,
    /// Number of hidden layers of the conditioner.
    pub hidden_layers: usize,
    pub transform: TransformKind,
    /// true: one fixed ordering (TMI, `tmi-flow`); false: reverse between steps (`flow`).
    pub triangular: bool,
    /// An LU-parametrised invertible linear map before every step (`linear`; not triangular,
    /// so never with `triangular`). Files written before it existed read as false.
    #[serde(default)]
    pub linear: bool,
}

impl FlowConfig {
    /// Check a configuration read from a file before building it: sizes in range and a
    /// parameter count equal to the `stored` values (else an edited size could ask for any
    /// amount of memory).
    pub fn check(&self, standardize: &Standardize, stored: u128) -> std::result::Result<(), String> {
        if let crate::transforms::TransformKind::Spline { bins, tail_bound } = self.transform {
            if !(2..=63).contains(&bins) || !(tail_bound > 0.0 && tail_bound.is_finite()) {
                return Err(format!("spline with {bins} bins on [−{tail_bound}, {tail_bound}] (2–63 bins, a finite positive bound)"));
            }
        }
        let sizes = [self.dim, self.layers, self.hidden, self.hidden_layers];
        if sizes.iter().any(|&s| s == 0 || s as u128 > stored) {
            return Err(format!("sizes (dim, layers, hidden, hidden layers) {sizes:?} out of range for {stored} stored values"));
        }
        if self.linear && self.triangular {
            return Err("a triangular flow has no linear layers".into());
        }
        let per_step = crate::nn::Mlp::count(self.dim, self.hidden, self.hidden_layers, self.dim * self.transform.n_params()) + if self.linear { (self.dim * (self.dim + 1)) as u128 } else { 0 };
        let n = self.layers as u128 * per_step;
        if n != stored {
            return Err(format!("the architecture has {n} parameters but the file stores {stored}"));
        }
        if standardize.mean.len() != self.dim || standardize.sd.len() != self.dim || standardize.sd.iter().any(|s| !(*s > 0.0 && s.is_finite())) || standardize.mean.iter().any(|m| !m.is_finite()) {
            return Err(format!("standardisation constants are not {} finite means and positive sds", self.dim));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct Flow {
    pub config: FlowConfig,
    pub standardize: Standardize,
    pub params: ParamSet,
    made: Made,
}

impl Flow {
    /// A new flow with seeded initial weights; every step starts as the identity.
    pub fn new(config: FlowConfig, standardize: Standardize, rng: &mut impl Rng) -> Flow {
        let made = Made::new(config.dim, &vec![config.hidden; config.hidden_layers], config.transform.n_params());
        let mut params = ParamSet::new();
        for l in 0..config.layers {
            made.init_params(&mut params, &format!("step{l}.made"), rng);
            if config.linear {
                params.push(format!("step{l}.lu"), &Matrix::zeros(config.dim, config.dim));
                params.push(format!("step{l}.shift"), &Matrix::zeros(1, config.dim));
            }
        }
        Flow { config, standardize, params, made }
    }

    /// Rebuild from saved parameters (checked against the architecture by the caller).
    pub fn from_parts(config: FlowConfig, standardize: Standardize, params: ParamSet) -> Flow {
        let made = Made::new(config.dim, &vec![config.hidden; config.hidden_layers], config.transform.n_params());
        Flow { config, standardize, params, made }
    }

    /// Tensors per step: the conditioner's, then the linear layer's M and b (`linear`).
    fn step_tensors(&self) -> usize {
        self.made.n_tensors() + if self.config.linear { 2 } else { 0 }
    }

    fn step_params<'a>(&self, p: &'a [Tensor<2>], l: usize) -> &'a [Tensor<2>] {
        let k = self.step_tensors();
        &p[l * k..l * k + self.made.n_tensors()]
    }

    /// Step l's linear layer (M, b), if the flow has them.
    fn linear_params<'a>(&self, p: &'a [Tensor<2>], l: usize) -> Option<(&'a Tensor<2>, &'a Tensor<2>)> {
        let (k, km) = (self.step_tensors(), self.made.n_tensors());
        self.config.linear.then(|| (&p[l * k + km], &p[l * k + km + 1]))
    }

    fn reverses_after(&self, l: usize) -> bool {
        !self.config.triangular && l + 1 < self.config.layers
    }

    /// Encoder z = T(x) and log|det ∂T/∂x| per row, with parameters `p` (autodiff leaves
    /// while training, plain values otherwise).
    pub fn forward_with(&self, p: &[Tensor<2>], x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let n = x.dims()[0];
        let (mean, sd) = self.standardize.tensors(&x);
        let mut h = x.sub(mean).div(sd);
        let mut log_det = tensor::full_like(&h, [n, 1], self.standardize.log_det());
        for l in 0..self.config.layers {
            if let Some((m, b)) = self.linear_params(p, l) {
                h = h.matmul(linear::weight_tensor(m.clone()).transpose()).add(b.clone());
                log_det = log_det.add(linear::log_det_tensor(m.clone()));
            }
            let theta = self.made.forward(self.step_params(p, l), h.clone());
            let (y, ld) = self.config.transform.forward(h, theta);
            log_det = log_det.add(ld.sum_dim(1));
            h = if self.reverses_after(l) { y.flip([1]) } else { y };
        }
        (h, log_det.squeeze_dim::<1>(1))
    }

    /// log p(x) = log N(T(x); 0, I) + log|det ∂T/∂x| (exact).
    pub fn log_prob_with(&self, p: &[Tensor<2>], x: Tensor<2>) -> Tensor<1> {
        let (z, log_det) = self.forward_with(p, x);
        tensor::std_normal_log_prob(z).add(log_det)
    }

    /// Generator x = T⁻¹(z): each step is inverted coordinate by coordinate (forward
    /// substitution): after pass k of the conditioner, coordinates 1..k are exact.
    pub fn inverse_with(&self, p: &[Tensor<2>], z: Tensor<2>) -> Tensor<2> {
        let mut h = z;
        for l in (0..self.config.layers).rev() {
            if self.reverses_after(l) {
                h = h.flip([1]);
            }
            let mut x = h.zeros_like();
            for _ in 0..self.config.dim {
                let theta = self.made.forward(self.step_params(p, l), x);
                x = self.config.transform.inverse(h.clone(), theta);
            }
            h = match self.linear_params(p, l) {
                Some((m, b)) => linear::inverse_tensor(m.clone(), b.clone(), x),
                None => x,
            };
        }
        let (mean, sd) = self.standardize.tensors(&h);
        h.mul(sd).add(mean)
    }

    /// The same flow with parameters in another float dtype (F64 for exact checks).
    pub fn cast(&self, dtype: DType) -> Flow {
        Flow { params: self.params.cast(dtype), ..self.clone() }
    }

    fn dtype(&self) -> DType {
        self.params.values[0].dtype()
    }

    /// Row-chunked evaluation so memory stays O(chunk) on large inputs.
    fn map_chunks(&self, x: &Matrix, cols: usize, f: impl Fn(Tensor<2>) -> Vec<f64>) -> Matrix {
        const CHUNK: usize = 8192;
        let mut out = Vec::with_capacity(x.rows * cols);
        let mut start = 0;
        while start < x.rows {
            let end = (start + CHUNK).min(x.rows);
            let idx: Vec<usize> = (start..end).collect();
            out.extend(f(tensor::from_matrix(&x.select_rows(&idx), self.dtype())));
            start = end;
        }
        Matrix::new(x.rows, cols, out)
    }

    /// Row chunks of x as f32 through the hand-written forward pass (f32 models), so memory
    /// stays O(chunk) and no autodiff machinery is touched.
    fn cpu_chunks(&self, x: &Matrix, cols: usize, f: impl Fn(&[Vec<f32>], &[f32], usize) -> Vec<f64> + Sync) -> Matrix {
        const CHUNK: usize = 1024;
        let host = crate::nn::HostParams::from_tensors(&self.params.values);
        // Chunks in parallel on rayon's threads; each chunk's result is independent of the others.
        use rayon::prelude::*;
        let parts: Vec<Vec<f64>> = x
            .data
            .par_chunks(CHUNK * x.cols.max(1))
            .map(|chunk| {
                let xs: Vec<f32> = chunk.iter().map(|&v| v as f32).collect();
                f(&host.values, &xs, chunk.len() / x.cols.max(1))
            })
            .collect();
        Matrix::new(x.rows, cols, parts.concat())
    }

    pub fn encode(&self, x: &Matrix) -> Matrix {
        if self.dtype() == DType::F32 {
            return self.cpu_chunks(x, self.config.dim, |p, xs, n| self.encode_cpu(p, xs, n).into_iter().map(f64::from).collect());
        }
        self.map_chunks(x, self.config.dim, |t| tensor::to_vec(self.forward_with(&self.params.values, t).0))
    }

    pub fn log_prob(&self, x: &Matrix) -> Vec<f64> {
        if self.dtype() == DType::F32 {
            return self.cpu_chunks(x, 1, |p, xs, n| self.log_prob_cpu(p, xs, n)).data;
        }
        self.map_chunks(x, 1, |t| tensor::to_vec(self.log_prob_with(&self.params.values, t))).data
    }

    /// The code z = T(x) with log|det ∂T/∂x| per row (f32 models, hand-written pass).
    pub fn encode_with_log_det(&self, x: &Matrix) -> (Matrix, Vec<f64>) {
        let d = self.config.dim;
        let both = self.cpu_chunks(x, d + 1, |p, xs, n| {
            let (z, ld) = self.forward_cpu(p, xs, n);
            (0..n).flat_map(|i| z[i * d..(i + 1) * d].iter().map(|&v| f64::from(v)).chain([ld[i]]).collect::<Vec<_>>()).collect()
        });
        let z = Matrix::from_fn(x.rows, d, |i, j| both.get(i, j));
        (z, (0..x.rows).map(|i| both.get(i, d)).collect())
    }

    pub fn generate(&self, z: &Matrix) -> Matrix {
        self.map_chunks(z, self.config.dim, |t| tensor::to_vec(self.inverse_with(&self.params.values, t)))
    }
}

#[cfg(test)]
mod tests;
