//! y = s·x + t, s = softplus(a + c) + 10⁻³ > 0; log dy/dx = log s.
use super::{params_slice, positive_from_zero_at_one};
use crate::tensor::Tensor;

const MIN_SCALE: f64 = 1e-3;

fn shift_scale(p: &Tensor<3>) -> (Tensor<2>, Tensor<2>) {
    let shift = params_slice(p, 0, 1).squeeze_dim::<2>(2);
    let scale = positive_from_zero_at_one(params_slice(p, 1, 1).squeeze_dim::<2>(2), MIN_SCALE);
    (shift, scale)
}

pub fn forward(x: Tensor<2>, p: Tensor<3>) -> (Tensor<2>, Tensor<2>) {
    let (shift, scale) = shift_scale(&p);
    (x.mul(scale.clone()).add(shift), scale.log())
}

pub fn inverse(y: Tensor<2>, p: Tensor<3>) -> Tensor<2> {
    let (shift, scale) = shift_scale(&p);
    y.sub(shift).div(scale)
}
