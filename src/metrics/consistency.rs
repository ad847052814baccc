//! The agreement scores users of CEBRA and iTuna already know, computed on a set of codes of the
//! same data (one per restart), so that strongid's probe can print them beside its own levels.
//!
//! - CEBRA's between-runs consistency (`cebra.integrations.sklearn.metrics.consistency_score`,
//!   `between="runs"`): for every ordered pair (i, j), i ≠ j, the in-sample R² of an ordinary
//!   least-squares regression with intercept from code i to code j, averaged uniformly over
//!   code j's columns (scikit-learn's `LinearRegression().fit(i, j).score(i, j)`).
//! - iTuna's `PairwiseConsistency(indeterminacy)` score (its defaults: every ordered pair, no
//!   diagonal): the mean over ordered pairs of the same R² after aligning code i to code j with
//!   the indeterminacy model: `Identity` (no map), `Permutation` (Hungarian on the correlation of
//!   absolute values, then signs), `Linear` (OLS without intercept), `Affine` (OLS with).
//!
//! Both are scores of "some map of a class relates the runs"; neither says which class the
//! model's theory allows. `bench/peer_scores.py` checks these numbers against the packages.
use super::{assignment, ols_fit, pearson};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use serde::Serialize;

/// scikit-learn's `r2_score(y, pred, multioutput="uniform_average")`: the mean over columns of
/// 1 − SSE/TSS, where a constant column scores 1 if predicted exactly and 0 otherwise.
pub fn r2_score(y: &Matrix, pred: &Matrix) -> f64 {
    let mut total = 0.0;
    for j in 0..y.cols {
        let col = y.col(j);
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let tss: f64 = col.iter().map(|v| (v - mean).powi(2)).sum();
        let sse: f64 = (0..y.rows).map(|i| (y.get(i, j) - pred.get(i, j)).powi(2)).sum();
        total += match (tss == 0.0, sse == 0.0) {
            (false, _) => 1.0 - sse / tss,
            (true, true) => 1.0,
            (true, false) => 0.0,
        };
    }
    total / y.cols as f64
}

/// iTuna's `Permutation` alignment of `x` to `y`: assignment maximising corr(|x_i|, |y_j|), then
/// the sign of corr(x_i, y_j) for each matched pair; returns x permuted and signed.
pub fn permutation_aligned(x: &Matrix, y: &Matrix) -> Matrix {
    let abs = |m: &Matrix, j: usize| m.col(j).iter().map(|v| v.abs()).collect::<Vec<f64>>();
    let mut weight = Vec::with_capacity(x.cols * y.cols);
    for i in 0..x.cols {
        for j in 0..y.cols {
            let c = pearson(&abs(x, i), &abs(y, j));
            weight.push(if c.is_nan() { 0.0 } else { c });
        }
    }
    let col = assignment::max_weight_assignment(&weight, x.cols, y.cols);
    let mut out = Matrix::zeros(x.rows, y.cols);
    for (i, &j) in col.iter().enumerate() {
        let c = pearson(&x.col(i), &y.col(j));
        let sign = if c < 0.0 { -1.0 } else { 1.0 };
        for r in 0..x.rows {
            out.set(r, j, sign * x.get(r, i));
        }
    }
    out
}

/// One ordered pair's score: code `source` mapped onto code `target`.
#[derive(Clone, Debug, Serialize)]
pub struct OrderedPair {
    pub source: usize,
    pub target: usize,
    pub r2: f64,
}

/// iTuna's four indeterminacy models, each the mean over ordered pairs.
#[derive(Clone, Debug, Serialize)]
pub struct ItunaScores {
    pub identity: f64,
    pub permutation: f64,
    pub linear: f64,
    pub affine: f64,
}

/// CEBRA's and iTuna's scores of one set of codes.
#[derive(Clone, Debug, Serialize)]
pub struct PeerScores {
    /// CEBRA's consistency for every ordered pair (i ≠ j), in CEBRA's order (i outer, j inner).
    pub cebra_pairs: Vec<OrderedPair>,
    /// Their mean: what CEBRA users report as "consistency".
    pub cebra_mean: f64,
    pub ituna: ItunaScores,
}

fn check(codes: &[Matrix]) -> Result<()> {
    if codes.len() < 2 {
        return Err(Error::usage(format!("consistency needs at least 2 codes of the same data, got {}", codes.len())));
    }
    if let Some((k, c)) = codes.iter().enumerate().find(|(_, c)| c.rows != codes[0].rows) {
        return Err(Error::usage(format!("code {} has {} rows but code 1 has {}: between-runs consistency compares codes of the same rows", k + 1, c.rows, codes[0].rows)));
    }
    Ok(())
}

/// `score(code i, code j)` for every ordered pair i ≠ j, i outer and j inner (CEBRA's and
/// iTuna's order).
fn ordered_pairs(codes: &[Matrix], score: impl Fn(&Matrix, &Matrix) -> f64) -> Vec<OrderedPair> {
    let n = codes.len();
    (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| OrderedPair { source: i, target: j, r2: score(&codes[i], &codes[j]) }).collect()
}

