//! Null controls: the same restarts on data whose environments can no longer identify the code,
//! so that a user sees what agreement looks like when identifiability is destroyed. For the
//! iVAE family the environments are what breaks the symmetry of the latent space (Thm 4.5:
//! affinely independent anchor priors); shuffling u across rows keeps its marginal but makes it
//! independent of x, and merging the environments leaves one. If a control's restarts agree as
//! well as the real fit's, that agreement is not evidence that u identifies the code (CEBRA
//! users found its consistency high on shuffled data: CEBRA issue 226).
use crate::error::{Error, Result};
use crate::fit::FitOptions;
use crate::io::Aux;
use crate::matrix::Matrix;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Control {
    /// u permuted across rows (seeded): its marginal kept, its relation to x destroyed.
    ShuffledU,
    /// Every row in one environment (real-valued u: every row at its column means).
    MergedEnvironments,
}

pub const ALL: [Control; 2] = [Control::ShuffledU, Control::MergedEnvironments];

impl Control {
    pub fn describe(self) -> &'static str {
        match self {
            Control::ShuffledU => "u shuffled across rows",
            Control::MergedEnvironments => "environments merged into one",
        }
    }

    /// The control's u: a function of `u` and `seed` alone.
    pub fn apply(self, u: &Aux, seed: u64) -> Aux {
        use rand::seq::SliceRandom;
        match (self, u) {
            (Control::ShuffledU, _) => {
                let mut order: Vec<usize> = (0..u.rows()).collect();
                order.shuffle(&mut crate::train::stream(seed, 81));
                u.select(&order)
            }
            (Control::MergedEnvironments, Aux::Labels(l)) => Aux::Labels(vec![l.iter().copied().min().unwrap_or(0); l.len()]),
            (Control::MergedEnvironments, Aux::Continuous(m)) => {
                let means: Vec<f64> = (0..m.cols).map(|j| m.col(j).iter().sum::<f64>() / m.rows as f64).collect();
                Aux::Continuous(Matrix::from_fn(m.rows, m.cols, |_, j| means[j]))
            }
        }
    }
}

/// The fit options of a control's restarts. A control breaks Thm 4.5's condition on purpose
/// (merged environments leave one), so it is fitted with --allow-weak; with the environments
/// merged, given anchors keep only the merged environment's prior (written to a temporary
/// file, removed when the returned guard drops) and --anchor-envs is dropped.
pub fn fit_options(control: Control, opts: &FitOptions, merged_env: i64) -> Result<(FitOptions, Option<TempFile>)> {
    let mut o = FitOptions { allow_weak: true, ..opts.clone() };
    if control != Control::MergedEnvironments {
        return Ok((o, None));
    }
    o.anchor_envs = None;
    let Some(path) = &opts.anchors else { return Ok((o, None)) };
    let kept: Vec<_> = crate::priors::read_anchors(path)?.into_iter().filter(|a| a.env == merged_env).collect();
    if kept.is_empty() {
        return Err(Error::input(path, format!("no anchor for environment {merged_env}, the one the merged control keeps")));
    }
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = std::env::temp_dir().join(format!(".strongid-merged-anchors.{}.{k}.json", std::process::id()));
    let guard = TempFile(tmp.clone(), crate::io::temps::Live::register(&tmp));
    std::fs::write(&tmp, serde_json::to_string(&kept).expect("priors serialize")).map_err(|e| Error::io(&tmp, e))?;
    o.anchors = Some(tmp);
    Ok((o, Some(guard)))
}

/// A temporary file deleted on drop (and on Ctrl-C, through `temps::Live`).
pub struct TempFile(std::path::PathBuf, #[allow(dead_code)] crate::io::temps::Live);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One control's probe, or why its restarts could not be fitted (itself informative: with the
/// environments merged, frozen anchors no longer satisfy Thm 4.5 and the fit refuses).
#[derive(Clone, Debug, Serialize)]
pub struct ControlReport {
    pub control: Control,
    pub description: &'static str,
    pub result: Option<Box<super::ProbeReport>>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shuffled u is a permutation of u (same multiset), not u itself; merging leaves one
    /// environment; both are deterministic in the seed.
    #[test]
    fn controls_are_what_they_say() {
        let u = Aux::Labels((0..1000).map(|i| i / 100).collect());
        let Aux::Labels(s) = Control::ShuffledU.apply(&u, 5) else { panic!() };
        let Aux::Labels(orig) = &u else { panic!() };
        let (mut a, mut b) = (s.clone(), orig.clone());
        a.sort();
        b.sort();
        assert_eq!(a, b);
        let moved = s.iter().zip(orig).filter(|(x, y)| x != y).count();
        assert!(moved > 800, "{moved} of 1000 rows changed environment");
        let Aux::Labels(again) = Control::ShuffledU.apply(&u, 5) else { panic!() };
        assert_eq!(s, again);
        let Aux::Labels(m) = Control::MergedEnvironments.apply(&u, 5) else { panic!() };
        assert!(m.iter().all(|&e| e == 0));
        let c = Aux::Continuous(Matrix::from_fn(4, 2, |i, j| (i + j) as f64));
        let Aux::Continuous(cm) = Control::MergedEnvironments.apply(&c, 0) else { panic!() };
        assert_eq!(cm.data, vec![1.5, 2.5, 1.5, 2.5, 1.5, 2.5, 1.5, 2.5]);
    }
}
