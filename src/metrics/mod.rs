//! Identifiability metrics between true latents z and learned codes ẑ (both n × d), in f64.
//! Each metric corresponds to an alignment level of the indeterminacy catalogue:
//! identity (`strong_mcc`, `identity_rmse`), permutation + sign (`mcc`), component-wise
//! monotone (`mcc_spearman`), affine (`affine_r2`).
pub mod assignment;
pub mod consistency;

use crate::error::{Error, Result};
use crate::matrix::Matrix;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Scores {
    pub n: usize,
    pub dim: usize,
    /// Mean signed Pearson corr(z_k, ẑ_k), no matching, no sign flip: the strong score.
    pub strong_mcc: f64,
    /// Mean |Pearson| after the best one-to-one matching: the community MCC (weak).
    pub mcc: f64,
    /// Same with Spearman rank correlations: invariant to component-wise monotone maps.
    pub mcc_spearman: f64,
    /// Mean over coordinates of the R² of the least-squares affine regression of z_k on ẑ.
    pub affine_r2: f64,
    /// RMSE of ẑ − z.
    pub identity_rmse: f64,
}

/// All metrics at once. Errors if the shapes differ or a column is constant.
pub fn evaluate(z: &Matrix, zhat: &Matrix) -> Result<Scores> {
    if (z.rows, z.cols) != (zhat.rows, zhat.cols) {
        return Err(Error::usage(format!(
            "true latents are {} × {} but learned codes are {} × {}: they must match",
            z.rows, z.cols, zhat.rows, zhat.cols
        )));
    }
    if z.rows < 3 {
        return Err(Error::usage("need at least 3 rows to compute correlations"));
    }
    for (name, m) in [("true latents", z), ("learned codes", zhat)] {
        for j in 0..m.cols {
            if column_sd(&m.col(j)) == 0.0 {
                return Err(Error::usage(format!("{name}: column {} is constant, correlations are undefined", j + 1)));
            }
        }
    }
    Ok(Scores {
        n: z.rows,
        dim: z.cols,
        strong_mcc: strong_mcc(z, zhat),
        mcc: matched_mean(&abs_corr(z, zhat)),
        mcc_spearman: matched_mean(&abs_corr(&ranks(z), &ranks(zhat))),
        affine_r2: affine_r2(z, zhat),
        identity_rmse: identity_rmse(z, zhat),
    })
}

/// x scaled by the power of two that brings its largest |value| into [0.5, 1): exact (no bits
/// change but the exponent), and it keeps sums of squares from overflowing at 1e200 or
/// underflowing at 1e-300, so the scale-invariant metrics are scale-safe too.
fn unit_scaled(x: &[f64]) -> Vec<f64> {
    let max = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max == 0.0 || !max.is_finite() {
        return x.to_vec();
    }
    let (_, e) = libm::frexp(max);
    x.iter().map(|&v| libm::ldexp(v, -e)).collect()
}

fn column_sd(x: &[f64]) -> f64 {
    let x = &unit_scaled(x);
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// Pearson correlation of two equal-length columns (centred two-pass formula).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let (a, b) = (&unit_scaled(a), &unit_scaled(b));
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    sab / (saa * sbb).sqrt()
}

/// Identity alignment: mean_k corr(z_k, ẑ_k).
pub fn strong_mcc(z: &Matrix, zhat: &Matrix) -> f64 {
    (0..z.cols).map(|k| pearson(&z.col(k), &zhat.col(k))).sum::<f64>() / z.cols as f64
}

/// d × d matrix (row-major) of |corr(z_i, ẑ_j)|.
pub fn abs_corr(z: &Matrix, zhat: &Matrix) -> Vec<f64> {
    let zc: Vec<Vec<f64>> = (0..z.cols).map(|i| z.col(i)).collect();
    let hc: Vec<Vec<f64>> = (0..zhat.cols).map(|j| zhat.col(j)).collect();
    let mut out = Vec::with_capacity(z.cols * zhat.cols);
    for a in &zc {
        for b in &hc {
            out.push(pearson(a, b).abs());
        }
    }
    out
}