fn mean(pairs: &[OrderedPair]) -> f64 {
    pairs.iter().map(|p| p.r2).sum::<f64>() / pairs.len() as f64
}

/// CEBRA's `consistency_score(codes, between="runs")` scores, pair by pair.
pub fn cebra_consistency(codes: &[Matrix]) -> Result<Vec<OrderedPair>> {
    check(codes)?;
    Ok(ordered_pairs(codes, |a, b| r2_score(b, &ols_fit(a, b, true))))
}

/// Both peers' scores. iTuna's `Identity` and `Permutation` need codes of one dimension.
pub fn peer_scores(codes: &[Matrix]) -> Result<PeerScores> {
    let cebra_pairs = cebra_consistency(codes)?;
    if codes.iter().any(|c| c.cols != codes[0].cols) {
        return Err(Error::usage("iTuna's identity and permutation alignments need codes of one dimension"));
    }
    let cebra_mean = mean(&cebra_pairs);
    let ituna = ItunaScores {
        identity: mean(&ordered_pairs(codes, |a, b| r2_score(b, a))),
        permutation: mean(&ordered_pairs(codes, |a, b| r2_score(b, &permutation_aligned(a, b)))),
        linear: mean(&ordered_pairs(codes, |a, b| r2_score(b, &ols_fit(a, b, false)))),
        // iTuna's `Affine` is scikit-learn's LinearRegression scored in sample: CEBRA's score.
        affine: cebra_mean,
    };
    Ok(PeerScores { cebra_pairs, cebra_mean, ituna })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::standard_normal;
    use crate::train::stream;

    /// Closed form: b = a W + c + e with a, e independent standard normal (n large) has
    /// population R² of b_k on a equal to |W_k|² / (|W_k|² + σ²) for each column k; and the
    /// reverse direction, the identity and the permutation alignments match their own forms.
    #[test]
    fn cebra_consistency_matches_the_closed_form_r2() {
        let n = 200_000;
        let a = standard_normal(n, 2, &mut stream(7, 0));
        let e = standard_normal(n, 2, &mut stream(8, 0));
        let (w, sigma) = ([[1.0, 0.5], [2.0, 0.0]], 0.5);
        let b = Matrix::from_fn(n, 2, |i, k| 3.0 + a.get(i, 0) * w[0][k] + a.get(i, 1) * w[1][k] + sigma * e.get(i, k));
        let pairs = cebra_consistency(&[a.clone(), b.clone()]).unwrap();
        let norm2 = |k: usize| w[0][k] * w[0][k] + w[1][k] * w[1][k];
        let expected_ab = (0..2).map(|k| norm2(k) / (norm2(k) + sigma * sigma)).sum::<f64>() / 2.0;
        assert_eq!((pairs[0].source, pairs[0].target, pairs[1].source, pairs[1].target), (0, 1, 1, 0));
        assert!((pairs[0].r2 - expected_ab).abs() < 3e-3, "{} vs {expected_ab}", pairs[0].r2);
        // Exact relations score exactly 1 at their own level and not at the smaller ones.
        let flipped = Matrix::from_fn(n, 2, |i, j| -a.get(i, 1 - j));
        let s = peer_scores(&[a.clone(), flipped]).unwrap();
        assert!((s.ituna.permutation - 1.0).abs() < 1e-12 && (s.ituna.linear - 1.0).abs() < 1e-12 && (s.cebra_mean - 1.0).abs() < 1e-12);
        // Identity R² of independent unit columns: 1 − E(x − y)²/E y² = −1.
        assert!((s.ituna.identity + 1.0).abs() < 0.02, "{}", s.ituna.identity);
        let shifted = Matrix::from_fn(n, 2, |i, j| a.get(i, j) + 1.0);
        let t = peer_scores(&[a, shifted]).unwrap();
        // A shift is affine but not linear. Without an intercept, a + 1 from a: β = I, the
        // residual is the shift, R² = 1 − 1/1 = 0; a from a + 1: β = (I + 11ᵀ)⁻¹ = I − 11ᵀ/3,
        // residual variance 1/9 + 1/9 + (1/3)² = 1/3, R² = 2/3. iTuna averages: 1/3.
        assert!((t.ituna.linear - 1.0 / 3.0).abs() < 0.01 && (t.ituna.affine - 1.0).abs() < 1e-12, "{t:?}");
        assert!(t.ituna.identity.abs() < 0.01, "identity R² of a shift by one sd: 0");
    }

    #[test]
    fn r2_score_follows_scikit_learn_on_constant_columns() {
        let y = Matrix::new(3, 2, vec![1.0, 2.0, 1.0, 3.0, 1.0, 4.0]);
        assert_eq!(r2_score(&y, &y), 1.0);
        let off = Matrix::new(3, 2, vec![1.5, 2.0, 1.0, 3.0, 1.0, 4.0]);
        assert_eq!(r2_score(&y, &off), 0.5, "the constant column mispredicted scores 0, the other 1");
        assert!(cebra_consistency(&[y.clone()]).unwrap_err().to_string().contains("at least 2"));
    }
}
