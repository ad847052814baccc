//! MADE (Germain et al. 2015): an MLP whose weight masks make output block k depend only on
//! inputs 1..k−1, strictly. It is the conditioner of an autoregressive (triangular) flow step:
//! the parameters of coordinate k's 1-D transform are a function of x_{<k}.
use super::{Activation, Mlp, ParamSet};
use crate::matrix::Matrix;
use crate::tensor::Tensor;
use rand::Rng;

#[derive(Clone, Debug)]
pub struct Made {
    pub dim: usize,
    pub out_per_dim: usize,
    mlp: Mlp,
}

/// Degree of input/output coordinate k (0-based) is k + 1; hidden units cycle over 1..d−1 so
/// every degree is represented (degree 0 — no inputs — when d = 1).
fn hidden_degrees(dim: usize, width: usize) -> Vec<usize> {
    (0..width).map(|j| if dim == 1 { 0 } else { j % (dim - 1) + 1 }).collect()
}

impl Made {
    pub fn new(dim: usize, hidden: &[usize], out_per_dim: usize) -> Made {
        let input: Vec<usize> = (1..=dim).collect();
        let output: Vec<usize> = (0..dim * out_per_dim).map(|o| o / out_per_dim + 1).collect();
        let mut degrees = vec![input];
        degrees.extend(hidden.iter().map(|&h| hidden_degrees(dim, h)));
        let mut masks = Vec::new();
        for w in degrees.windows(2) {
            masks.push(Matrix::from_fn(w[0].len(), w[1].len(), |i, j| f64::from(u8::from(w[1][j] >= w[0][i]))));
        }
        let last = degrees.last().expect("degrees has the input layer");
        masks.push(Matrix::from_fn(last.len(), output.len(), |i, j| f64::from(u8::from(output[j] > last[i]))));
        let sizes: Vec<usize> = degrees.iter().map(Vec::len).chain([output.len()]).collect();
        // Zero output layer: every flow step starts as the identity.
        Made { dim, out_per_dim, mlp: Mlp::masked(sizes, Activation::Tanh, masks, true) }
    }

    pub fn n_tensors(&self) -> usize {
        self.mlp.n_tensors()
    }

    pub fn init_params(&self, params: &mut ParamSet, prefix: &str, rng: &mut impl Rng) {
        self.mlp.init_params(params, prefix, rng);
    }

    /// The network itself (for the hand-written passes in `nn::cpu`).
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }

    /// x: [n, d] → parameters [n, d, out_per_dim]; `p` holds this network's tensors in order.
    pub fn forward(&self, p: &[Tensor<2>], x: Tensor<2>) -> Tensor<3> {
        let n = x.dims()[0];
        self.mlp.forward(p, x).reshape([n, self.dim, self.out_per_dim])
    }
}