/// Mean of the best one-to-one matching of a square similarity matrix (Hungarian, exact).
fn matched_mean(sim: &[f64]) -> f64 {
    let d = (sim.len() as f64).sqrt() as usize;
    let col = assignment::max_weight_assignment(sim, d, d);
    (0..d).map(|i| sim[i * d + col[i]]).sum::<f64>() / d as f64
}

/// Column-wise ranks (average ranks for ties), so Pearson on ranks is Spearman.
pub fn ranks(m: &Matrix) -> Matrix {
    let mut out = Matrix::zeros(m.rows, m.cols);
    for j in 0..m.cols {
        let col = m.col(j);
        let mut idx: Vec<usize> = (0..m.rows).collect();
        idx.sort_by(|&a, &b| col[a].total_cmp(&col[b]));
        let mut i = 0;
        while i < idx.len() {
            let mut k = i;
            while k + 1 < idx.len() && col[idx[k + 1]] == col[idx[i]] {
                k += 1;
            }
            let avg = (i + k) as f64 / 2.0;
            for &r in &idx[i..=k] {
                out.set(r, j, avg);
            }
            i = k + 1;
        }
    }
    out
}

/// Mean over k of the R² of z_k ≈ a_k + B_k ẑ (least squares via SVD).
pub fn affine_r2(z: &Matrix, zhat: &Matrix) -> f64 {
    let r2 = affine_r2_columns(z, zhat);
    r2.iter().sum::<f64>() / r2.len() as f64
}

/// The R² of each z_k ≈ a_k + B_k ẑ.
pub fn affine_r2_columns(z: &Matrix, zhat: &Matrix) -> Vec<f64> {
    // R² is invariant to rescaling either side's columns: work at unit scale.
    let scaled = |m: &Matrix| {
        let cols: Vec<Vec<f64>> = (0..m.cols).map(|j| unit_scaled(&m.col(j))).collect();
        Matrix::from_fn(m.rows, m.cols, |i, j| cols[j][i])
    };
    let (z, zhat) = (&scaled(z), &scaled(zhat));
    let fitted = ols_fit(zhat, z, true);
    (0..z.cols)
        .map(|k| {
            let y = z.col(k);
            let mean = y.iter().sum::<f64>() / y.len() as f64;
            let tss: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
            let sse: f64 = y.iter().enumerate().map(|(i, v)| (v - fitted.get(i, k)).powi(2)).sum();
            1.0 - sse / tss
        })
        .collect()
}

/// Least-squares prediction of `target` from `input` (with or without an intercept), through
/// the SVD so that collinear codes still have the minimum-norm solution's (unique) fitted values.
pub fn ols_fit(input: &Matrix, target: &Matrix, intercept: bool) -> Matrix {
    let k = usize::from(intercept);
    let design = nalgebra::DMatrix::from_fn(input.rows, input.cols + k, |i, j| if j < k { 1.0 } else { input.get(i, j - k) });
    let svd = design.clone().svd(true, true);
    let y = nalgebra::DMatrix::from_fn(target.rows, target.cols, |i, j| target.get(i, j));
    let coef = svd.solve(&y, 1e-12).expect("SVD was computed with U and V");
    let fitted = &design * coef;
    Matrix::from_fn(target.rows, target.cols, |i, j| fitted[(i, j)])
}

/// RMSE of ẑ − z (not scale-invariant: it compares the values), computed at unit scale so that
/// squares neither overflow nor underflow.
pub fn identity_rmse(z: &Matrix, zhat: &Matrix) -> f64 {
    let diff: Vec<f64> = z.data.iter().zip(&zhat.data).map(|(a, b)| a - b).collect();
    let max = diff.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max == 0.0 || !max.is_finite() {
        return max;
    }
    let (_, e) = libm::frexp(max);
    let se: f64 = unit_scaled(&diff).iter().map(|v| v * v).sum();
    libm::ldexp((se / diff.len() as f64).sqrt(), e)
}

#[cfg(test)]
mod tests;
