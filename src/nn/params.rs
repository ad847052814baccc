//! Named parameters. A model is a value holding a `ParamSet`; training swaps in updated values.
use crate::matrix::Matrix;
use crate::tensor::{self, DType, Tensor};

#[derive(Clone, Debug)]
pub struct ParamSet {
    pub names: Vec<String>,
    pub values: Vec<Tensor<2>>,
}

impl ParamSet {
    pub fn new() -> Self {
        ParamSet { names: Vec::new(), values: Vec::new() }
    }
    /// Append a parameter; returns its index.
    pub fn push(&mut self, name: impl Into<String>, value: &Matrix) -> usize {
        self.names.push(name.into());
        self.values.push(tensor::from_matrix(value, DType::F32));
        self.values.len() - 1
    }
    pub fn len(&self) -> usize {
        self.values.len()
    }
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
    pub fn cast(&self, dtype: DType) -> ParamSet {
        ParamSet { names: self.names.clone(), values: self.values.iter().map(|t| t.clone().cast(dtype)).collect() }
    }
    /// Fresh autodiff leaves that track gradients, one per parameter.
    pub fn leaves(&self) -> Vec<Tensor<2>> {
        self.values.iter().map(|t| t.clone().autodiff().require_grad()).collect()
    }
    pub fn count(&self) -> usize {
        self.values.iter().map(|t| t.dims().iter().product::<usize>()).sum()
    }
    /// Every parameter as (name, matrix), for saving.
    pub fn to_matrices(&self) -> Vec<(String, Matrix)> {
        self.names.iter().cloned().zip(self.values.iter().map(|t| tensor::to_matrix(t.clone()))).collect()
    }
}

impl Default for ParamSet {
    fn default() -> Self {
        Self::new()
    }
}
