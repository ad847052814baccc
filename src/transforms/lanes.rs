//! The transforms' forward pass on 16 elements at once, for training and inference alike.
//! `cpu.rs` handles one element at a time, which leaves the vector units idle
//! (a spline with K = 8 bins is a handful of short loops and gathers). Here every quantity is
//! an array over 16 elements ("lanes") and every operation a loop over the lanes, so each is
//! one or two vector instructions; the bin lookup is a select walk over the knots instead of a
//! gather. The operations are those of `cpu.rs` in the same order, so the results are the same
//! bits (tested).
use super::TransformKind;
use super::cpu::{MIN_BIN, MIN_DERIVATIVE, Rq, RqGrads, affine_scale, knot_derivative, shift_for, sigmoid};
use crate::fastmath::{exp_f32, ln_f32};

pub const LANES: usize = 16;
pub type Lanes = [f32; LANES];

/// Per-call buffers of the spline kernel (sized by the number of bins, reused across blocks).
pub struct Scratch {
    soft: Vec<Lanes>,
    xs: Vec<Lanes>,
    ys: Vec<Lanes>,
    /// The backward pass's gradient in the knots.
    g_knots: Vec<Lanes>,
}

impl Scratch {
    /// After a `forward_lanes` call: what `forward_elem` leaves in its tape, per tape slot a lane
    /// array (the spline's two softmaxes; nothing for the affine transform).
    pub fn tape(&self) -> &[Lanes] {
        &self.soft
    }
}

impl TransformKind {
    pub fn lane_scratch(&self) -> Scratch {
        let k = match *self {
            TransformKind::Affine => 0,
            TransformKind::Spline { bins, .. } => bins,
        };
        Scratch { soft: vec![[0.0; LANES]; 2 * k], xs: vec![[0.0; LANES]; k + 1], ys: vec![[0.0; LANES]; k + 1], g_knots: vec![[0.0; LANES]; k + 1] }
    }

    /// (y, log dy/dx) of 16 elements: x[l] with parameters theta[p][l] (ℓ only when `log_det`,
    /// else 0). Same values as `forward_elem` on each lane.
    #[inline(always)]
    pub fn forward_lanes(&self, x: &Lanes, theta: &[Lanes], scratch: &mut Scratch, log_det: bool) -> (Lanes, Lanes) {
        match *self {
            TransformKind::Affine => {
                let (mut y, mut l) = ([0.0; LANES], [0.0; LANES]);
                for i in 0..LANES {
                    let s = affine_scale(theta[1][i]);
                    y[i] = x[i] * s + theta[0][i];
                    l[i] = if log_det { ln_f32(s) } else { 0.0 };
                }
                (y, l)
            }
            TransformKind::Spline { bins, tail_bound } => spline_lanes(x, theta, bins, tail_bound as f32, scratch, log_det),
        }
    }
}

#[inline(always)]
fn spline_lanes(x: &Lanes, theta: &[Lanes], bins: usize, bound: f32, sc: &mut Scratch, log_det: bool) -> (Lanes, Lanes) {
    let Scratch { soft, xs, ys, .. } = sc;
    softmax_lanes(&theta[..bins], &mut soft[..bins]);
    softmax_lanes(&theta[bins..2 * bins], &mut soft[bins..2 * bins]);
    knots_lanes(&soft[..bins], bound, xs);
    knots_lanes(&soft[bins..2 * bins], bound, ys);
    let Bin { x0, x1, y0, y1, d0, d1, .. } = bin_lanes(x, xs, ys, &theta[2 * bins..], bins);
    let (mut y, mut ld) = ([0.0; LANES], [0.0; LANES]);
    let rq = |l: usize| Rq::new(x[l], x0[l], x1[l] - x0[l], y0[l], y1[l] - y0[l], d0[l], d1[l]);
    // Outside [−B, B] the map is the identity (linear tails).
    let inside = |l: usize| x[l].abs() <= bound;
    if log_det {
        for l in 0..LANES {
            let rq = rq(l);
            y[l] = if inside(l) { rq.y } else { x[l] };
            ld[l] = if inside(l) { rq.log_derivative() } else { 0.0 };
        }
    } else {
        for l in 0..LANES {
            y[l] = if inside(l) { rq(l).y } else { x[l] };
        }
    }
    (y, ld)
}

