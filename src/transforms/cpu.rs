//! The transforms of `spline.rs` / `affine.rs` per element on f32, with hand-derived gradients:
//! the flows' training hot path (tested against autodiff of the tensor versions, which define
//! them). One call handles one coordinate: x, its P parameters θ, and the upstream gradients of
//! the output y and of ℓ = log dy/dx.
use super::TransformKind;
use crate::fastmath::{exp_f32, ln_f32};

pub(super) const MIN_BIN: f32 = 1e-3;
pub(super) const MIN_DERIVATIVE: f32 = 1e-3;
const MIN_SCALE: f32 = 1e-3;
/// softplus(u + C) = 1 − min at u = 0 (see `positive_from_zero_at_one`), for each minimum.
pub(super) fn shift_for(min: f32) -> f32 {
    ((1.0 - f64::from(min)).exp() - 1.0).ln() as f32
}

/// log(1 + eˣ), stable for large |x|. `ln(1 + e)` rather than `ln_1p(e)`: 3× cheaper here, and
/// its absolute error (< 6e-8, at e ≪ 1) is far below the floors these values sit on.
#[inline(always)]
fn softplus(x: f32) -> f32 {
    x.max(0.0) + ln_f32(1.0 + exp_f32(-x.abs()))
}
#[inline(always)]
pub(super) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

impl TransformKind {
    /// Floats per element that the forward pass keeps for the backward pass (the spline's two
    /// softmaxes: the backward pass then needs no exponentials for the knots).
    pub fn tape_len(&self) -> usize {
        match *self {
            TransformKind::Affine => 0,
            TransformKind::Spline { bins, .. } => 2 * bins,
        }
    }

    /// (y, log dy/dx) of one coordinate (log dy/dx only when `log_det`, else 0); fills `tape`
    /// (`tape_len` floats) for `backward_elem`. The flows run the 16-lane version
    /// (`forward_lanes`), which is tested to give exactly these bits: this is its readable
    /// definition, sharing its code with the backward pass.
    pub fn forward_elem(&self, x: f32, theta: &[f32], tape: &mut [f32], log_det: bool) -> (f32, f32) {
        match *self {
            TransformKind::Affine => {
                let s = affine_scale(theta[1]);
                (x * s + theta[0], if log_det { ln_f32(s) } else { 0.0 })
            }
            TransformKind::Spline { bins, tail_bound } => spline(x, theta, bins, tail_bound as f32, Pass::Forward { tape, log_det }).0,
        }
    }

    /// Adds dL/dθ into `g_theta` and returns dL/dx, given gy = dL/dy, gl = dL/dℓ and the tape
    /// `forward_elem` filled.
    #[inline(always)]
    pub fn backward_elem(&self, x: f32, theta: &[f32], tape: &[f32], gy: f32, gl: f32, g_theta: &mut [f32]) -> f32 {
        match *self {
            TransformKind::Affine => {
                let (a, s) = (theta[1] + shift_for(MIN_SCALE), affine_scale(theta[1]));
                g_theta[0] += gy;
                g_theta[1] += (gy * x + gl / s) * sigmoid(a);
                gy * s
            }
            TransformKind::Spline { bins, tail_bound } => spline(x, theta, bins, tail_bound as f32, Pass::Backward { tape, gy, gl, g_theta }).1,
        }
    }
}

enum Pass<'a> {
    Forward { tape: &'a mut [f32], log_det: bool },
    Backward { tape: &'a [f32], gy: f32, gl: f32, g_theta: &'a mut [f32] },
}

/// The softmax of logits u (into `soft`). The exponentials have their own loop so that it
/// vectorises; the sum runs in index order (the lane kernel in `lanes.rs` repeats these exact
/// operations, so both give the same bits).
#[inline(always)]
fn softmax(u: &[f32], soft: &mut [f32]) {
    let max = u.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for (s, &v) in soft.iter_mut().zip(u) {
        *s = exp_f32(v - max);
    }
    let total = soft.iter().fold(0.0f32, |t, &s| t + s);
    soft.iter_mut().for_each(|s| *s /= total);
}

/// Knots −B = k_0 < … < k_K = B from a softmax (floor MIN_BIN, cumsum).
#[inline(always)]
fn knots(soft: &[f32], bound: f32, out: &mut [f32]) {
    let k = soft.len();
    let mut acc = 0.0;
    out[0] = -bound;
    for i in 0..k {
        acc += soft[i] * (1.0 - MIN_BIN * k as f32) + MIN_BIN;
        out[i + 1] = acc * 2.0 * bound - bound;
    }
    out[k] = bound;
}

