//! Exponential-family priors of the iVAE family (THEORY §2) and the anchor condition of
//! Thm 4.5. A diagonal Gaussian N(μ, diag σ²) has sufficient statistics T(z) = (z, z²) and
//! natural parameters η = (μ/σ², −1/(2σ²)), so K = 2d. Freezing the priors of K + 1
//! environments whose contrasts η_i − η_0 are linearly independent makes the iVAE strongly
//! identifiable. With one shared variance the family is mean-only (T = z, K = d, Prop. D.9);
//! with all means zero (variance-only, T = z²) no number of anchors suffices: z_i → −z_i
//! preserves every such prior.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One environment's prior, as stored in a priors/anchors JSON file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvPrior {
    pub env: i64,
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
}

impl EnvPrior {
    /// η = (μ/σ², −1/(2σ²)).
    pub fn natural(&self) -> Vec<f64> {
        let a = self.mean.iter().zip(&self.var).map(|(m, v)| m / v);
        let b = self.var.iter().map(|v| -0.5 / v);
        a.chain(b).collect()
    }
}

/// Read and validate a priors file: a JSON list of {env, mean[], var[]}, one dimension for all,
/// finite means, positive finite variances, no repeated environment.
pub fn read_anchors(path: &Path) -> Result<Vec<EnvPrior>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let anchors: Vec<EnvPrior> =
        serde_json::from_str(&text).map_err(|e| Error::input(path, format!("expected a JSON list of {{\"env\", \"mean\", \"var\"}}: {e}")))?;
    validate(path, &anchors)?;
    Ok(anchors)
}

pub fn validate(path: &Path, anchors: &[EnvPrior]) -> Result<()> {
    let Some(first) = anchors.first() else {
        return Err(Error::input(path, "no anchors in the file"));
    };
    let d = first.mean.len();
    let mut seen = std::collections::HashSet::new();
    for (i, a) in anchors.iter().enumerate() {
        let at = format!("entry {} (env {})", i + 1, a.env);
        if a.mean.len() != d || a.var.len() != d {
            return Err(Error::input(path, format!("{at}: mean and var must both have {d} entries")));
        }
        if let Some(m) = a.mean.iter().find(|m| !m.is_finite()) {
            return Err(Error::input(path, format!("{at}: mean {m} is not finite")));
        }
        if let Some(v) = a.var.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            return Err(Error::input(path, format!("{at}: variance {v} must be positive and finite")));
        }
        // A variance so small that 1/σ² or μ/σ² overflows has no natural parameters.
        if a.natural().iter().any(|v| !v.is_finite()) {
            return Err(Error::input(path, format!("{at}: a variance this small makes the natural parameters (μ/σ², −1/(2σ²)) overflow")));
        }
        if !seen.insert(a.env) {
            return Err(Error::input(path, format!("{at}: environment {} appears twice", a.env)));
        }
    }
    Ok(())
}

pub fn write_anchors(path: &Path, anchors: &[EnvPrior]) -> Result<()> {
    let text = serde_json::to_string_pretty(anchors).expect("priors serialize");
    crate::io::atomic_write(path, |w| w.write_all(text.as_bytes()))
}

/// Which exponential family the anchors live in, which decides K.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnchorFamily {
    /// Means and variances vary: T(z) = (z, z²), K = 2d.
    MeanVariance,
    /// One shared variance vector: T(z) = z, K = d (Prop. D.9).
    MeanOnly,
    /// All means zero: T(z) = z², never enough (sign flips survive).
    VarianceOnly,
}

/// The numerical check of Thm 4.5's condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnchorCheck {
    pub family: AnchorFamily,
    pub n_anchors: usize,
    /// K: the dimension the contrasts must span.
    pub required_rank: usize,
    pub rank: usize,
    /// Smallest of the first K singular values of the contrast matrix (0 if fewer rows).
    pub smallest_singular_value: f64,
    pub strongly_identifiable: bool,
    pub message: String,
}

/// Relative tolerance of the rank test: singular values below tol × (largest) count as zero.
pub const RANK_TOL: f64 = 1e-6;