impl TransformKind {
    /// The spline's backward pass on 16 elements: `backward_elem` on each lane, the same bits
    /// (tested). `tape` is what `forward_lanes` left (`Scratch::tape`), `gy` = dL/dy, `gl` = dL/dℓ;
    /// adds dL/dθ into `g_theta` (which must hold exact zeros where nothing is added, as the
    /// scalar pass's fresh buffer does) and returns dL/dx. Affine: use `backward_elem`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn backward_lanes(&self, x: &Lanes, theta: &[Lanes], tape: &[Lanes], gy: &Lanes, gl: f32, g_theta: &mut [Lanes], sc: &mut Scratch) -> Lanes {
        let TransformKind::Spline { bins, tail_bound } = *self else { panic!("backward_lanes is the spline's") };
        spline_backward_lanes(x, theta, tape, gy, gl, bins, tail_bound as f32, g_theta, sc)
    }
}

/// The scalar `cpu::spline` backward pass with every quantity an array over the lanes; the bin
/// is found by the same select walk as the forward pass, and the two scatters into the bin's
/// knots become selects over all knots.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn spline_backward_lanes(x: &Lanes, theta: &[Lanes], tape: &[Lanes], gy: &Lanes, gl: f32, bins: usize, bound: f32, g_theta: &mut [Lanes], sc: &mut Scratch) -> Lanes {
    let Scratch { xs, ys, g_knots, .. } = sc;
    let (sw, sh) = (&tape[..bins], &tape[bins..2 * bins]);
    knots_lanes(sw, bound, xs);
    knots_lanes(sh, bound, ys);
    let Bin { x0, x1, y0, y1, d0, d1, u0, u1, k } = bin_lanes(x, xs, ys, &theta[2 * bins..], bins);
    let c = shift_for(MIN_DERIVATIVE);
    let last = (bins - 1) as f32;
    let mut g_x = [0.0f32; LANES];
    // dL/d(left knot, right knot) in x and in y, and the derivative terms, per lane.
    let (mut gx0, mut gx1, mut gy0, mut gy1, mut gd0, mut gd1) = ([0.0f32; LANES], [0.0f32; LANES], [0.0f32; LANES], [0.0f32; LANES], [0.0f32; LANES], [0.0f32; LANES]);
    for l in 0..LANES {
        let (w, h) = (x1[l] - x0[l], y1[l] - y0[l]);
        let rq = Rq::new(x[l], x0[l], w, y0[l], h, d0[l], d1[l]);
        let RqGrads { g_h, g_d0, g_d1, g_w, g_x0, g_x: gx } = rq.grads(w, h, d0[l], d1[l], gy[l], gl);
        let inside = x[l].abs() <= bound;
        g_x[l] = if inside { gx } else { gy[l] };
        // Outside the tails nothing flows to θ (selects, not products: a product could be NaN).
        gx0[l] = if inside { g_x0 - g_w } else { 0.0 };
        gx1[l] = if inside { g_w } else { 0.0 };
        gy0[l] = if inside { gy[l] - g_h } else { 0.0 };
        gy1[l] = if inside { g_h } else { 0.0 };
        gd0[l] = if inside && k[l] > 0.0 { g_d0 * sigmoid(u0[l] + c) } else { 0.0 };
        gd1[l] = if inside && k[l] < last { g_d1 * sigmoid(u1[l] + c) } else { 0.0 };
    }
    // Scatter into the knots (0 + a + 0 = a: the scalar pass's `+=` into zeros, bit for bit).
    for (pair, (g_left, g_right, soft)) in [(gx0, gx1, sw), (gy0, gy1, sh)].into_iter().enumerate() {
        for (i, gk) in g_knots.iter_mut().enumerate() {
            let fi = i as f32;
            for l in 0..LANES {
                let a = if k[l] == fi { g_left[l] } else { 0.0 };
                let b = if k[l] + 1.0 == fi { g_right[l] } else { 0.0 };
                gk[l] = (0.0 + a) + b;
            }
        }
        knots_backward_lanes(g_knots, soft, bound, &mut g_theta[pair * bins..(pair + 1) * bins]);
    }
    for (i, gt) in g_theta[2 * bins..].iter_mut().enumerate() {
        let fi = (i + 1) as f32;
        for l in 0..LANES {
            let v = if k[l] == fi { gd0[l] } else if k[l] + 1.0 == fi { gd1[l] } else { 0.0 };
            gt[l] += v;
        }
    }
    g_x
}

/// The bin of each lane's x and what the spline needs of it.
struct Bin {
    x0: Lanes,
    x1: Lanes,
    y0: Lanes,
    y1: Lanes,
    /// The derivatives at knots k and k + 1 (1 at the ends).
    d0: Lanes,
    d1: Lanes,
    /// The raw parameters of those derivatives (meaningful only where the knots are interior).
    u0: Lanes,
    u1: Lanes,
    /// k, as a float (exact: k < 64).
    k: Lanes,
}

