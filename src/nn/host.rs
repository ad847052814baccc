//! Parameters as plain f32 buffers: what the optimiser updates and what hand-written kernels read.
//! Converted to burn tensors only where the autodiff path needs them.
use crate::tensor::{self, DType, Tensor, TensorData};

#[derive(Clone, Debug, PartialEq)]
pub struct HostParams {
    /// [rows, cols] of each parameter (row-major).
    pub shapes: Vec<[usize; 2]>,
    pub values: Vec<Vec<f32>>,
}

impl HostParams {
    pub fn from_tensors(ts: &[Tensor<2>]) -> HostParams {
        let shapes = ts.iter().map(|t| t.dims()).collect();
        let values = ts
            .iter()
            .map(|t| {
                let t = t.clone().without_autodiff();
                let t = if t.dtype() == DType::F32 { t } else { t.cast(DType::F32) };
                t.into_data().try_into_vec::<f32>().expect("f32 tensor data")
            })
            .collect();
        HostParams { shapes, values }
    }

    /// Plain f32 tensors (no autodiff).
    pub fn tensors(&self) -> Vec<Tensor<2>> {
        self.values
            .iter()
            .zip(&self.shapes)
            .map(|(v, &s)| Tensor::from_data(TensorData::new(v.clone(), s), (&tensor::device(), DType::F32)))
            .collect()
    }

    pub fn zeros_like(&self) -> Vec<Vec<f32>> {
        self.values.iter().map(|v| vec![0.0; v.len()]).collect()
    }
}
