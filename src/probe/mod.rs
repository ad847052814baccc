//! The empirical indeterminacy probe: fit R restarts (seeds seed..seed+R−1, in parallel on the
//! available cores), encode the same data with each, and for every pair of restarts find how
//! large a class of maps is needed to explain their disagreement — identity, permutation and
//! sign, component-wise monotone maps, affine maps, or any smooth map (held-out k-NN regression).
//! The smallest class whose agreement is ≥ the threshold for every pair is the empirical
//! indeterminacy; it is compared with what the theory catalogue predicts for the model kind.
use crate::error::{Error, Result};
use crate::fit::{FitOptions, fit_model};
use crate::io::{Aux, Dataset};
use crate::matrix::Matrix;
use crate::metrics;
use crate::models::{Model, ModelKind};
use crate::metrics::consistency::{PeerScores, peer_scores};
use crate::theory::sets::Indeterminacy;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub mod controls;
pub mod coordinates;
pub mod report;
pub use controls::{Control, ControlReport};
pub use coordinates::CoordinateAgreement;

/// Alignment classes, smallest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    StronglyIdentifiable,
    UpToPermutationAndSign,
    UpToComponentwiseMaps,
    UpToAffine,
    NotIdentifiable,
}

impl Class {
    /// This level's entry of agreement scores given in class order (identity, permutation and
    /// sign, component-wise, affine, smooth): one mapping for every struct that holds them.
    pub fn score_of(self, [identity, permutation_sign, componentwise, affine, smooth]: [f64; 5]) -> f64 {
        match self {
            Class::StronglyIdentifiable => identity,
            Class::UpToPermutationAndSign => permutation_sign,
            Class::UpToComponentwiseMaps => componentwise,
            Class::UpToAffine => affine,
            Class::NotIdentifiable => smooth,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Class::StronglyIdentifiable => "strongly identifiable",
            Class::UpToPermutationAndSign => "up to permutation and sign",
            Class::UpToComponentwiseMaps => "up to component-wise maps",
            Class::UpToAffine => "up to affine",
            Class::NotIdentifiable => "not identifiable",
        }
    }

    /// The smallest class that `reaches` (identity first, affine last), else not identifiable.
    pub fn smallest(reaches: impl Fn(Class) -> bool) -> Class {
        use Class::*;
        [StronglyIdentifiable, UpToPermutationAndSign, UpToComponentwiseMaps, UpToAffine].into_iter().find(|&c| reaches(c)).unwrap_or(NotIdentifiable)
    }

    /// How restarts agree at this class, after "the restarts agree …".
    pub fn agreement_phrase(self) -> &'static str {
        match self {
            Class::StronglyIdentifiable => "at the identity",
            Class::UpToPermutationAndSign => "up to permutation and sign",
            Class::UpToComponentwiseMaps => "up to component-wise maps",
            Class::UpToAffine => "up to affine maps",
            Class::NotIdentifiable => "at no level",
        }
    }

    /// The largest class the theory allows for a set: a probe finding a smaller one is
    /// consistent (restarts need not visit every member), a larger one is not.
    pub fn predicted(set: &Indeterminacy) -> Class {
        use Indeterminacy::*;
        match set {
            s if s.is_identity() => Class::StronglyIdentifiable,
            SignFlips | SignedPermutations | PermutationScaling => Class::UpToPermutationAndSign,
            ComponentwiseAffine | ComponentwiseIncreasing | PermutationComponentwise | ProductPreserving => Class::UpToComponentwiseMaps,
            Orthogonal | Linear | TriangularLinear | AffineInSufficientStatistics => Class::UpToAffine,
            _ => Class::NotIdentifiable,
        }
    }
}

/// Agreement of two restarts' codes at each level (1 = perfect).
#[derive(Clone, Debug, Serialize)]
pub struct PairAgreement {
    pub a: usize,
    pub b: usize,
    /// Signed Pearson per coordinate, no matching (strong_mcc).
    pub identity: f64,
    /// |Pearson| after the best matching (mcc).
    pub permutation_sign: f64,
    /// |Spearman| after the best matching.
    pub componentwise: f64,
    /// R² of the best affine map, the worse of the two directions.
    pub affine: f64,
    /// Held-out R² of a k-NN regression, the worse of the two directions.
    pub smooth: f64,
}