/// Thm 4.5's condition on frozen anchor priors: the K contrasts of natural parameters must be
/// linearly independent (K = 2d for Gaussians with varying variances, K = d for a shared one).
///
/// ```
/// use strongid::priors::{check_anchors, EnvPrior};
/// let prior = |env, mean: [f64; 2]| EnvPrior { env, mean: mean.to_vec(), var: vec![1.0, 1.0] };
/// // One shared variance: the mean-only family needs d + 1 = 3 affinely independent means.
/// let three = [prior(0, [0.0, 0.0]), prior(1, [1.0, 0.0]), prior(2, [0.0, 1.0])];
/// assert!(check_anchors(&three).strongly_identifiable);
/// // Collinear means leave a reflection of the code free.
/// let collinear = [prior(0, [0.0, 0.0]), prior(1, [1.0, 1.0]), prior(2, [2.0, 2.0])];
/// assert!(!check_anchors(&collinear).strongly_identifiable);
/// ```
pub fn check_anchors(anchors: &[EnvPrior]) -> AnchorCheck {
    let d = anchors[0].mean.len();
    let n = anchors.len();
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0));
    let shared_var = anchors.iter().all(|a| close(&a.var, &anchors[0].var));
    let zero_means = anchors.iter().all(|a| a.mean.iter().all(|m| *m == 0.0));
    let family = if zero_means {
        AnchorFamily::VarianceOnly
    } else if shared_var {
        AnchorFamily::MeanOnly
    } else {
        AnchorFamily::MeanVariance
    };
    // Contrasts of the family's natural parameters.
    let eta = |a: &EnvPrior| -> Vec<f64> {
        match family {
            AnchorFamily::MeanOnly => a.mean.iter().zip(&a.var).map(|(m, v)| m / v).collect(),
            _ => a.natural(),
        }
    };
    let required_rank = match family {
        AnchorFamily::MeanOnly => d,
        _ => 2 * d,
    };
    let eta0 = eta(&anchors[0]);
    let rows: Vec<Vec<f64>> = anchors[1..].iter().map(|a| eta(a).iter().zip(&eta0).map(|(x, y)| x - y).collect()).collect();
    // Non-finite contrasts (priors not validated by `validate`) have no rank: the check fails.
    let (rank, smallest) = if rows.is_empty() || rows.iter().flatten().any(|v| !v.is_finite()) {
        (0, 0.0)
    } else {
        let cols = rows[0].len();
        let m = nalgebra::DMatrix::from_fn(rows.len(), cols, |i, j| rows[i][j]);
        let mut sv: Vec<f64> = m.singular_values().iter().copied().collect();
        sv.sort_by(|a, b| b.total_cmp(a));
        let tol = RANK_TOL * sv[0].max(f64::MIN_POSITIVE);
        let rank = sv.iter().filter(|s| **s > tol).count();
        let smallest = if sv.len() >= required_rank { sv[required_rank - 1] } else { 0.0 };
        (rank, smallest)
    };
    let ok = family != AnchorFamily::VarianceOnly && rank >= required_rank;
    let message = match family {
        AnchorFamily::VarianceOnly => format!(
            "the {n} anchors are variance-only (all means 0, T(z) = z²): z_i → −z_i preserves every such prior, so no number of them makes the model strongly identifiable; anchor means must differ"
        ),
        _ if ok => format!(
            "Thm 4.5 condition holds: {n} anchors, the {} contrasts of natural parameters span K = {required_rank} ({}), smallest singular value {smallest:.3e}",
            n - 1,
            if family == AnchorFamily::MeanOnly { "mean-only family, T(z) = z" } else { "T(z) = (z, z²)" }
        ),
        AnchorFamily::MeanOnly => format!(
            "anchor condition fails: all {n} anchors share one variance, so the family is mean-only (T(z) = z, K = d = {d}) and needs at least {} anchors with affinely independent means; these give rank {rank} < {d} (smallest singular value {smallest:.3e}). A rank-{rank} set leaves a reflection/rotation of the other {} direction(s) free",
            d + 1,
            d - rank.min(d)
        ),
        AnchorFamily::MeanVariance => format!(
            "anchor condition fails: with means and variances varying, T(z) = (z, z²) and K = 2d = {required_rank}, so at least {} anchors are needed with affinely independent natural parameters (μ/σ², −1/(2σ²)); these {n} anchors give rank {rank} < {required_rank} (smallest singular value {smallest:.3e})",
            required_rank + 1
        ),
    };
    AnchorCheck { family, n_anchors: n, required_rank, rank, smallest_singular_value: smallest, strongly_identifiable: ok, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::stream;
    use rand::Rng;

    fn prior(env: i64, mean: Vec<f64>, var: Vec<f64>) -> EnvPrior {
        EnvPrior { env, mean, var }
    }

    #[test]
    fn accepts_2d_plus_1_generic_anchors_and_not_fewer() {
        let mut rng = stream(1, 0);
        for d in 1..=5 {
            let anchors: Vec<EnvPrior> = (0..=2 * d as i64)
                .map(|e| prior(e, (0..d).map(|_| rng.random_range(-5.0..5.0)).collect(), (0..d).map(|_| rng.random_range(0.25..9.0)).collect()))
                .collect();
            let c = check_anchors(&anchors);
            assert!(c.strongly_identifiable, "d = {d}: {}", c.message);
            assert_eq!((c.family, c.required_rank, c.rank), (AnchorFamily::MeanVariance, 2 * d, 2 * d));
            assert!(c.smallest_singular_value > 1e-3);
            let fewer = check_anchors(&anchors[..2 * d]);
            assert!(!fewer.strongly_identifiable);
            assert!(fewer.message.contains(&format!("at least {} anchors", 2 * d + 1)), "{}", fewer.message);
        }
    }

    #[test]
    fn rejects_affinely_dependent_contrasts() {
        // d = 1, three anchors whose natural parameters are collinear: η_2 − η_0 = 2 (η_1 − η_0).
        let a0 = prior(0, vec![0.5], vec![1.0]);
        let a1 = prior(1, vec![1.5], vec![0.5]);
        let (e0, e1) = (a0.natural(), a1.natural());
        let e2: Vec<f64> = e0.iter().zip(&e1).map(|(x, y)| x + 2.0 * (y - x)).collect();
        let var2 = -0.5 / e2[1];
        let a2 = prior(2, vec![e2[0] * var2], vec![var2]);
        let c = check_anchors(&[a0, a1, a2]);
        assert!(!c.strongly_identifiable);
        assert_eq!(c.rank, 1);
        assert!(c.smallest_singular_value < 1e-9, "{}", c.smallest_singular_value);
        assert!(c.message.contains("rank 1 < 2"), "{}", c.message);
    }

    #[test]
    fn variance_only_anchors_are_never_enough() {
        let anchors: Vec<EnvPrior> = (0..9).map(|e| prior(e, vec![0.0; 2], vec![0.5 + e as f64, 3.0 - 0.3 * e as f64])).collect();
        let c = check_anchors(&anchors);
        assert_eq!(c.family, AnchorFamily::VarianceOnly);
        assert!(!c.strongly_identifiable);
        assert!(c.message.contains("z_i → −z_i"), "{}", c.message);
    }

    #[test]
    fn mean_only_family_needs_d_plus_1_affinely_independent_means() {
        let v = vec![1.0, 1.0];
        let three = [prior(0, vec![0.0, 0.0], v.clone()), prior(1, vec![2.0, 0.0], v.clone()), prior(2, vec![0.0, 3.0], v.clone())];
        let c = check_anchors(&three);
        assert!(c.strongly_identifiable && c.family == AnchorFamily::MeanOnly, "{}", c.message);
        let two = check_anchors(&three[..2]);
        assert!(!two.strongly_identifiable);
        assert!(two.message.contains("at least 3 anchors") && two.message.contains("rank 1 < 2"), "{}", two.message);
        let collinear = [prior(0, vec![0.0, 0.0], v.clone()), prior(1, vec![1.0, 1.0], v.clone()), prior(2, vec![2.0, 2.0], v)];
        assert!(!check_anchors(&collinear).strongly_identifiable);
    }

    #[test]
    fn bad_anchor_files_are_explained() {
        let dir = std::env::temp_dir().join(format!("strongid-anchors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            (r#"[{"env": 0, "mean": [0.0], "var": [-1.0]}]"#, "must be positive"),
            (r#"[{"env": 0, "mean": [0.0], "var": [0.0]}]"#, "must be positive"),
            (r#"[{"env": 0, "mean": [0.0, 1.0], "var": [1.0]}]"#, "both have 2 entries"),
            (r#"[{"env": 0, "mean": [0.0], "var": [1.0]}, {"env": 0, "mean": [1.0], "var": [1.0]}]"#, "appears twice"),
            (r#"{"env": 0}"#, "expected a JSON list"),
        ];
        for (i, (text, needle)) in cases.iter().enumerate() {
            let f = dir.join(format!("p{i}.json"));
            std::fs::write(&f, text).unwrap();
            let e = read_anchors(&f).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains(&format!("p{i}.json")), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// 2d + 1 deterministic anchors with affinely independent natural parameters (a spanning set).
pub fn generic_anchors(d: usize) -> Vec<EnvPrior> {
    (0..=2 * d)
        .map(|e| {
            let k = e as f64;
            EnvPrior {
                env: e as i64,
                mean: (0..d).map(|j| if e == j + 1 { 2.0 } else { 0.1 * k * (j as f64 + 1.0).sin() }).collect(),
                var: (0..d).map(|j| if e == d + j + 1 { 3.0 } else { 1.0 + 0.05 * k * (j as f64 + 2.0).cos().abs() }).collect(),
            }
        })
        .collect()
}

/// `n` unit-variance anchors whose means span a `rank`-dimensional affine subspace.
pub fn mean_only_anchors(d: usize, rank: usize) -> Vec<EnvPrior> {
    (0..=rank).map(|e| EnvPrior { env: e as i64, mean: (0..d).map(|j| if e == j + 1 { 1.5 } else { 0.0 }).collect(), var: vec![1.0; d] }).collect()
}
