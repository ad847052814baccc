//! `simulate gaussian`: x = L z, z ~ N(0, I), L lower-triangular with positive diagonal.
//! The exact Knothe–Rosenblatt map from the law of x to N(0, I) is z = L⁻¹ x (THEORY §3:
//! for Gaussians KR is the ratio of lower Cholesky factors, and L is the factor of Cov x).
use super::{affine_rows, check_sizes, random_lower_triangular, standard_normal};
use crate::io::Dataset;
use crate::matrix::Matrix;
use crate::train::stream;
use serde_json::json;

pub struct GaussianData {
    pub dataset: Dataset,
    pub l: Matrix,
    /// L⁻¹: the exact KR map (encoder) the triangular flow should learn.
    pub kr_map: Matrix,
}

pub fn simulate(dim: usize, n: usize, seed: u64) -> crate::Result<GaussianData> {
    check_sizes(dim, n, "--n × --dim")?;
    let l = random_lower_triangular(dim, (0.5, 2.0), 1.0, &mut stream(seed, 10));
    let z = standard_normal(n, dim, &mut stream(seed, 11));
    let x = affine_rows(&z, &l, &vec![0.0; dim]);
    let inv = l.to_nalgebra().try_inverse().expect("triangular with positive diagonal is invertible");
    let kr_map = Matrix::from_nalgebra(&inv);
    let rows = |m: &Matrix| (0..m.rows).map(|i| m.row(i).to_vec()).collect::<Vec<_>>();
    let meta = json!({
        "recipe": "gaussian",
        "description": "z ~ N(0, I); x = L z with L lower-triangular, diagonal U(0.5, 2), off-diagonal U(-1, 1). The exact KR map x -> z is L^-1.",
        "dim": dim, "n": n, "seed": seed,
        "L": rows(&l),
        "kr_map": rows(&kr_map),
    });
    Ok(GaussianData { dataset: Dataset { x, z: Some(z), u: None, meta: Some(meta) }, l, kr_map })
}