impl PairAgreement {
    /// The agreement at one level (smooth for "not identifiable": any function of the code).
    pub fn at(&self, level: Class) -> f64 {
        level.score_of([self.identity, self.permutation_sign, self.componentwise, self.affine, self.smooth])
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    pub kind: String,
    pub seeds: Vec<u64>,
    pub validation_losses: Vec<f64>,
    pub pairs: Vec<PairAgreement>,
    pub threshold: f64,
    pub classification: Class,
    pub predicted: Class,
    pub theory_set: String,
    pub consistent: bool,
    /// Index (into `seeds`) of the restart with the lowest validation loss: the code whose
    /// coordinates `coordinates` describes.
    pub reference: usize,
    pub coordinates: Vec<CoordinateAgreement>,
    /// The per-coordinate result as one sentence.
    pub verdict: String,
    /// Set when the restarts agree more tightly than the theory guarantees: agreement of
    /// restarts then reflects the optimiser (same initialisation, same path), not uniqueness.
    pub caveat: Option<String>,
    /// CEBRA's and iTuna's scores of the same codes.
    pub peers: PeerScores,
    /// The null controls (empty unless asked for).
    pub controls: Vec<ControlReport>,
}

/// A probe's report and the restarts' codes of the data (in seed order).
pub struct Probe {
    pub report: ProbeReport,
    pub codes: Vec<Matrix>,
}

/// How many restarts, the agreement threshold, and whether to run the null controls.
#[derive(Clone, Debug)]
pub struct ProbeSettings {
    pub restarts: usize,
    pub threshold: f64,
    pub controls: bool,
}

/// Held-out R² of predicting `target` from `input` by k-nearest-neighbour averaging
/// (k = 10, a seeded subsample of at most 3000 rows, two thirds to fit, one third to test).
pub fn knn_r2(input: &Matrix, target: &Matrix, seed: u64) -> f64 {
    let r2 = knn_r2_columns(input, target, seed);
    r2.iter().sum::<f64>() / r2.len() as f64
}

/// `knn_r2` for each column of `target`.
pub fn knn_r2_columns(input: &Matrix, target: &Matrix, seed: u64) -> Vec<f64> {
    use rand::seq::SliceRandom;
    let mut idx: Vec<usize> = (0..input.rows).collect();
    idx.shuffle(&mut crate::train::stream(seed, 80));
    idx.truncate(3000);
    let n_fit = idx.len() * 2 / 3;
    let (fit, test) = idx.split_at(n_fit);
    // `agreement` has already refused constant columns, so every sd is positive.
    let sd = crate::standardize::Standardize::fit(input).sd;
    let k = 10.min(fit.len());
    let mut sse = vec![0.0; target.cols];
    let mut tss = vec![0.0; target.cols];
    let means: Vec<f64> = (0..target.cols).map(|j| test.iter().map(|&i| target.get(i, j)).sum::<f64>() / test.len() as f64).collect();
    let mut dist: Vec<(f64, usize)> = Vec::with_capacity(fit.len());
    for &t in test {
        dist.clear();
        for &f in fit {
            let d: f64 = (0..input.cols).map(|j| ((input.get(t, j) - input.get(f, j)) / sd[j]).powi(2)).sum();
            dist.push((d, f));
        }
        dist.select_nth_unstable_by(k - 1, |x, y| x.0.total_cmp(&y.0));
        for j in 0..target.cols {
            let pred = dist[..k].iter().map(|&(_, f)| target.get(f, j)).sum::<f64>() / k as f64;
            sse[j] += (target.get(t, j) - pred).powi(2);
            tss[j] += (target.get(t, j) - means[j]).powi(2);
        }
    }
    (0..target.cols).map(|j| 1.0 - sse[j] / tss[j]).collect()
}

pub fn agreement(a: usize, b: usize, za: &Matrix, zb: &Matrix, seed: u64) -> Result<PairAgreement> {
    let s = metrics::evaluate(za, zb)?;
    Ok(PairAgreement {
        a,
        b,
        identity: s.strong_mcc,
        permutation_sign: s.mcc,
        componentwise: s.mcc_spearman,
        affine: s.affine_r2.min(metrics::affine_r2(zb, za)),
        smooth: knn_r2(za, zb, seed).min(knn_r2(zb, za, seed)),
    })
}

/// The smallest class whose agreement reaches `threshold` for every pair.
pub fn classify(pairs: &[PairAgreement], threshold: f64) -> Class {
    Class::smallest(|level| pairs.iter().all(|p| p.at(level) >= threshold))
}

/// Fit one model per seed, in parallel (at most one per core). Results are in seed order and
/// each is a function of its seed alone, so the schedule does not change them.
pub fn fit_parallel(kind: ModelKind, opts: &FitOptions, ds: &Dataset, u: Option<&Aux>, u_path: &Path, seeds: &[u64]) -> Result<Vec<Model>> {
    // Restarts are rayon tasks: with as many restarts as threads each thread runs its own fit,
    // and a fit's batch halves (`train::data_parallel`) then stay on that thread; idle threads
    // steal halves. Results do not depend on the thread count.
    fit_parallel_each(kind, opts, ds, u, u_path, seeds).into_iter().collect()
}

/// `fit_parallel`, keeping each restart's own result (a failed restart does not hide the others).
pub fn fit_parallel_each(kind: ModelKind, opts: &FitOptions, ds: &Dataset, u: Option<&Aux>, u_path: &Path, seeds: &[u64]) -> Vec<Result<Model>> {
    use rayon::prelude::*;
    let quiet = FitOptions { quiet: true, ..opts.clone() };
    seeds.par_iter().map(|&seed| fit_model(kind, &quiet, ds, u, u_path, seed)).collect()
}

/// Fit `settings.restarts` models in parallel (at most one per core), probe their codes and,
/// if asked, the same restarts under each null control.
pub fn probe(kind: ModelKind, opts: &FitOptions, ds: &Dataset, u: Option<&Aux>, u_path: &Path, settings: &ProbeSettings) -> Result<Probe> {
    if settings.restarts < 2 {
        return Err(Error::usage("the probe needs at least 2 restarts"));
    }
    if !(settings.threshold > 0.0 && settings.threshold <= 1.0) {
        return Err(Error::usage(format!("--threshold must be in (0, 1] (an agreement level), got {}", settings.threshold)));
    }
    // Only the environment models use u (a vae is an ivae variant fitted without it).
    let uses_u = kind.ivae_variant().is_some() && kind != ModelKind::Vae;
    let u_for_controls = match u.filter(|_| uses_u) {
        None if settings.controls => return Err(Error::usage(format!("--controls shuffle or merge u, but {} is fitted without u: compare with a weakly identifiable kind instead (e.g. flow against tmi-flow)", kind.name()))),
        u => u.filter(|_| settings.controls),
    };
    let mut probe = probe_once(kind, opts, ds, u, u_path, settings)?;
    if let Some(u) = u_for_controls {
        let merged_env = u.labels().and_then(|l| l.iter().copied().min()).unwrap_or(0);
        for control in controls::ALL {
            let cu = control.apply(u, opts.seed);
            eprintln!("null control: {}", control.describe());
            let (control_opts, _guard) = controls::fit_options(control, opts, merged_env)?;
            let (result, error) = match probe_once(kind, &control_opts, ds, Some(&cu), u_path, settings) {
                Ok(p) => (Some(Box::new(p.report)), None),
                // A stop asked for by the user stops the probe; any other failure is the control's result.
                Err(e @ (Error::Interrupted { .. } | Error::Cancelled)) => return Err(e),
                Err(e) => (None, Some(e.to_string())),
            };
            probe.report.controls.push(ControlReport { control, description: control.describe(), result, error });
        }
    }
    Ok(probe)
}

fn probe_once(kind: ModelKind, opts: &FitOptions, ds: &Dataset, u: Option<&Aux>, u_path: &Path, settings: &ProbeSettings) -> Result<Probe> {
    let restarts = settings.restarts;
    let seeds: Vec<u64> = (0..restarts as u64).map(|r| opts.seed + r).collect();
    let models = fit_parallel(kind, opts, ds, u, u_path, &seeds)?;
    for (m, s) in models.iter().zip(&seeds) {
        eprintln!("restart seed {s}: validation loss {:.4}", m.report.best_val_loss);
    }
    let codes: Vec<Matrix> = models.iter().map(|m| m.encode(&ds.x, u, u_path, None)).collect::<Result<_>>()?;
    let mut pairs = Vec::new();
    for a in 0..restarts {
        for b in a + 1..restarts {
            pairs.push(agreement(a, b, &codes[a], &codes[b], opts.seed)?);
        }
    }
    let classification = classify(&pairs, settings.threshold);
    let (predicted, theory_set) = prediction_across_restarts(&models[0]);
    let losses: Vec<f64> = models.iter().map(|m| m.report.best_val_loss).collect();
    let reference = (0..restarts).min_by(|&a, &b| losses[a].total_cmp(&losses[b])).expect("at least 2 restarts");
    let coordinates = coordinates::per_coordinate(&codes, reference, settings.threshold, opts.seed);
    let report = ProbeReport {
        kind: kind.name().into(),
        seeds,
        validation_losses: losses,
        pairs,
        threshold: settings.threshold,
        classification,
        predicted,
        theory_set,
        consistent: classification <= predicted,
        caveat: (classification < predicted).then(|| {
            format!(
                "the restarts agree {} but the theory allows {}: other codes fit as well, and these restarts did not visit them (`strongid theory --model M --data D` applies one); read this agreement as the optimiser's, not as uniqueness",
                classification.agreement_phrase(),
                match predicted {
                    Class::NotIdentifiable => "any measure-preserving map".to_string(),
                    c => c.describe().to_string(),
                }
            )
        }),
        reference,
        verdict: coordinates::verdict(&coordinates, restarts),
        coordinates,
        peers: peer_scores(&codes)?,
        controls: Vec::new(),
    };
    Ok(Probe { report, codes })
}

/// What the theory predicts for restarts of this fit. Anchors learned by `--freeze-after` are
/// stage 1's priors, a plain mean-variance iVAE's (Prop. 4.3): each restart is unique given
/// its own frozen priors, but restarts may differ by stage 1's indeterminacy.
pub fn prediction_across_restarts(model: &Model) -> (Class, String) {
    if model.fitted.anchors_learned() {
        let stage1 = crate::theory::catalogue::class_of(ModelKind::Ivae, model.latent_dim(), None, false).expect("ivae has a class").analyze();
        return (
            Class::predicted(&stage1.set),
            format!("frozen priors learned from these data (--freeze-after): unique given each restart's own priors; across restarts, stage 1's {}", stage1.description),
        );
    }
    prediction(model)
}

/// The theory's largest class for a fitted model, and its set's description.
pub fn prediction(model: &Model) -> (Class, String) {
    let (check, variance_only) = (model.fitted.anchor_check().cloned(), model.fitted.variance_only());
    match crate::theory::catalogue::class_of(model.kind, model.latent_dim(), check.as_ref(), variance_only).map(|c| c.analyze()) {
        Some(v) => (Class::predicted(&v.set), v.description),
        None => (Class::NotIdentifiable, "unknown".into()),
    }
}

impl ProbeReport {
    /// What each control shows about the real fit's agreement, one line each.
    pub fn control_summary(&self) -> Vec<String> {
        let identity = |r: &ProbeReport| r.pairs.iter().map(|p| p.identity).fold(f64::INFINITY, f64::min);
        self.controls
            .iter()
            .map(|c| match (&c.result, &c.error) {
                (Some(r), _) if r.classification <= self.classification => format!(
                    "{}: the restarts still agree {} (worst identity {:.3} vs {:.3}): this agreement is NOT evidence that u identifies the code",
                    c.description,
                    r.classification.agreement_phrase(),
                    identity(r),
                    identity(self)
                ),
                (Some(r), _) => format!(
                    "{}: the restarts agree only {} (worst identity {:.3} vs {:.3}; CEBRA consistency {:.3} vs {:.3}): the real fit's agreement comes from u",
                    c.description,
                    r.classification.agreement_phrase(),
                    identity(r),
                    identity(self),
                    r.peers.cebra_mean,
                    self.peers.cebra_mean
                ),
                (None, Some(e)) => format!("{}: cannot be fitted ({e})", c.description),
                (None, None) => format!("{}: no result", c.description),
            })
            .collect()
    }

    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        writeln!(out, "{}: {} restarts (seeds {:?}), validation losses {:?}", self.kind, self.seeds.len(), self.seeds, self.validation_losses.iter().map(|v| (v * 1e4).round() / 1e4).collect::<Vec<_>>()).ok();
        writeln!(out, "{:>9}  {:>10}  {:>12}  {:>13}  {:>8}  {:>8}", "pair", "identity", "perm + sign", "component-wise", "affine", "smooth").ok();
        for p in &self.pairs {
            writeln!(out, "{:>9}  {:>10.4}  {:>12.4}  {:>13.4}  {:>8.4}  {:>8.4}", format!("{} vs {}", p.a + 1, p.b + 1), p.identity, p.permutation_sign, p.componentwise, p.affine, p.smooth).ok();
        }
        writeln!(out, "empirical (every pair ≥ {}): {}", self.threshold, self.classification.describe()).ok();
        writeln!(out, "theory: {} → at most {}", self.theory_set, self.predicted.describe()).ok();
        writeln!(out, "{}", if self.consistent { "consistent with the theory" } else { "INCONSISTENT with the theory: the restarts disagree by more than the indeterminacy set allows (an optimisation failure?)" }).ok();
        writeln!(out, "per coordinate of restart {} (seed {}, lowest validation loss), worst over the other restarts:", self.reference + 1, self.seeds[self.reference]).ok();
        writeln!(out, "{:>10}  {:>10}  {:>12}  {:>13}  {:>8}  {:>8}  level", "coordinate", "identity", "perm + sign", "component-wise", "affine", "smooth").ok();
        for c in &self.coordinates {
            writeln!(out, "{:>10}  {:>10.4}  {:>12.4}  {:>13.4}  {:>8.4}  {:>8.4}  {}", c.coordinate, c.identity, c.permutation_sign, c.componentwise, c.affine, c.smooth, c.level.describe()).ok();
        }
        writeln!(out, "verdict: {}", self.verdict).ok();
        if let Some(c) = &self.caveat {
            writeln!(out, "caveat: {c}").ok();
        }
        let i = &self.peers.ituna;
        writeln!(out, "peer scores: CEBRA consistency {:.4}; iTuna identity {:.4}, permutation {:.4}, linear {:.4}, affine {:.4}", self.peers.cebra_mean, i.identity, i.permutation, i.linear, i.affine).ok();
        for c in &self.controls {
            match &c.result {
                Some(r) => writeln!(out, "null control, {}: {}; verdict: {}; CEBRA consistency {:.4}", c.description, r.classification.describe(), r.verdict, r.peers.cebra_mean).ok(),
                None => writeln!(out, "null control, {}: not fitted: {}", c.description, c.error.as_deref().unwrap_or("")).ok(),
            };
        }
        for line in self.control_summary() {
            writeln!(out, "control: {line}").ok();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::standard_normal;
    use crate::train::stream;

    #[test]
    fn classification_finds_the_smallest_class() {
        let z = standard_normal(3000, 3, &mut stream(1, 0));
        let perm = Matrix::from_fn(3000, 3, |i, j| -z.get(i, (j + 1) % 3));
        let cube = Matrix::from_fn(3000, 3, |i, j| z.get(i, j).powi(3));
        let rot = Matrix::from_fn(3000, 3, |i, j| match j {
            0 => 0.6 * z.get(i, 0) - 0.8 * z.get(i, 1),
            1 => 0.8 * z.get(i, 0) + 0.6 * z.get(i, 1),
            _ => z.get(i, 2),
        });
        let warp = Matrix::from_fn(3000, 3, |i, j| if j == 0 { z.get(i, 0) + 0.8 * z.get(i, 1).powi(2) } else { z.get(i, j) });
        let noise = standard_normal(3000, 3, &mut stream(2, 0));
        let cases = [
            (&z, Class::StronglyIdentifiable),
            (&perm, Class::UpToPermutationAndSign),
            (&cube, Class::UpToComponentwiseMaps),
            (&rot, Class::UpToAffine),
            (&warp, Class::NotIdentifiable),
            (&noise, Class::NotIdentifiable),
        ];
        for (other, expected) in cases {
            let pair = agreement(0, 1, &z, other, 0).unwrap();
            assert_eq!(classify(&[pair.clone()], 0.95), expected, "{pair:?}");
        }
        // A smooth warp is still a function of the code (smooth R² high); noise is not.
        let w = agreement(0, 1, &z, &warp, 0).unwrap();
        assert!(w.smooth > 0.9, "{w:?}");
        assert!(agreement(0, 1, &z, &noise, 0).unwrap().smooth < 0.1);
    }
}
