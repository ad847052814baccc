//! A multilayer perceptron, optionally with fixed {0,1} weight masks (MADE uses those).
use super::ParamSet;
use crate::matrix::Matrix;
use crate::tensor::{DType, Tensor, activation};
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// Leaky ReLU with slope 0.2 (the iVAE recipe's lrelu).
    Lrelu,
    /// tanh(x) + 0.1 x (the iVAE recipe's xtanh).
    Xtanh,
    Tanh,
}

impl Activation {
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Lrelu => activation::leaky_relu(x, 0.2),
            Activation::Xtanh => activation::tanh(x.clone()).add(x.mul_scalar(0.1)),
            Activation::Tanh => activation::tanh(x),
        }
    }
    /// The same map on one f64 value (simulators).
    pub fn apply_f64(self, x: f64) -> f64 {
        match self {
            Activation::Lrelu => if x >= 0.0 { x } else { 0.2 * x },
            Activation::Xtanh => x.tanh() + 0.1 * x,
            Activation::Tanh => x.tanh(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Mlp {
    /// Layer widths, input first, output last.
    pub sizes: Vec<usize>,
    pub activation: Activation,
    /// Per-layer masks shaped like the weights [fan_in, fan_out]; empty for a dense MLP.
    masks: Vec<Matrix>,
    mask_tensors: Vec<Tensor<2>>,
    masks_f32: Vec<Vec<f32>>,
    /// Start the output layer at zero (flows start as the identity).
    zero_last: bool,
}

impl Mlp {
    /// Parameters (weights and biases) of a dense MLP input → `layers` × hidden → output,
    /// computed without building it (u128: sizes read from a file may be absurd).
    pub fn count(input: usize, hidden: usize, layers: usize, output: usize) -> u128 {
        let (i, h, l, o) = (input as u128, hidden as u128, layers as u128, output as u128);
        if l == 0 { (i + 1) * o } else { (i + 1) * h + (l - 1) * (h + 1) * h + (h + 1) * o }
    }

    pub fn dense(sizes: Vec<usize>, activation: Activation) -> Mlp {
        Mlp { sizes, activation, masks: Vec::new(), mask_tensors: Vec::new(), masks_f32: Vec::new(), zero_last: false }
    }

    pub fn masked(sizes: Vec<usize>, activation: Activation, masks: Vec<Matrix>, zero_last: bool) -> Mlp {
        assert_eq!(masks.len() + 1, sizes.len(), "one mask per layer");
        let mask_tensors = masks.iter().map(|m| crate::tensor::from_matrix(m, DType::F32)).collect();
        let masks_f32 = masks.iter().map(|m| m.data.iter().map(|&v| v as f32).collect()).collect();
        Mlp { sizes, activation, masks, mask_tensors, masks_f32, zero_last }
    }

    pub(crate) fn mask_f32(&self, layer: usize) -> Option<&[f32]> {
        self.masks_f32.get(layer).map(Vec::as_slice)
    }

    fn n_layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Number of parameter tensors (a weight and a bias per layer).
    pub fn n_tensors(&self) -> usize {
        2 * self.n_layers()
    }

    pub fn param_names(&self, prefix: &str) -> Vec<String> {
        (0..self.n_layers()).flat_map(|l| [format!("{prefix}.layer{l}.weight"), format!("{prefix}.layer{l}.bias")]).collect()
    }

    /// Append this network's parameters, uniform(±1/√fan_in) like PyTorch's default.
    pub fn init_params(&self, params: &mut ParamSet, prefix: &str, rng: &mut impl Rng) {
        let names = self.param_names(prefix);
        for l in 0..self.n_layers() {
            let (fan_in, fan_out) = (self.sizes[l], self.sizes[l + 1]);
            let bound = 1.0 / (fan_in as f64).sqrt();
            let zero = self.zero_last && l + 1 == self.n_layers();
            let mask = |i, j| self.masks.get(l).map_or(1.0, |m: &Matrix| m.get(i, j));
            let w = Matrix::from_fn(fan_in, fan_out, |i, j| mask(i, j) * if zero { 0.0 } else { rng.random_range(-bound..bound) });
            let b = Matrix::from_fn(1, fan_out, |_, _| if zero { 0.0 } else { rng.random_range(-bound..bound) });
            params.push(names[2 * l].clone(), &w);
            params.push(names[2 * l + 1].clone(), &b);
        }
    }

    /// x [n, sizes[0]] → [n, sizes.last()]; `p` holds this network's tensors in order.
    pub fn forward(&self, p: &[Tensor<2>], x: Tensor<2>) -> Tensor<2> {
        let mut h = x;
        for l in 0..self.n_layers() {
            let w = match self.mask_tensors.get(l) {
                Some(m) if m.dtype() == p[2 * l].dtype() => p[2 * l].clone().mul(m.clone()),
                Some(m) => p[2 * l].clone().mul(m.clone().cast(p[2 * l].dtype())),
                None => p[2 * l].clone(),
            };
            h = h.matmul(w).add(p[2 * l + 1].clone());
            if l + 1 < self.n_layers() {
                h = self.activation.apply(h);
            }
        }
        h
    }
}
