//! The thin layer over burn: one CPU device (flex), conversions between `Matrix` and tensors,
//! and the handful of tensor helpers the model code needs, so models read as math.
pub use burn::tensor::{DType, Int, Tensor, TensorData, activation};
use burn::prelude::Device;

use crate::matrix::Matrix;

/// The compute device: burn's pure-Rust CPU backend.
pub fn device() -> Device {
    Device::flex()
}

/// A Matrix as a tensor of the given float dtype (F32 for training, F64 for exact checks).
pub fn from_matrix(m: &Matrix, dtype: DType) -> Tensor<2> {
    from_f64(&m.data, [m.rows, m.cols], dtype)
}

pub fn from_f64<const D: usize>(data: &[f64], shape: [usize; D], dtype: DType) -> Tensor<D> {
    // The dtype must be given at creation: without it burn converts to the device default (f32).
    let t: Tensor<D> = match dtype {
        DType::F64 => Tensor::from_data(TensorData::new(data.to_vec(), shape), (&device(), DType::F64)),
        _ => {
            let v: Vec<f32> = data.iter().map(|&x| x as f32).collect();
            Tensor::from_data(TensorData::new(v, shape), (&device(), DType::F32))
        }
    };
    if t.dtype() == dtype { t } else { t.cast(dtype) }
}

/// All values of a float tensor as f64, whatever its dtype.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    let t = t.without_autodiff();
    match t.dtype() {
        DType::F64 => t.into_data().try_to_vec::<f64>().expect("f64 tensor data"),
        DType::F32 => t.into_data().try_to_vec::<f32>().expect("f32 tensor data").into_iter().map(f64::from).collect(),
        other => t.cast(DType::F64).into_data().try_to_vec::<f64>().unwrap_or_else(|e| panic!("cannot read {other:?} tensor: {e:?}")),
    }
}

pub fn to_matrix(t: Tensor<2>) -> Matrix {
    let [rows, cols] = t.dims();
    Matrix::new(rows, cols, to_vec(t))
}

/// A scalar tensor's value.
pub fn scalar(t: Tensor<1>) -> f64 {
    to_vec(t)[0]
}

/// A constant tensor shaped like `like` (same device and dtype).
pub fn full_like<const D: usize>(like: &Tensor<D>, shape: [usize; D], value: f64) -> Tensor<D> {
    Tensor::full(shape, value, (&like.device(), like.dtype()))
}

/// Standard normal log-density summed over the last axis: −½‖z‖² − (d/2) log 2π.
pub fn std_normal_log_prob(z: Tensor<2>) -> Tensor<1> {
    let d = z.dims()[1] as f64;
    z.square().sum_dim(1).squeeze_dim::<1>(1).mul_scalar(-0.5).sub_scalar(0.5 * d * (2.0 * std::f64::consts::PI).ln())
}