/// The bin k of x: the last interior knot ≤ x (knots increase strictly), walked with selects
/// instead of a gather; `du`: the K − 1 interior derivatives' raw parameters, of which only the
/// bin's two are mapped to derivatives (2 softpluses, not K − 1).
#[inline(always)]
fn bin_lanes(x: &Lanes, xs: &[Lanes], ys: &[Lanes], du: &[Lanes], bins: usize) -> Bin {
    let (mut x0, mut x1, mut y0, mut y1) = (xs[0], xs[1], ys[0], ys[1]);
    let first = du.first().copied().unwrap_or([0.0; LANES]);
    let (mut u0, mut u1, mut k) = (first, first, [0.0f32; LANES]);
    for i in 1..bins {
        let (xw, yw, fi) = ((&xs[i], &xs[i + 1]), (&ys[i], &ys[i + 1]), i as f32);
        let (ua, ub) = (&du[i - 1], &du[i.min(bins - 2)]);
        for l in 0..LANES {
            let m = x[l] >= xw.0[l];
            x0[l] = select(m, xw.0[l], x0[l]);
            x1[l] = select(m, xw.1[l], x1[l]);
            y0[l] = select(m, yw.0[l], y0[l]);
            y1[l] = select(m, yw.1[l], y1[l]);
            u0[l] = select(m, ua[l], u0[l]);
            u1[l] = select(m, ub[l], u1[l]);
            k[l] = select(m, fi, k[l]);
        }
    }
    let (c, last) = (shift_for(MIN_DERIVATIVE), (bins - 1) as f32);
    let (mut d0, mut d1) = ([0.0f32; LANES], [0.0f32; LANES]);
    for l in 0..LANES {
        d0[l] = if k[l] == 0.0 { 1.0 } else { knot_derivative(u0[l], c) };
        d1[l] = if k[l] == last { 1.0 } else { knot_derivative(u1[l], c) };
    }
    Bin { x0, x1, y0, y1, d0, d1, u0, u1, k }
}

/// `if m { a } else { b }` as bit operations: both values are loaded, so the compiler emits a
/// blend, not the masked loads (slow) it otherwise chooses for the conditional read.
#[inline(always)]
fn select(m: bool, a: f32, b: f32) -> f32 {
    let mask = 0u32.wrapping_sub(u32::from(m));
    f32::from_bits((a.to_bits() & mask) | (b.to_bits() & !mask))
}

/// `cpu::knots_backward` on each lane.
#[inline(always)]
fn knots_backward_lanes(g_knots: &[Lanes], soft: &[Lanes], bound: f32, g_u: &mut [Lanes]) {
    let k = soft.len();
    // (Whole-array updates: per-lane `+=` on an accumulator array is left scalar by the compiler.)
    let mut g_w = [[0.0f32; LANES]; 64];
    let mut suffix = [0.0f32; LANES];
    for m in (0..k).rev() {
        if m + 1 < k {
            suffix = std::array::from_fn(|l| suffix[l] + g_knots[m + 1][l]);
        }
        g_w[m] = std::array::from_fn(|l| suffix[l] * 2.0 * bound * (1.0 - MIN_BIN * k as f32));
    }
    let mut dot = [0.0f32; LANES];
    for (s, w) in soft.iter().zip(&g_w) {
        dot = std::array::from_fn(|l| dot[l] + s[l] * w[l]);
    }
    for ((g, s), w) in g_u.iter_mut().zip(soft).zip(&g_w) {
        *g = std::array::from_fn(|l| g[l] + s[l] * (w[l] - dot[l]));
    }
}

/// `cpu::softmax` on each lane.
#[inline(always)]
fn softmax_lanes(u: &[Lanes], soft: &mut [Lanes]) {
    let mut max = [f32::NEG_INFINITY; LANES];
    for row in u {
        max = std::array::from_fn(|l| max[l].max(row[l]));
    }
    let mut total = [0.0f32; LANES];
    for (s, row) in soft.iter_mut().zip(u) {
        for l in 0..LANES {
            s[l] = exp_f32(row[l] - max[l]);
        }
        total = std::array::from_fn(|l| total[l] + s[l]);
    }
    for s in soft.iter_mut() {
        *s = std::array::from_fn(|l| s[l] / total[l]);
    }
}

