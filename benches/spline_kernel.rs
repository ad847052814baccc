//! Micro-benchmark of the spline lane kernels (`TransformKind::forward_lanes` / `backward_lanes`),
//! the flows' and the flow generator's hot path: nanoseconds per element, K = 8 bins.
//!   cargo bench --bench spline_kernel
use strongid::transforms::{LANES, Lanes, TransformKind};
use std::time::Instant;
strongid::simd_fn! {
    fn run(kind: TransformKind, x: &[Lanes], theta: &[Lanes], per: usize, reps: usize, back: bool) -> f32 {
        let mut sc = kind.lane_scratch();
        let mut acc = 0.0f32;
        let mut g = vec![[0.0f32; LANES]; per];
        let tl = kind.tape_len();
        let mut tape = vec![[0.0f32; LANES]; tl];
        for _ in 0..reps {
            for (b, xb) in x.iter().enumerate() {
                let th = &theta[b * per..(b + 1) * per];
                if back {
                    let gx = kind.backward_lanes(xb, th, &tape, xb, 0.3, &mut g, &mut sc);
                    acc += gx[3] + g[5][2];
                } else {
                    let (y, l) = kind.forward_lanes(xb, th, &mut sc, true);
                    tape.copy_from_slice(&sc.tape()[..tl]);
                    acc += y[3] + l[5];
                }
            }
        }
        acc
    }
}
fn main() {
    let kind = TransformKind::Spline { bins: 8, tail_bound: 4.0 };
    let per = kind.n_params();
    let nb = 400;
    let x: Vec<Lanes> = (0..nb).map(|b| std::array::from_fn(|l| ((b * 16 + l) as f32 * 0.37).sin() * 3.0)).collect();
    let theta: Vec<Lanes> = (0..nb * per).map(|b| std::array::from_fn(|l| ((b * 16 + l) as f32 * 0.71).cos())).collect();
    let reps = 200;
    for back in [false, true] {
        let t = Instant::now();
        let a = run(kind, &x, &theta, per, reps, back);
        let el = (nb * LANES * reps) as f64;
        println!("{} {:.1} ns per element ({a})", if back { "backward" } else { "forward" }, t.elapsed().as_secs_f64() * 1e9 / el);
    }
}
