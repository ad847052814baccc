//! Strictly increasing 1-D transforms, applied element-wise with per-element parameters
//! produced by a conditioner. Each provides forward-with-log-derivative and an analytic inverse;
//! both are onto R, as Thm 5.1's TMI maps require.
mod affine;
mod cpu;
mod lanes;
mod spline;

pub use lanes::{LANES, Lanes, Scratch};

use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum TransformKind {
    /// y = s·x + t with s = softplus(a) > 0.
    Affine,
    /// Monotone rational-quadratic spline on [−B, B] with identity tails (Durkan et al. 2019).
    Spline { bins: usize, tail_bound: f64 },
}

impl TransformKind {
    /// Parameters per coordinate.
    pub fn n_params(&self) -> usize {
        match self {
            TransformKind::Affine => 2,
            TransformKind::Spline { bins, .. } => 3 * bins - 1,
        }
    }

    /// x, params [n, d, P] → (y, log dy/dx), both [n, d].
    pub fn forward(&self, x: Tensor<2>, p: Tensor<3>) -> (Tensor<2>, Tensor<2>) {
        match *self {
            TransformKind::Affine => affine::forward(x, p),
            TransformKind::Spline { bins, tail_bound } => spline::forward(x, p, bins, tail_bound),
        }
    }

    /// The analytic inverse: y, params [n, d, P] → x.
    pub fn inverse(&self, y: Tensor<2>, p: Tensor<3>) -> Tensor<2> {
        match *self {
            TransformKind::Affine => affine::inverse(y, p),
            TransformKind::Spline { bins, tail_bound } => spline::inverse(y, p, bins, tail_bound),
        }
    }
}

/// Element-wise softplus(u + c) + min, with c chosen so that u = 0 gives exactly 1: a positive
/// quantity that starts at the identity when the conditioner's output layer is zero.
pub(crate) fn positive_from_zero_at_one<const D: usize>(u: Tensor<D>, min: f64) -> Tensor<D> {
    let c = ((1.0 - min).exp() - 1.0).ln();
    crate::tensor::activation::softplus(u.add_scalar(c), 1.0).add_scalar(min)
}

/// Parameter slice `[.., .., start..start+len]` of a [n, d, P] tensor.
pub(crate) fn params_slice(p: &Tensor<3>, start: usize, len: usize) -> Tensor<3> {
    p.clone().narrow(2, start, len)
}
