//! MADE (Germain et al. 2015): an MLP whose weight masks make output block k depend only on
//! inputs 1..k−1, strictly. It is the conditioner of an autoregressive (triangular) flow step:
//! the parameters of coordinate k's 1-D transform are a function of x_{<k}.
use super::ParamSet;
use crate::matrix::Matrix;
use crate::tensor::{DType, Tensor, activation};
use rand::Rng;

#[derive(Clone, Debug)]
pub struct Made {
    pub dim: usize,
    pub hidden: Vec<usize>,
    pub out_per_dim: usize,
    /// One {0,1} mask per linear layer, shaped [fan_in, fan_out] like the weights.
    masks: Vec<Matrix>,
    /// The same masks as f32 tensors, built once.
    mask_tensors: Vec<Tensor<2>>,
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
        let mask_tensors = masks.iter().map(|m| crate::tensor::from_matrix(m, DType::F32)).collect();
        Made { dim, hidden: hidden.to_vec(), out_per_dim, masks, mask_tensors }
    }

    /// Number of parameter tensors (a weight and a bias per layer).
    pub fn n_tensors(&self) -> usize {
        2 * self.masks.len()
    }

    pub fn param_names(&self, prefix: &str) -> Vec<String> {
        (0..self.masks.len())
            .flat_map(|l| [format!("{prefix}.layer{l}.weight"), format!("{prefix}.layer{l}.bias")])
            .collect()
    }

    /// Append this network's parameters: hidden layers uniform(±1/√fan_in) like PyTorch's
    /// default; the output layer zero, so the flow step starts as the identity.
    pub fn init_params(&self, params: &mut ParamSet, prefix: &str, rng: &mut impl Rng) {
        let n_layers = self.masks.len();
        for (l, mask) in self.masks.iter().enumerate() {
            let bound = 1.0 / (mask.rows as f64).sqrt();
            let last = l + 1 == n_layers;
            let mut draw = || if last { 0.0 } else { rng.random_range(-bound..bound) };
            let w = Matrix::from_fn(mask.rows, mask.cols, |i, j| mask.get(i, j) * draw());
            let b = Matrix::from_fn(1, mask.cols, |_, _| draw());
            params.push(format!("{prefix}.layer{l}.weight"), &w);
            params.push(format!("{prefix}.layer{l}.bias"), &b);
            debug_assert_eq!(params.names[params.len() - 2..], self.param_names(prefix)[2 * l..2 * l + 2]);
        }
    }

    /// x: [n, d] → parameters [n, d, out_per_dim]; `p` holds this network's tensors in order.
    pub fn forward(&self, p: &[Tensor<2>], x: Tensor<2>) -> Tensor<3> {
        let n = x.dims()[0];
        let mut h = x;
        let n_layers = self.masks.len();
        for (l, mask) in self.mask_tensors.iter().enumerate() {
            let w = &p[2 * l];
            let m = if mask.dtype() == w.dtype() { mask.clone() } else { mask.clone().cast(w.dtype()) };
            h = h.matmul(w.clone().mul(m)).add(p[2 * l + 1].clone());
            if l + 1 < n_layers {
                h = activation::tanh(h);
            }
        }
        h.reshape([n, self.dim, self.out_per_dim])
    }
}
