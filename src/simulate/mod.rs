//! Data simulators. Each writes the observations, the true latents and a `meta.json` holding
//! the recipe and every parameter, so a dataset is reproducible and its ground truth is known.
pub mod gaussian;
pub mod ivae;
pub mod linear_env;
pub mod tmi;

use crate::matrix::Matrix;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// n × d standard normal draws.
pub fn standard_normal(n: usize, d: usize, rng: &mut impl Rng) -> Matrix {
    Matrix::from_fn(n, d, |_, _| StandardNormal.sample(rng))
}

/// A random lower-triangular matrix with diagonal U(lo, hi) and off-diagonal U(−off, off).
pub fn random_lower_triangular(d: usize, diag: (f64, f64), off: f64, rng: &mut impl Rng) -> Matrix {
    Matrix::from_fn(d, d, |i, j| match i.cmp(&j) {
        std::cmp::Ordering::Equal => rng.random_range(diag.0..diag.1),
        std::cmp::Ordering::Greater => rng.random_range(-off..off),
        std::cmp::Ordering::Less => 0.0,
    })
}

/// Row-wise x ↦ A x + b for an n × d matrix.
pub fn affine_rows(x: &Matrix, a: &Matrix, b: &[f64]) -> Matrix {
    Matrix::from_fn(x.rows, a.rows, |i, r| b[r] + (0..a.cols).map(|c| a.get(r, c) * x.get(i, c)).sum::<f64>())
}

/// `options` names the options that set n and dim, for the message.
fn check_sizes(dim: usize, n: usize, options: &str) -> crate::Result<()> {
    if dim == 0 || n == 0 {
        return Err(crate::Error::usage("--dim and --n must be positive"));
    }
    crate::error::check_values(&format!("{options}: {n} rows × {dim} columns"), n as u128 * dim as u128)?;
    // The generators hold dim × dim matrices.
    crate::error::check_values(&format!("{options}: a {dim} × {dim} matrix"), dim as u128 * dim as u128)
}

/// rows × per-group, refused rather than wrapped around when it overflows.
fn total_rows(groups: usize, per_group: usize, what: &str) -> crate::Result<usize> {
    groups.checked_mul(per_group).ok_or_else(|| crate::Error::usage(format!("{what}: {groups} × {per_group} rows overflows")))
}
