//! The transforms' forward pass on 16 elements at once, for training and inference alike.
//! `cpu.rs` handles one element at a time, which leaves the vector units idle
//! (a spline with K = 8 bins is a handful of short loops and gathers). Here every quantity is
//! an array over 16 elements ("lanes") and every operation a loop over the lanes, so each is
//! one or two vector instructions; the bin lookup is a select walk over the knots instead of a
//! gather. The operations are those of `cpu.rs` in the same order, so the results are the same
//! bits (tested).
use super::TransformKind;
use super::cpu::{MIN_BIN, MIN_DERIVATIVE, Rq, affine_scale, knot_derivative, shift_for};
use crate::fastmath::{exp_f32, ln_f32};

pub const LANES: usize = 16;
pub type Lanes = [f32; LANES];

/// Per-call buffers of the spline kernel (sized by the number of bins, reused across blocks).
pub struct Scratch {
    soft: Vec<Lanes>,
    xs: Vec<Lanes>,
    ys: Vec<Lanes>,
    deriv: Vec<Lanes>,
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
        Scratch { soft: vec![[0.0; LANES]; 2 * k], xs: vec![[0.0; LANES]; k + 1], ys: vec![[0.0; LANES]; k + 1], deriv: vec![[0.0; LANES]; k + 1] }
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
    let Scratch { soft, xs, ys, deriv } = sc;
    softmax_lanes(&theta[..bins], &mut soft[..bins]);
    softmax_lanes(&theta[bins..2 * bins], &mut soft[bins..2 * bins]);
    knots_lanes(&soft[..bins], bound, xs);
    knots_lanes(&soft[bins..2 * bins], bound, ys);
    // Derivatives at every knot (1 at the ends): K − 1 vector softpluses, cheaper than a gather.
    let c = shift_for(MIN_DERIVATIVE);
    deriv[0] = [1.0; LANES];
    deriv[bins] = [1.0; LANES];
    // (Loops here run over iterators, not indices: bounds checks inside stop the vectoriser.)
    for (dv, u) in deriv[1..bins].iter_mut().zip(&theta[2 * bins..]) {
        for l in 0..LANES {
            dv[l] = knot_derivative(u[l], c);
        }
    }
    // The bin of x: the last interior knot ≤ x (knots increase strictly), walked with selects.
    let (mut x0, mut x1, mut y0, mut y1, mut d0, mut d1) = (xs[0], xs[1], ys[0], ys[1], deriv[0], deriv[1]);
    let walk = xs[1..].windows(2).zip(ys[1..].windows(2)).zip(deriv[1..].windows(2)).take(bins - 1);
    for ((xw, yw), dw) in walk {
        for l in 0..LANES {
            let m = x[l] >= xw[0][l];
            x0[l] = if m { xw[0][l] } else { x0[l] };
            x1[l] = if m { xw[1][l] } else { x1[l] };
            y0[l] = if m { yw[0][l] } else { y0[l] };
            y1[l] = if m { yw[1][l] } else { y1[l] };
            d0[l] = if m { dw[0][l] } else { d0[l] };
            d1[l] = if m { dw[1][l] } else { d1[l] };
        }
    }
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

/// `cpu::softmax` on each lane.
#[inline(always)]
fn softmax_lanes(u: &[Lanes], soft: &mut [Lanes]) {
    let mut max = [f32::NEG_INFINITY; LANES];
    for row in u {
        for l in 0..LANES {
            max[l] = max[l].max(row[l]);
        }
    }
    let mut total = [0.0f32; LANES];
    for (s, row) in soft.iter_mut().zip(u) {
        for l in 0..LANES {
            s[l] = exp_f32(row[l] - max[l]);
            total[l] += s[l];
        }
    }
    for s in soft.iter_mut() {
        for l in 0..LANES {
            s[l] /= total[l];
        }
    }
}

/// `cpu::knots` on each lane.
#[inline(always)]
fn knots_lanes(soft: &[Lanes], bound: f32, out: &mut [Lanes]) {
    let k = soft.len();
    let mut acc = [0.0f32; LANES];
    out[0] = [-bound; LANES];
    for (o, s) in out[1..].iter_mut().zip(soft) {
        for l in 0..LANES {
            acc[l] += s[l] * (1.0 - MIN_BIN * k as f32) + MIN_BIN;
            o[l] = acc[l] * 2.0 * bound - bound;
        }
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
}
