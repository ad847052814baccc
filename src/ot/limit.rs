//! The OT → KR limit (paper §5.2), measured two ways on a pair of Gaussians a → b:
//! (a) exactly: the closed-form c_t-optimal map against the exact KR map, for a grid of t;
//! (b) empirically: exact discrete OT (an assignment problem) between n samples of a and n of b
//!     under c_t, against the exact KR image of each source point. With n fixed the error is
//!     U-shaped in t: as t → 0 the matching degenerates to sorting on x_1 and the later
//!     coordinates are matched at random, so the best t shrinks as n grows.
use super::gaussian::{Gaussian, cost_weights, kr_map, weighted_ot_map};
use crate::metrics::assignment::min_cost_assignment;
use crate::train::stream;
use nalgebra::{DMatrix, DVector};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

pub const T_GRID: [f64; 7] = [1.0, 0.3, 0.1, 0.03, 0.01, 0.001, 1e-4];

/// A seeded pair of well-conditioned Gaussians in dimension d.
pub fn gaussian_pair(d: usize, seed: u64) -> (Gaussian, Gaussian) {
    let mut rng = stream(seed, 60);
    let mut draw = |shift: f64| {
        let m = DMatrix::from_fn(d, d, |_, _| rng.random_range(-1.0..1.0));
        let cov = &m * m.transpose() + DMatrix::identity(d, d) * 0.5;
        let mean = DVector::from_fn(d, |_, _| rng.random_range(-1.0..1.0) + shift);
        Gaussian::new(mean, cov).expect("positive definite by construction")
    };
    (draw(0.0), draw(1.0))
}

#[derive(Clone, Debug, Serialize)]
pub struct ExactRow {
    pub t: f64,
    /// max |M_t − M_KR| over entries.
    pub max_entry_error: f64,
    /// Frobenius norm ‖M_t − M_KR‖.
    pub frobenius_error: f64,
}

pub fn exact_table(a: &Gaussian, b: &Gaussian, ts: &[f64]) -> Vec<ExactRow> {
    let kr = kr_map(a, b).matrix;
    ts.iter()
        .map(|&t| {
            let diff = weighted_ot_map(a, b, t).matrix - &kr;
            ExactRow { t, max_entry_error: diff.abs().max(), frobenius_error: diff.norm() }
        })
        .collect()
}

