//! Per-coordinate standardisation of the observations, shared by the flows and the iVAE family
//! (the constants are part of a saved model).
use crate::error::Result;
use crate::matrix::Matrix;
use crate::tensor::{self, Tensor};
use crate::train::TrainConfig;
use serde::{Deserialize, Serialize};

/// Per-coordinate standardisation x' = (x − mean) / sd, fitted on the training data. A
/// diagonal positive affine map is itself TMI, so it keeps the encoder triangular.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardize {
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

impl Standardize {
    /// Fitted on the training rows of x: the split `train::fit_from` will make with `cfg`, so the
    /// validation rows stay unseen.
    pub fn fit_training_rows(x: &Matrix, cfg: &TrainConfig) -> Result<Standardize> {
        let (train_rows, _) = crate::train::split_rows(x.rows, cfg.val_fraction, cfg.split_seed)?;
        Ok(Standardize::fit(&x.select_rows(&train_rows)))
    }
    pub fn fit(x: &Matrix) -> Standardize {
        let n = x.rows as f64;
        let mut mean = vec![0.0; x.cols];
        let mut sd = vec![0.0; x.cols];
        for j in 0..x.cols {
            let col = x.col(j);
            mean[j] = col.iter().sum::<f64>() / n;
            let var = col.iter().map(|v| (v - mean[j]).powi(2)).sum::<f64>() / n;
            sd[j] = if var > 0.0 { var.sqrt() } else { 1.0 };
        }
        Standardize { mean, sd }
    }
    /// (x − mean) / sd, row by row.
    pub fn apply(&self, x: &Matrix) -> Matrix {
        Matrix::from_fn(x.rows, x.cols, |i, j| (x.get(i, j) - self.mean[j]) / self.sd[j])
    }
    /// mean + sd · x: back to data units.
    pub fn invert(&self, x: &Matrix) -> Matrix {
        Matrix::from_fn(x.rows, x.cols, |i, j| self.mean[j] + self.sd[j] * x.get(i, j))
    }
    pub fn identity(dim: usize) -> Standardize {
        Standardize { mean: vec![0.0; dim], sd: vec![1.0; dim] }
    }
    pub(crate) fn tensors(&self, like: &Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let d = self.mean.len();
        (tensor::from_f64(&self.mean, [1, d], like.dtype()), tensor::from_f64(&self.sd, [1, d], like.dtype()))
    }
    pub(crate) fn log_det(&self) -> f64 {
        -self.sd.iter().map(|s| s.ln()).sum::<f64>()
    }
}
