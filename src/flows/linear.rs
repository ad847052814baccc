//! An invertible linear map before a flow step, LU-parametrised as in neural spline flows
//! (Durkan et al. 2019, §3.3: autoregressive/coupling layers alternate with linear ones):
//!   y = W h + b,  W = L U,  L unit lower triangular, U upper triangular with diagonal e^{s},
//! so log|det W| = Σ_j s_j, W stays in GL⁺(d), and all-zero parameters are the identity. One
//! d × d tensor M holds L below its diagonal, U above it and s on it.
//!
//! Why: an autoregressive spline step cannot shift coordinate j by a linear function of the
//! earlier ones (its spline maps [−B, B] onto itself), so a dense linear map inside the inverse
//! of the data's generator (e.g. the iVAE recipe's x = A f(A f(A z))) costs many steps and is
//! still approximated badly; one linear layer per step represents it exactly.
use crate::matrix::Matrix;
use crate::tensor::{self, Tensor};

/// W = L U, row-major, from the packed parameters M (d × d, row-major).
pub fn weight(m: &[f32], d: usize) -> Vec<f32> {
    let lower = |i: usize, j: usize| if i > j { m[i * d + j] } else if i == j { 1.0 } else { 0.0 };
    let upper = |j: usize, k: usize| if j < k { m[j * d + k] } else if j == k { m[j * d + j].exp() } else { 0.0 };
    let mut w = vec![0.0f32; d * d];
    for i in 0..d {
        for k in 0..d {
            w[i * d + k] = (0..=i.min(k)).map(|j| lower(i, j) * upper(j, k)).sum();
        }
    }
    w
}

/// log|det W| = Σ_j M_jj.
pub fn log_det(m: &[f32], d: usize) -> f64 {
    (0..d).map(|j| f64::from(m[j * d + j])).sum()
}

/// y = h Wᵀ + b for n rows of h (row-major n × d).
pub fn forward(w: &[f32], b: &[f32], h: &[f32], d: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; h.len()];
    for (hi, yi) in h.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        for r in 0..d {
            yi[r] = b[r] + w[r * d..(r + 1) * d].iter().zip(hi).map(|(a, x)| a * x).sum::<f32>();
        }
    }
    y
}

/// The backward pass of `forward` with `log_det` counted once per row: `g` is ∂loss/∂y
/// (n × d), `g_log_det` the loss's derivative in each row's log-determinant. Adds the
/// gradients of M and b into `g_m`, `g_b` and returns ∂loss/∂h.
pub fn backward(m: &[f32], h: &[f32], g: &[f32], d: usize, g_log_det: f32, g_m: &mut [f32], g_b: &mut [f32]) -> Vec<f32> {
    let w = weight(m, d);
    let n = h.len() / d;
    let mut g_h = vec![0.0f32; h.len()];
    // ∂/∂W = Gᵀ H and ∂/∂b = Σ_i g_i, accumulated in f64 over the rows.
    let mut g_w = vec![0.0f64; d * d];
    let mut sum_g = vec![0.0f64; d];
    for (i, gi) in g.chunks_exact(d).enumerate() {
        let hi = &h[i * d..(i + 1) * d];
        let ghi = &mut g_h[i * d..(i + 1) * d];
        for r in 0..d {
            let gr = gi[r];
            sum_g[r] += f64::from(gr);
            for c in 0..d {
                ghi[c] += gr * w[r * d + c];
                g_w[r * d + c] += f64::from(gr * hi[c]);
            }
        }
    }
    for r in 0..d {
        g_b[r] += sum_g[r] as f32;
    }
    // W = L U: ∂/∂L = (∂/∂W) Uᵀ below the diagonal, ∂/∂U = Lᵀ (∂/∂W) on and above it.
    let lower = |i: usize, j: usize| if i > j { f64::from(m[i * d + j]) } else if i == j { 1.0 } else { 0.0 };
    let upper = |j: usize, k: usize| if j < k { f64::from(m[j * d + k]) } else if j == k { f64::from(m[j * d + j]).exp() } else { 0.0 };
    for i in 0..d {
        for j in 0..d {
            let v = if i > j {
                (j..d).map(|k| g_w[i * d + k] * upper(j, k)).sum::<f64>()
            } else {
                let g_u = (i..d).map(|r| lower(r, i) * g_w[r * d + j]).sum::<f64>();
                if i == j { g_u * f64::from(m[i * d + i]).exp() + f64::from(g_log_det) * n as f64 } else { g_u }
            };
            g_m[i * d + j] += v as f32;
        }
    }
    g_h
}

/// `weight` on a tensor (the autodiff path).
pub fn weight_tensor(m: Tensor<2>) -> Tensor<2> {
    let d = m.dims()[0];
    let mask = |keep: fn(usize, usize) -> bool| tensor::from_matrix(&Matrix::from_fn(d, d, |i, j| f64::from(u8::from(keep(i, j)))), m.dtype());
    let eye = mask(|i, j| i == j);
    let lower = m.clone().mul(mask(|i, j| i > j)).add(eye.clone());
    let upper = m.clone().mul(mask(|i, j| i < j)).add(m.exp().mul(eye));
    lower.matmul(upper)
}

/// log|det W| as a 1 × 1 tensor.
pub fn log_det_tensor(m: Tensor<2>) -> Tensor<2> {
    let d = m.dims()[0];
    let eye = tensor::from_matrix(&Matrix::from_fn(d, d, |i, j| f64::from(u8::from(i == j))), m.dtype());
    m.mul(eye).sum().reshape([1, 1])
}

/// h = (y − b) W⁻ᵀ: the inverse map (generation only; W is inverted in f64 on the host).
pub fn inverse_tensor(m: Tensor<2>, b: Tensor<2>, y: Tensor<2>) -> Tensor<2> {
    let w = tensor::to_matrix(weight_tensor(m.clone())).to_nalgebra();
    let inv = w.try_inverse().expect("W = LU with a positive diagonal is invertible");
    let inv_t = tensor::from_matrix(&Matrix::from_nalgebra(&inv.transpose()), m.dtype());
    y.sub(b).matmul(inv_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// W = LU with det W = e^{Σ s}, the identity at zero, and `inverse_tensor` undoes `forward`.
    #[test]
    fn lu_weight_determinant_and_inverse() {
        let d = 4;
        let m: Vec<f32> = (0..d * d).map(|k| ((k as f32) * 0.7).sin() * 0.6).collect();
        let w = weight(&m, d);
        let det = nalgebra::DMatrix::from_fn(d, d, |i, j| f64::from(w[i * d + j])).determinant();
        assert!((det.ln() - log_det(&m, d)).abs() < 1e-5, "log det {} vs {}", det.ln(), log_det(&m, d));
        assert_eq!(weight(&vec![0.0; d * d], d), (0..d * d).map(|k| f32::from(u8::from(k % (d + 1) == 0))).collect::<Vec<_>>());
        let b = [0.3f32, -1.0, 0.5, 2.0];
        let h: Vec<f32> = (0..3 * d).map(|k| (k as f32 * 1.3).cos()).collect();
        let y = forward(&w, &b, &h, d);
        let dt = crate::tensor::DType::F64;
        let back = inverse_tensor(
            tensor::from_f64(&m.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), [d, d], dt),
            tensor::from_f64(&b.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), [1, d], dt),
            tensor::from_f64(&y.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), [3, d], dt),
        );
        let err = tensor::to_vec(back).iter().zip(&h).map(|(a, b)| (a - f64::from(*b)).abs()).fold(0.0, f64::max);
        assert!(err < 1e-5, "inverse error {err}");
    }
}