/// `cpu::knots` on each lane.
#[inline(always)]
fn knots_lanes(soft: &[Lanes], bound: f32, out: &mut [Lanes]) {
    let k = soft.len();
    let mut acc = [0.0f32; LANES];
    out[0] = [-bound; LANES];
    for (o, s) in out[1..].iter_mut().zip(soft) {
        acc = std::array::from_fn(|l| acc[l] + (s[l] * (1.0 - MIN_BIN * k as f32) + MIN_BIN));
        *o = std::array::from_fn(|l| acc[l] * 2.0 * bound - bound);
    }
    out[k] = [bound; LANES];
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every lane equals `forward_elem` on that element, bit for bit, for both transforms,
    /// several bin counts, inputs inside and outside the tails and extreme parameters.
    #[test]
    fn lanes_match_the_scalar_transform_bitwise() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let kinds = [TransformKind::Affine, TransformKind::Spline { bins: 1, tail_bound: 3.0 }, TransformKind::Spline { bins: 8, tail_bound: 4.0 }, TransformKind::Spline { bins: 21, tail_bound: 2.5 }];
        for kind in kinds {
            let per = kind.n_params();
            let mut scratch = kind.lane_scratch();
            for block in 0..200 {
                let scale = if block % 10 == 0 { 40.0 } else { 3.0 };
                let x: Lanes = std::array::from_fn(|_| rng.random_range(-6.0f32..6.0));
                let theta: Vec<Lanes> = (0..per).map(|_| std::array::from_fn(|_| rng.random_range(-scale..scale))).collect();
                for log_det in [true, false] {
                    let (y, ld) = kind.forward_lanes(&x, &theta, &mut scratch, log_det);
                    for l in 0..LANES {
                        let th: Vec<f32> = theta.iter().map(|t| t[l]).collect();
                        let mut tape = vec![0.0; kind.tape_len()];
                        let (ys, lds) = kind.forward_elem(x[l], &th, &mut tape, log_det);
                        assert_eq!((y[l].to_bits(), ld[l].to_bits()), (ys.to_bits(), lds.to_bits()), "{kind:?} lane {l} x {}", x[l]);
                        // The tape, where the scalar pass writes one (inside the tail bound).
                        if tape.iter().any(|&v| v != 0.0) {
                            let lane_tape: Vec<f32> = scratch.tape().iter().map(|t| t[l]).collect();
                            assert_eq!(lane_tape, tape, "{kind:?} lane {l} tape");
                        }
                    }
                }
            }
        }
    }

    /// The spline's lane backward pass equals `backward_elem` on every lane, bit for bit: dL/dx
    /// and every dL/dθ, inside and outside the tails, with extreme parameters.
    #[test]
    fn backward_lanes_match_the_scalar_pass_bitwise() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        for kind in [TransformKind::Spline { bins: 2, tail_bound: 3.0 }, TransformKind::Spline { bins: 8, tail_bound: 4.0 }, TransformKind::Spline { bins: 21, tail_bound: 2.5 }] {
            let per = kind.n_params();
            let mut scratch = kind.lane_scratch();
            for block in 0..300 {
                let scale = if block % 10 == 0 { 40.0 } else { 3.0 };
                let x: Lanes = std::array::from_fn(|_| rng.random_range(-6.0f32..6.0));
                let gy: Lanes = std::array::from_fn(|_| rng.random_range(-2.0f32..2.0));
                let gl = rng.random_range(-1.0f32..1.0);
                let theta: Vec<Lanes> = (0..per).map(|_| std::array::from_fn(|_| rng.random_range(-scale..scale))).collect();
                kind.forward_lanes(&x, &theta, &mut scratch, true);
                let tape = scratch.tape().to_vec();
                let mut g_theta = vec![[0.0f32; LANES]; per];
                let gx = kind.backward_lanes(&x, &theta, &tape, &gy, gl, &mut g_theta, &mut scratch);
                for l in 0..LANES {
                    let th: Vec<f32> = theta.iter().map(|t| t[l]).collect();
                    let mut t = vec![0.0; kind.tape_len()];
                    kind.forward_elem(x[l], &th, &mut t, true);
                    let mut g = vec![0.0f32; per];
                    let gxs = kind.backward_elem(x[l], &th, &t, gy[l], gl, &mut g);
                    assert_eq!(gx[l].to_bits(), gxs.to_bits(), "{kind:?} lane {l} x {}: dL/dx", x[l]);
                    let lane: Vec<u32> = g_theta.iter().map(|v| v[l].to_bits()).collect();
                    assert_eq!(lane, g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{kind:?} lane {l} x {}: dL/dθ", x[l]);
                }
            }
        }
    }
}
