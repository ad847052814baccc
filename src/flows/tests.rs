//! Generic checks run over every transform and both orderings: inverse round trip, strict
//! monotonicity, triangular Jacobian (finite differences) and exact log-determinant.
use super::*;
use crate::simulate::standard_normal;
use crate::train::stream;
use rand_distr::{Distribution, Normal};

const DIM: usize = 4;

fn configs() -> Vec<FlowConfig> {
    let mut out = Vec::new();
    for transform in [TransformKind::Affine, TransformKind::Spline { bins: 6, tail_bound: 3.0 }] {
        for triangular in [true, false] {
            out.push(FlowConfig { dim: DIM, layers: 3, hidden: 16, hidden_layers: 2, transform, triangular, linear: false });
            if !triangular {
                out.push(FlowConfig { dim: DIM, layers: 3, hidden: 16, hidden_layers: 2, transform, triangular, linear: true });
            }
        }
    }
    out
}

/// A flow with every parameter random (not the identity it starts as), masks still applied.
/// `scale` sets how rough the map is: 0.4 gives steep bins and derivatives near 1e-1..1e1.
fn random_flow_scaled(config: FlowConfig, seed: u64, scale: f64) -> Flow {
    let standardize = Standardize { mean: vec![0.3, -0.2, 0.1, 0.5], sd: vec![1.5, 0.7, 1.1, 2.0] };
    let mut flow = Flow::new(config, standardize, &mut stream(seed, 0));
    let mut rng = stream(seed, 1);
    let normal = Normal::new(0.0, scale).unwrap();
    flow.params.values = flow
        .params
        .values
        .iter()
        .map(|t| {
            let [r, c] = t.dims();
            tensor::from_matrix(&Matrix::from_fn(r, c, |_, _| normal.sample(&mut rng)), DType::F32)
        })
        .collect();
    flow
}

fn random_flow(config: FlowConfig, seed: u64) -> Flow {
    random_flow_scaled(config, seed, 0.4)
}

/// Latent points: bulk, wide tails, and far beyond any spline's tail bound.
fn test_points(n: usize) -> Matrix {
    let mut z = standard_normal(n, DIM, &mut stream(9, 0));
    for i in 0..n {
        let factor = match i % 10 {
            0 => 3.0,
            1 => 6.0,
            _ => 1.0,
        };
        for j in 0..DIM {
            z.set(i, j, z.get(i, j) * factor);
        }
    }
    z
}

#[test]
fn encode_inverts_generate_in_f32() {
    // A moderately rough random map: f32 rounding in early coordinates is amplified through the
    // conditioners, so very rough maps lose more than 1e-4 in f32 (but not in f64, below).
    let z = test_points(10_000);
    for (i, cfg) in configs().into_iter().enumerate() {
        let flow = random_flow_scaled(cfg.clone(), i as u64, 0.25);
        let x = flow.generate(&z);
        let back = flow.encode(&x);
        let err = z.max_abs_diff(&back);
        assert!(err < 1e-4, "{cfg:?}: round-trip error {err}");
    }
}

#[test]
fn encode_inverts_generate_exactly_in_f64() {
    let z = test_points(2_000);
    for (i, cfg) in configs().into_iter().enumerate() {
        let flow = random_flow(cfg.clone(), i as u64).cast(DType::F64);
        let back = flow.encode(&flow.generate(&z));
        let err = z.max_abs_diff(&back);
        assert!(err < 1e-9, "{cfg:?}: round-trip error {err}");
    }
}

/// Central-difference Jacobian of the encoder at one point, in f64.
fn fd_jacobian(flow: &Flow, x: &[f64]) -> Matrix {
    let h = 1e-5;
    let mut rows = Vec::new();
    for j in 0..DIM {
        for sign in [1.0, -1.0] {
            let mut p = x.to_vec();
            p[j] += sign * h;
            rows.push(p);
        }
    }
    let pts = Matrix::new(rows.len(), DIM, rows.concat());
    let z = flow.encode(&pts);
    Matrix::from_fn(DIM, DIM, |i, j| (z.get(2 * j, i) - z.get(2 * j + 1, i)) / (2.0 * h))
}

