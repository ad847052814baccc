//! Monotone rational-quadratic spline with linear (identity) tails: Durkan, Bekasov, Murray,
//! Papamakarios, "Neural Spline Flows", NeurIPS 2019, eqs. (4)–(6) and App. A (inverse).
//! K bins on [−B, B]; knot widths and heights from softmaxes, interior derivatives from
//! softplus, boundary derivatives 1 so the map is C¹ and equals the identity outside.
use super::{params_slice, positive_from_zero_at_one};
use crate::tensor::{Int, Tensor, activation};

const MIN_BIN: f64 = 1e-3;
const MIN_DERIVATIVE: f64 = 1e-3;

/// Knot positions xs, ys and derivatives ds, each [n, d, K+1].
struct Knots {
    xs: Tensor<3>,
    ys: Tensor<3>,
    ds: Tensor<3>,
}

fn knot_positions(u: Tensor<3>, bins: usize, bound: f64) -> Tensor<3> {
    let [n, d, _] = u.dims();
    let widths = activation::softmax(u, 2).mul_scalar(1.0 - MIN_BIN * bins as f64).add_scalar(MIN_BIN);
    let zero = Tensor::zeros([n, d, 1], (&widths.device(), widths.dtype()));
    Tensor::cat(vec![zero, widths.cumsum(2)], 2).mul_scalar(2.0 * bound).sub_scalar(bound)
}

impl Knots {
    fn new(p: &Tensor<3>, bins: usize, bound: f64) -> Knots {
        let [n, d, _] = p.dims();
        let xs = knot_positions(params_slice(p, 0, bins), bins, bound);
        let ys = knot_positions(params_slice(p, bins, bins), bins, bound);
        let inner = positive_from_zero_at_one(params_slice(p, 2 * bins, bins - 1), MIN_DERIVATIVE);
        let one = Tensor::ones([n, d, 1], (&inner.device(), inner.dtype()));
        let ds = Tensor::cat(vec![one.clone(), inner, one], 2);
        Knots { xs, ys, ds }
    }
}

/// Index of the bin holding v (clamped to [−B, B]): the number of interior knots ≤ v.
fn bin_index(knots: &Tensor<3>, v: &Tensor<3>, bins: usize) -> Tensor<3, Int> {
    let [n, d, _] = knots.dims();
    let interior = knots.clone().narrow(2, 1, bins - 1);
    v.clone().expand([n, d, bins - 1]).greater_equal(interior).int().sum_dim(2)
}

/// Per-element quantities of the bin holding each value: (x_k, w_k, y_k, h_k, δ_k, δ_{k+1}).
struct Bin {
    x0: Tensor<3>,
    w: Tensor<3>,
    y0: Tensor<3>,
    h: Tensor<3>,
    d0: Tensor<3>,
    d1: Tensor<3>,
}

impl Bin {
    fn gather(k: &Knots, idx: Tensor<3, Int>) -> Bin {
        let next = idx.clone().add_scalar(1);
        let x0 = k.xs.clone().gather(2, idx.clone());
        let y0 = k.ys.clone().gather(2, idx.clone());
        Bin {
            w: k.xs.clone().gather(2, next.clone()).sub(x0.clone()),
            h: k.ys.clone().gather(2, next.clone()).sub(y0.clone()),
            d0: k.ds.clone().gather(2, idx),
            d1: k.ds.clone().gather(2, next),
            x0,
            y0,
        }
    }
}

pub fn forward(x: Tensor<2>, p: Tensor<3>, bins: usize, bound: f64) -> (Tensor<2>, Tensor<2>) {
    let k = Knots::new(&p, bins, bound);
    let inside = x.clone().abs().lower_equal_elem(bound);
    let xc = x.clone().clamp(-bound, bound).unsqueeze_dim::<3>(2);
    let b = Bin::gather(&k, bin_index(&k.xs, &xc, bins));
    let s = b.h.clone().div(b.w.clone());
    let xi = xc.sub(b.x0).div(b.w).clamp(0.0, 1.0);
    let xi_1m = xi.clone().neg().add_scalar(1.0);
    let xi_mix = xi.clone().mul(xi_1m.clone());
    // Eq. (4): y = y_k + h_k [s ξ² + δ_k ξ(1−ξ)] / [s + (δ_{k+1} + δ_k − 2s) ξ(1−ξ)].
    let den = s.clone().add(b.d1.clone().add(b.d0.clone()).sub(s.clone().mul_scalar(2.0)).mul(xi_mix.clone()));
    let num = b.h.mul(s.clone().mul(xi.clone().square()).add(b.d0.clone().mul(xi_mix.clone())));
    let y = b.y0.add(num.div(den.clone()));
    // Eq. (5): dy/dx = s² [δ_{k+1} ξ² + 2 s ξ(1−ξ) + δ_k (1−ξ)²] / den².
    let dnum = b.d1.mul(xi.square()).add(s.clone().mul(xi_mix).mul_scalar(2.0)).add(b.d0.mul(xi_1m.square()));
    let logd = s.log().mul_scalar(2.0).add(dnum.log()).sub(den.log().mul_scalar(2.0));
    let y = x.mask_where(inside.clone(), y.squeeze_dim::<2>(2));
    let zeros = y.zeros_like();
    let logd = zeros.mask_where(inside, logd.squeeze_dim::<2>(2));
    (y, logd)
}

pub fn inverse(y: Tensor<2>, p: Tensor<3>, bins: usize, bound: f64) -> Tensor<2> {
    let k = Knots::new(&p, bins, bound);
    let inside = y.clone().abs().lower_equal_elem(bound);
    let yc = y.clone().clamp(-bound, bound).unsqueeze_dim::<3>(2);
    let b = Bin::gather(&k, bin_index(&k.ys, &yc, bins));
    let s = b.h.clone().div(b.w.clone());
    let dy = yc.sub(b.y0);
    // App. A: ξ solves a ξ² + b ξ + c = 0; the root in [0, 1] is 2c / (−b − √(b² − 4ac)).
    let sum = b.d1.add(b.d0.clone()).sub(s.clone().mul_scalar(2.0));
    let qa = b.h.clone().mul(s.clone().sub(b.d0.clone())).add(dy.clone().mul(sum.clone()));
    let qb = b.h.mul(b.d0).sub(dy.clone().mul(sum));
    let qc = s.mul(dy).neg();
    let disc = qb.clone().square().sub(qa.mul(qc.clone()).mul_scalar(4.0)).clamp_min(0.0);
    let xi = qc.mul_scalar(2.0).div(qb.neg().sub(disc.sqrt())).clamp(0.0, 1.0);
    let x = b.x0.add(xi.mul(b.w));
    y.mask_where(inside, x.squeeze_dim::<2>(2))
}
