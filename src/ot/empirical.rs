//! Empirical Knothe–Rosenblatt maps to N(0, I) where the conditional CDFs have closed forms.
//! - Product measures: the conditionals are the marginals, so KR is component-wise,
//!   z_k = Φ⁻¹(F_k(x_k)); estimated with the empirical CDFs (mid-ranks).
//! - Gaussian-copula measures (x_k = F_k⁻¹(Φ(g_k)), g ~ N(0, R)): the normal scores
//!   g_k = Φ⁻¹(F_k(x_k)) are N(0, R), whose KR map to N(0, I) is L⁻¹ (R = L Lᵀ), so
//!   KR(x) = L⁻¹ Φ⁻¹(F(x)): component-wise increasing then lower-triangular, a TMI map.
use crate::matrix::Matrix;
use crate::metrics::ranks;
use nalgebra::DMatrix;

/// Standard normal quantile: Acklam's rational approximation (relative error 1.2e-9) refined
/// by one Halley step on Φ(x) − p with libm's erfc, to double precision.
pub fn normal_quantile(p: f64) -> f64 {
    assert!(p > 0.0 && p < 1.0, "quantile level {p} outside (0, 1)");
    const A: [f64; 6] = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.383577518672690e2, -3.066479806614716e1, 2.506628277459239];
    const B: [f64; 5] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let x = if p < 0.02425 {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p > 1.0 - 0.02425 {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Halley step on Φ(x) − p.
    let e = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// Normal scores Φ⁻¹((rank + ½) / n), column by column: the empirical Φ⁻¹ ∘ F.
pub fn normal_scores(x: &Matrix) -> Matrix {
    let r = ranks(x);
    let n = x.rows as f64;
    Matrix::new(x.rows, x.cols, r.data.iter().map(|v| normal_quantile((v + 0.5) / n)).collect())
}

/// Empirical KR map of a product measure to N(0, I), evaluated at the sample points.
pub fn kr_product(x: &Matrix) -> Matrix {
    normal_scores(x)
}

/// Empirical KR map of a Gaussian-copula measure to N(0, I), at the sample points; also returns
/// the estimated copula correlation's Cholesky factor L.
pub fn kr_gaussian_copula(x: &Matrix) -> (Matrix, DMatrix<f64>) {
    let g = normal_scores(x);
    let gm = g.to_nalgebra();
    let mut r = gm.transpose() * &gm / x.rows as f64;
    // Normalise to a correlation matrix.
    let s: Vec<f64> = (0..x.cols).map(|i| r[(i, i)].sqrt()).collect();
    for i in 0..x.cols {
        for j in 0..x.cols {
            r[(i, j)] /= s[i] * s[j];
        }
    }
    let l = r.cholesky().expect("sample correlation is positive definite").l();
    let l_inv = l.clone().try_inverse().expect("Cholesky factor is invertible");
    let z = (gm * l_inv.transpose()).into_owned();
    (Matrix::from_nalgebra(&z), l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::stream;
    use rand::Rng;

    #[test]
    fn normal_quantile_is_accurate() {
        for (p, x) in [(0.5, 0.0), (0.975, 1.959963984540054), (0.001, -3.090232306167813), (1e-10, -6.361340902404056)] {
            assert!((normal_quantile(p) - x).abs() < 1e-12 * x.abs().max(1.0), "Φ⁻¹({p}) = {} vs {x}", normal_quantile(p));
        }
    }

    /// Gaussian copula with correlation R and exponential(1) / uniform / Student-ish margins.
    fn copula_data(n: usize, r: &DMatrix<f64>, seed: u64) -> (Matrix, Matrix) {
        let l = r.clone().cholesky().unwrap().l();
        let eps = crate::simulate::standard_normal(n, 3, &mut stream(seed, 0));
        let g = Matrix::from_nalgebra(&(eps.to_nalgebra() * l.transpose()));
        let phi = |v: f64| 0.5 * libm::erfc(-v / std::f64::consts::SQRT_2);
        let x = Matrix::from_fn(n, 3, |i, j| {
            let u = phi(g.get(i, j));
            match j {
                0 => -(1.0 - u).ln(),   // exponential(1)
                1 => 4.0 * u - 1.0,     // uniform(−1, 3)
                _ => (g.get(i, j)).powi(3), // monotone transform of a normal
            }
        });
        (x, eps) // eps = L⁻¹ g is the exact KR image of x
    }

    #[test]
    fn gaussian_copula_kr_matches_the_exact_map() {
        let r = DMatrix::from_row_slice(3, 3, &[1.0, 0.6, -0.3, 0.6, 1.0, 0.2, -0.3, 0.2, 1.0]);
        let (x, exact) = copula_data(20_000, &r, 1);
        let (z, l) = kr_gaussian_copula(&x);
        let l_true = r.cholesky().unwrap().l();
        assert!((l - l_true).abs().max() < 0.03);
        let rmse = (z.data.iter().zip(&exact.data).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / z.data.len() as f64).sqrt();
        assert!(rmse < 0.05, "empirical KR differs from exact by RMSE {rmse}");
        // Triangular: the first code depends on x_1 only (it equals the product-measure map).
        assert!(z.col(0) == kr_product(&x).col(0));
    }

    #[test]
    fn product_measure_kr_is_componentwise() {
        let mut rng = stream(2, 0);
        let x = Matrix::from_fn(5000, 2, |_, j| if j == 0 { rng.random_range(0.0..1.0f64).powi(2) } else { rng.random_range(-1.0..1.0) });
        let z = kr_product(&x);
        // Exact: z_1 = Φ⁻¹(√x_1), z_2 = Φ⁻¹((x_2 + 1)/2).
        let sq: f64 = (0..x.rows)
            .map(|i| {
                let exact = [normal_quantile(x.get(i, 0).sqrt()), normal_quantile((x.get(i, 1) + 1.0) / 2.0)];
                (z.get(i, 0) - exact[0]).powi(2) + (z.get(i, 1) - exact[1]).powi(2)
            })
            .sum();
        let rmse = (sq / (2 * x.rows) as f64).sqrt();
        assert!(rmse < 0.03, "RMSE {rmse}");
    }
}