fn analytic_log_det(flow: &Flow, x: &Matrix) -> Vec<f64> {
    tensor::to_vec(flow.forward_with(&flow.params.values, tensor::from_matrix(x, DType::F64)).1)
}

#[test]
fn jacobian_is_lower_triangular_and_log_det_is_exact() {
    let points = standard_normal(25, DIM, &mut stream(3, 0));
    for (i, cfg) in configs().into_iter().enumerate() {
        let flow = random_flow(cfg.clone(), 100 + i as u64).cast(DType::F64);
        let log_dets = analytic_log_det(&flow, &points);
        let mut max_upper: f64 = 0.0;
        for p in 0..points.rows {
            let jac = fd_jacobian(&flow, points.row(p));
            for r in 0..DIM {
                for c in r + 1..DIM {
                    max_upper = max_upper.max(jac.get(r, c).abs());
                }
            }
            let det = jac.to_nalgebra().determinant();
            assert!(det > 0.0, "{cfg:?}: Jacobian determinant {det} not positive");
            let rel = (det.ln() - log_dets[p]).abs() / log_dets[p].abs().max(1.0);
            assert!(rel < 1e-4, "{cfg:?}: log|det J| finite-difference {} vs analytic {}", det.ln(), log_dets[p]);
        }
        if cfg.triangular {
            assert!(max_upper < 1e-8, "{cfg:?}: tmi-flow Jacobian has an upper entry {max_upper}");
        } else {
            assert!(max_upper > 1e-2, "{cfg:?}: the permuting flow should not be triangular (max upper {max_upper})");
        }
    }
}

#[test]
fn each_coordinate_is_strictly_increasing_in_its_own_input() {
    let base = standard_normal(3, DIM, &mut stream(4, 0));
    for (i, cfg) in configs().into_iter().filter(|c| c.triangular).enumerate() {
        let flow = random_flow(cfg.clone(), 200 + i as u64).cast(DType::F64);
        for b in 0..base.rows {
            for k in 0..DIM {
                // Sweep x_k across [−12, 12] (beyond the tail bound in standardised units).
                let sweep = Matrix::from_fn(481, DIM, |s, j| if j == k { -12.0 + 0.05 * s as f64 } else { base.get(b, j) });
                let z = flow.encode(&sweep);
                for s in 1..sweep.rows {
                    assert!(z.get(s, k) > z.get(s - 1, k), "{cfg:?}: z_{k} not increasing at step {s}");
                }
            }
        }
    }
}

#[test]
fn f32_and_f64_evaluations_agree() {
    let x = standard_normal(500, DIM, &mut stream(5, 0));
    for (i, cfg) in configs().into_iter().enumerate() {
        let flow = random_flow(cfg.clone(), 300 + i as u64);
        let a = flow.encode(&x);
        let b = flow.cast(DType::F64).encode(&x);
        assert!(a.max_abs_diff(&b) < 1e-4, "{cfg:?}: f32 vs f64 differ by {}", a.max_abs_diff(&b));
        let lp32 = flow.log_prob(&x);
        let lp64 = flow.cast(DType::F64).log_prob(&x);
        let worst = lp32.iter().zip(&lp64).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-3, "{cfg:?}: log-density f32 vs f64 differ by {worst}");
    }
}

#[test]
fn a_new_flow_is_the_standardising_map() {
    // Zero output layers: every spline/affine step is exactly the identity.
    for cfg in configs() {
        let standardize = Standardize { mean: vec![1.0, 2.0, 3.0, 4.0], sd: vec![2.0, 0.5, 1.0, 4.0] };
        let flow = Flow::new(cfg.clone(), standardize.clone(), &mut stream(0, 0)).cast(DType::F64);
        let x = standard_normal(50, DIM, &mut stream(6, 0));
        let z = flow.encode(&x);
        let expected = Matrix::from_fn(50, DIM, |i, j| {
            let jj = if cfg.triangular || cfg.layers % 2 == 1 { j } else { DIM - 1 - j };
            (x.get(i, jj) - standardize.mean[jj]) / standardize.sd[jj]
        });
        assert!(z.max_abs_diff(&expected) < 1e-12, "{cfg:?}");
    }
}