/// d/du of Σ_k g_k · knot_k, through cumsum and softmax (`soft` = the softmax from `knots`).
#[inline(always)]
fn knots_backward(g_knots: &[f32], soft: &[f32], bound: f32, g_u: &mut [f32]) {
    let k = soft.len();
    // knot_j = −B + 2B Σ_{m<j} w̃_m for j < K (knot_K is clamped to B: no gradient, as the sum
    // of the floored softmax is exactly 1).
    let mut g_w = [0.0f32; 64];
    let mut suffix = 0.0;
    for m in (0..k).rev() {
        if m + 1 < k {
            suffix += g_knots[m + 1];
        }
        g_w[m] = suffix * 2.0 * bound * (1.0 - MIN_BIN * k as f32);
    }
    let dot = (0..k).fold(0.0f32, |t, m| t + soft[m] * g_w[m]);
    for m in 0..k {
        g_u[m] += soft[m] * (g_w[m] - dot);
    }
}

/// The affine transform's scale from its unconstrained parameter u (1 at u = 0, floor MIN_SCALE).
#[inline(always)]
pub(super) fn affine_scale(u: f32) -> f32 {
    softplus(u + shift_for(MIN_SCALE)) + MIN_SCALE
}

/// The derivative at an interior knot from its unconstrained parameter u (`c` = `shift_for`).
#[inline(always)]
pub(super) fn knot_derivative(u: f32, c: f32) -> f32 {
    softplus(u + c) + MIN_DERIVATIVE
}

/// The derivative at knot i of K (1 at the two ends).
#[inline(always)]
fn derivative_at(theta: &[f32], bins: usize, i: usize, c: f32) -> f32 {
    if i == 0 || i == bins { 1.0 } else { knot_derivative(theta[2 * bins + i - 1], c) }
}

/// Eq. (4) of Durkan et al. inside one bin (left knot (x0, y0), width w, height h, end
/// derivatives d0, d1) with the intermediates that eq. (5) and the backward pass reuse.
#[derive(Clone, Copy)]
pub(super) struct Rq {
    s: f32,
    xi_raw: f32,
    xi: f32,
    q: f32,
    den: f32,
    a: f32,
    dnum: f32,
    pub y: f32,
}

/// `Rq::grads`: dL/d(height, d0, d1, width, left knot, x) of one bin.
pub(super) struct RqGrads {
    pub g_h: f32,
    pub g_d0: f32,
    pub g_d1: f32,
    pub g_w: f32,
    pub g_x0: f32,
    pub g_x: f32,
}

impl Rq {
    #[inline(always)]
    pub(super) fn new(x: f32, x0: f32, w: f32, y0: f32, h: f32, d0: f32, d1: f32) -> Rq {
        let s = h / w;
        let xi_raw = (x - x0) / w;
        let xi = xi_raw.clamp(0.0, 1.0);
        let q = xi * (1.0 - xi);
        let den = s + (d1 + d0 - 2.0 * s) * q;
        let a = s * xi * xi + d0 * q;
        let y = y0 + h * a / den;
        let dnum = d1 * xi * xi + 2.0 * s * q + d0 * (1.0 - xi) * (1.0 - xi);
        Rq { s, xi_raw, xi, q, den, a, dnum, y }
    }