fn sample(g: &Gaussian, n: usize, rng: &mut impl Rng) -> Vec<DVector<f64>> {
    let l = g.cov.clone().cholesky().expect("positive definite").l();
    (0..n).map(|_| &g.mean + &l * DVector::from_fn(g.dim(), |_, _| StandardNormal.sample(rng))).collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct EmpiricalRow {
    pub n: usize,
    pub t: f64,
    /// Root-mean-square distance between each matched target point and the exact KR image.
    pub rmse_to_kr: f64,
}

/// Exact discrete c_t-optimal matching between n samples of a and n of b, per t.
pub fn empirical_grid(a: &Gaussian, b: &Gaussian, n: usize, ts: &[f64], seed: u64) -> Vec<EmpiricalRow> {
    let xs = sample(a, n, &mut stream(seed, 61));
    let ys = sample(b, n, &mut stream(seed, 62));
    let kr = kr_map(a, b);
    let images: Vec<DVector<f64>> = xs.iter().map(|x| kr.apply(x)).collect();
    ts.iter()
        .map(|&t| {
            let w = cost_weights(a.dim(), t);
            let mut cost = Vec::with_capacity(n * n);
            for x in &xs {
                for y in &ys {
                    cost.push((0..a.dim()).map(|i| w[i] * (x[i] - y[i]).powi(2)).sum::<f64>());
                }
            }
            let col = min_cost_assignment(&cost, n, n);
            let mse = (0..n).map(|i| (&ys[col[i]] - &images[i]).norm_squared()).sum::<f64>() / n as f64;
            EmpiricalRow { n, t, rmse_to_kr: mse.sqrt() }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_error_decreases_monotonically_to_zero() {
        let (a, b) = gaussian_pair(2, 1);
        let rows = exact_table(&a, &b, &T_GRID);
        for w in rows.windows(2) {
            assert!(w[1].max_entry_error < w[0].max_entry_error, "{rows:?}");
        }
        assert!(rows.last().unwrap().max_entry_error < 1e-3, "{rows:?}");
        assert!(rows[0].max_entry_error > 0.05, "Brenier and KR should differ for this pair: {rows:?}");
    }

    #[test]
    fn discrete_matching_is_u_shaped_in_t() {
        let (a, b) = gaussian_pair(2, 1);
        let rows = empirical_grid(&a, &b, 300, &T_GRID, 5);
        let errs: Vec<f64> = rows.iter().map(|r| r.rmse_to_kr).collect();
        let (best, _) = errs.iter().enumerate().min_by(|x, y| x.1.total_cmp(y.1)).unwrap();
        assert!(best > 0 && best + 1 < errs.len(), "minimum should be interior: {errs:?}");
        assert!(errs[0] > errs[best] * 1.2 && errs[errs.len() - 1] > errs[best] * 1.2, "not U-shaped: {errs:?}");
    }
}

/// `strongid ot-kr`: print both tables and write the plot.
pub fn report(dim: usize, n: usize, seed: u64, plot: &std::path::Path) -> crate::Result<()> {
    if dim < 2 || n < 16 {
        return Err(crate::Error::usage("ot-kr needs --dim ≥ 2 (in 1-D OT and KR coincide) and --n ≥ 16"));
    }
    let (a, b) = gaussian_pair(dim, seed);
    crate::outln!("Gaussians a → b in d = {dim} (seed {seed}); cost c_t(x, y) = Σ_i t^(i−1) (x_i − y_i)²\n");
    crate::outln!("(a) closed form: c_t-optimal map M_t vs the exact KR map");
    crate::outln!("{:>8}  {:>16}  {:>16}", "t", "max|M_t − KR|", "‖M_t − KR‖_F");
    let exact = exact_table(&a, &b, &T_GRID);
    for r in &exact {
        crate::outln!("{:>8}  {:>16.3e}  {:>16.3e}", r.t, r.max_entry_error, r.frobenius_error);
    }
    let sizes: Vec<usize> = [n / 8, n / 4, n / 2, n].into_iter().filter(|m| *m >= 16).collect();
    crate::outln!("\n(b) exact discrete OT between n samples of a and n of b: RMSE of matched targets to KR images");
    crate::out!("{:>8}", "t");
    for m in &sizes {
        crate::out!("  {:>10}", format!("n = {m}"));
    }
    crate::outln!();
    let grids: Vec<Vec<EmpiricalRow>> = sizes.iter().map(|&m| empirical_grid(&a, &b, m, &T_GRID, seed)).collect();
    for (i, t) in T_GRID.iter().enumerate() {
        crate::out!("{t:>8}");
        for g in &grids {
            crate::out!("  {:>10.4}", g[i].rmse_to_kr);
        }
        crate::outln!();
    }
    crate::out!("{:>8}", "best t");
    for g in &grids {
        let best = g.iter().min_by(|x, y| x.rmse_to_kr.total_cmp(&y.rmse_to_kr)).expect("non-empty grid");
        crate::out!("  {:>10}", best.t);
    }
    crate::outln!();
    let mut series = vec![crate::plot::Series { label: "closed form, max entry error".into(), points: exact.iter().map(|r| (r.t, r.max_entry_error)).collect() }];
    for g in &grids {
        series.push(crate::plot::Series { label: format!("discrete OT, n = {}", g[0].n), points: g.iter().map(|r| (r.t, r.rmse_to_kr)).collect() });
    }
    let chart = crate::plot::LineChart { title: "OT for c_t → Knothe–Rosenblatt as t → 0", x_label: "t", y_label: "error vs KR", log_x: true, log_y: true, series };
    chart.save(plot)?;
    crate::outln!("\nplot written to {}", plot.display());
    Ok(())
}