    /// The partials of L through this bin, given gy = dL/dy and gl = dL/dℓ: in the bin's height,
    /// end derivatives, width and left knot, and in x (ℓ enters only through its partials).
    #[inline(always)]
    pub(super) fn grads(&self, w: f32, h: f32, d0: f32, d1: f32, gy: f32, gl: f32) -> RqGrads {
        let Rq { s, xi_raw, xi, q, den, a, dnum, .. } = *self;
        // Partials of y and ℓ in (y0, h, s, d0, d1, ξ); s = h/w and ξ = (x − x0)/w follow below.
        let den2 = den * den;
        let dq = 1.0 - 2.0 * xi;
        let g_s = gy * h * (xi * xi * den - a * (1.0 - 2.0 * q)) / den2 + gl * (2.0 / s + 2.0 * q / dnum - 2.0 * (1.0 - 2.0 * q) / den);
        let g_h = gy * a / den + g_s / w;
        let g_d0 = gy * h * q * (den - a) / den2 + gl * ((1.0 - xi) * (1.0 - xi) / dnum - 2.0 * q / den);
        let g_d1 = -gy * h * a * q / den2 + gl * (xi * xi / dnum - 2.0 * q / den);
        let g_xi = gy * h * ((2.0 * s * xi + d0 * dq) * den - a * (d1 + d0 - 2.0 * s) * dq) / den2
            + gl * ((2.0 * d1 * xi + 2.0 * s * dq - 2.0 * d0 * (1.0 - xi)) / dnum - 2.0 * (d1 + d0 - 2.0 * s) * dq / den);
        let g_xi = if (0.0..=1.0).contains(&xi_raw) { g_xi } else { 0.0 };
        let g_w = -g_s * s / w - g_xi * xi_raw / w;
        let g_x0 = -g_xi / w;
        RqGrads { g_h, g_d0, g_d1, g_w, g_x0, g_x: g_xi / w }
    }

    /// ℓ = log dy/dx, eq. (5).
    #[inline(always)]
    pub(super) fn log_derivative(&self) -> f32 {
        2.0 * ln_f32(self.s) + ln_f32(self.dnum) - 2.0 * ln_f32(self.den)
    }
}

/// Eq. (4)–(5) of Durkan et al. for one element, and in the backward pass its gradient.
/// Returns ((y, ℓ), dL/dx).
#[inline(always)]
fn spline(x: f32, theta: &[f32], bins: usize, bound: f32, pass: Pass) -> ((f32, f32), f32) {
    assert!(bins < 64, "at most 63 bins");
    // The two softmaxes: computed into the tape going forward, read back from it going back.
    let (soft, gy, gl, g_theta, want_l): (&[f32], _, _, _, _) = match pass {
        Pass::Forward { tape, log_det } => {
            if x.abs() > bound {
                return ((x, 0.0), 0.0);
            }
            softmax(&theta[..bins], &mut tape[..bins]);
            softmax(&theta[bins..2 * bins], &mut tape[bins..2 * bins]);
            (tape, 0.0, 0.0, None, log_det)
        }
        Pass::Backward { tape, gy, gl, g_theta } => {
            if x.abs() > bound {
                return ((x, 0.0), gy);
            }
            (tape, gy, gl, Some(g_theta), false)
        }
    };
    let (sw, sh) = (&soft[..bins], &soft[bins..2 * bins]);
    let (mut xs, mut ys) = ([0.0f32; 64], [0.0f32; 64]);
    knots(sw, bound, &mut xs[..=bins]);
    knots(sh, bound, &mut ys[..=bins]);
    // Bin k: the number of interior knots ≤ x.
    let k = (1..bins).filter(|&i| x >= xs[i]).count();
    let c = shift_for(MIN_DERIVATIVE);
    let (d0, d1) = (derivative_at(theta, bins, k, c), derivative_at(theta, bins, k + 1, c));
    let (x0, w, y0, h) = (xs[k], xs[k + 1] - xs[k], ys[k], ys[k + 1] - ys[k]);
    let rq = Rq::new(x, x0, w, y0, h, d0, d1);
    // ℓ only where asked: the backward pass needs its partials, not its value.
    let l = if want_l { rq.log_derivative() } else { 0.0 };
    let Some(g_theta) = g_theta else { return ((rq.y, l), 0.0) };
    let RqGrads { g_h, g_d0, g_d1, g_w, g_x0, g_x } = rq.grads(w, h, d0, d1, gy, gl);
    let (mut gxs, mut gys) = ([0.0f32; 64], [0.0f32; 64]);
    gxs[k] += g_x0 - g_w;
    gxs[k + 1] += g_w;
    gys[k] += gy - g_h;
    gys[k + 1] += g_h;
    knots_backward(&gxs[..=bins], sw, bound, &mut g_theta[..bins]);
    knots_backward(&gys[..=bins], sh, bound, &mut g_theta[bins..2 * bins]);
    for (i, g) in [(k, g_d0), (k + 1, g_d1)] {
        if i > 0 && i < bins {
            g_theta[2 * bins + i - 1] += g * sigmoid(theta[2 * bins + i - 1] + c);
        }
    }
    ((rq.y, l), g_x)
}
