//! The fit-time certificate: fit several restarts, keep the best by validation loss, and check
//! that the best two agree at the level the theory catalogue predicts for the fitted model (the
//! identity for a strongly identifiable one, permutation and sign or affine maps for weaker
//! ones). Two restarts that explain the data equally well but give codes further apart than the
//! indeterminacy set allows mean an optimum was missed: the code may be wrong, and we say so.
use crate::error::{Error, Result};
use crate::fit::{FitOptions, fit_model};
use crate::io::{Aux, Dataset};
use crate::models::{Fitted, Model, ModelKind};
use crate::probe::{self, Class};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Agreement needed between the best two restarts (the probe's default threshold).
pub const THRESHOLD: f64 = 0.95;

/// Restarts `fit` runs when not told: the iVAE variants' ELBO has poor local optima, so they
/// get a second fit that certifies the first (two run side by side on two cores); flows and
/// factor analysis fit right the first time and keep one.
pub fn default_restarts(kind: ModelKind) -> usize {
    match kind {
        ModelKind::Ivae | ModelKind::IvaeFrozen => 2,
        _ => 1,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    /// Every restart's seed and best validation loss (None: the restart failed).
    pub seeds: Vec<u64>,
    pub validation_losses: Vec<Option<f64>>,
    /// Seeds of the best two restarts, best first.
    pub best_two: [u64; 2],
    /// The class the theory catalogue allows for this model: agreement is measured at it.
    pub level: Class,
    /// The best two codes' agreement at `level` (1 = identical).
    pub agreement: f64,
    pub threshold: f64,
    /// ivae-frozen with anchors whose means fix the linear start: how many bootstrap resamples'
    /// linear codes agree with the full data's at the identity (`ivae::init::anchor_stability`).
    #[serde(default)]
    pub anchor_stability: Option<[usize; 2]>,
    /// Goodness of fit of the best restart's prior model (`misspecification`): the codes within
    /// environments against the fitted priors.
    #[serde(default)]
    pub prior_fit: Option<crate::misspecification::PriorFit>,
    /// A model with observation noise: how precisely x determines the code under the best
    /// restart (`determination`), held to `threshold` like the agreement.
    #[serde(default)]
    pub determination: Option<crate::determination::Determination>,
    /// The restarts agree, the anchors pin the code down (every resample agrees), the model
    /// is not rejected by the goodness-of-fit check, and x determines the code (≥ threshold).
    pub agrees: bool,
}

impl Certificate {
    pub fn message(&self) -> String {
        let what = match self.level {
            Class::StronglyIdentifiable => "the identity (strongly identifiable: the code must be unique)",
            Class::UpToPermutationAndSign => "permutation and sign (the catalogue's set for this model)",
            Class::UpToComponentwiseMaps => "component-wise maps (the catalogue's set for this model)",
            Class::UpToAffine => "affine maps (the catalogue's set for this model)",
            Class::NotIdentifiable => "a smooth map (the theory promises no more for this model)",
        };
        let head = format!("best two restarts (seeds {} and {}) agree {:.4} up to {what}", self.best_two[0], self.best_two[1], self.agreement);
        let weak = match self.anchor_stability {
            Some([agree, total]) if agree < total => format!(
                "; but only {agree} of {total} bootstrap resamples of the data give the same linear code: the anchors pin the code down only weakly at this \
                 sample size (nearly collinear means: a reflection changes the priors very little), so the code may be a reflection of the true one \
                 (use anchors whose means are further from collinear, or more data)"
            ),
            _ => String::new(),
        };
        let misfit = match &self.prior_fit {
            Some(p) if !p.fits() => format!("; but {}", p.message()),
            _ => String::new(),
        };
        let vague = match &self.determination {
            Some(d) if d.mean < self.threshold => format!(
                "; the code is unique, but {}: below {}, so it is a noisy estimate of the latent rather than the latent itself (more observed \
                 coordinates or less noise determine it better)",
                d.message(),
                self.threshold
            ),
            _ => String::new(),
        };
        let weak = format!("{weak}{misfit}{vague}");
        if self.agreement < self.threshold {
            format!(
                "{head}: NOT certified (< {}). Two fits that explain the data about equally well disagree by more than the theory allows: \
                 the optimum was not found and the saved code may be wrong. Try more --restarts or --epochs{weak}",
                self.threshold
            )
        } else if !weak.is_empty() {
            format!("{head}{weak}: NOT certified")
        } else {
            // A noisy model's certificate also says how precisely x determines the code.
            let determined = self.determination.as_ref().map_or(String::new(), |d| format!("; {}", d.message()));
            // Certified as a noiseless model only: learned priors hide observation noise.
            let unseen = match &self.prior_fit {
                Some(p) if p.priors_learned => format!(" as a noiseless model, {}", crate::misspecification::PriorFit::NOISE_UNSEEN),
                _ => String::new(),
            };
            format!("{head}{determined}: certified (≥ {}){unseen}", self.threshold)
        }
    }
}

/// Fit `restarts` models (seeds seed, seed+1, …; in parallel, at most one per core), keep the
/// best by validation loss and, with two or more that succeeded, attach the certificate. A
/// restart that fails (e.g. diverges) is recorded and skipped; if all fail, the first error is
/// returned. One restart is a plain fit with a progress bar.
/// With `--generator auto`, a flow-generator fit the goodness-of-fit check rejects is refitted
/// with observation noise, and D > d is fitted through the lift (`noisy_refit`).
pub fn fit_certified(kind: ModelKind, opts: &FitOptions, ds: &Dataset, u: Option<&Aux>, u_path: &Path, restarts: usize) -> Result<Model> {
    if crate::noisy_refit::lifts(kind, opts, ds.x.cols, u)? {
        return crate::noisy_refit::lifted(kind, opts, ds, u, u_path, restarts);
    }
    let fits = fit_restarts(kind, opts, ds, u, u_path, restarts)?;
    crate::noisy_refit::after_flow(kind, opts, ds, u, u_path, restarts, fits)
}

/// The successful restarts, best first, the certificate on the first (`fit_certified` without
/// the noisy refit).
pub fn fit_restarts(kind: ModelKind, opts: &FitOptions, ds: &Dataset, u: Option<&Aux>, u_path: &Path, restarts: usize) -> Result<Vec<(u64, Model)>> {
    if restarts == 0 {
        return Err(Error::usage("--restarts must be at least 1"));
    }
    if restarts == 1 {
        return Ok(vec![(opts.seed, fit_model(kind, opts, ds, u, u_path, opts.seed)?)]);
    }
    let seeds: Vec<u64> = (0..restarts as u64).map(|r| opts.seed + r).collect();
    let results = probe::fit_parallel_each(kind, opts, ds, u, u_path, &seeds);
    let validation_losses: Vec<Option<f64>> = results.iter().map(|r| r.as_ref().ok().map(|m| m.report.best_val_loss)).collect();
    let mut ok: Vec<(u64, Model)> = Vec::new();
    let mut first_err = None;
    for (seed, r) in seeds.iter().zip(results) {
        match r {
            Ok(m) => ok.push((*seed, m)),
            // Stopped by a signal with its state saved: the fit as a whole stops.
            Err(e @ Error::Interrupted { .. }) => return Err(e),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    if ok.is_empty() {
        return Err(first_err.expect("at least one restart"));
    }
    // Stable sort: equal losses keep seed order, so the choice is a function of the seeds.
    ok.sort_by(|a, b| a.1.report.best_val_loss.total_cmp(&b.1.report.best_val_loss));
    if ok.len() == 1 {
        return Ok(ok); // only one restart succeeded: nothing to compare with
    }
    let (best_seed, second_seed) = (ok[0].0, ok[1].0);
    let (best, second) = (&ok[0].1, &ok[1].1);
    let (level, _) = probe::prediction(best);
    let za = best.encode(&ds.x, u, u_path, None)?;
    let zb = second.encode(&ds.x, u, u_path, None)?;
    // A constant code coordinate (a collapsed latent) leaves correlations undefined: no agreement.
    let agreement = probe::agreement(0, 1, &za, &zb, opts.seed).map_or(0.0, |p| p.at(level));
    let anchor_stability = match (&best.fitted, u) {
        (Fitted::Vae(v), Some(Aux::Labels(u))) => crate::ivae::fit::anchor_stability(v, &ds.x, u, THRESHOLD, best_seed).map(|(a, t)| [a, t]),
        (Fitted::FlowIvae(f), Some(Aux::Labels(u))) => crate::ivae::fit::anchor_stability_flow(f, &ds.x, u, THRESHOLD, best_seed).map(|(a, t)| [a, t]),
        _ => None,
    };
    let stable = anchor_stability.is_none_or(|[a, t]| a == t);
    let prior_fit = match u {
        Some(Aux::Labels(u)) => crate::misspecification::of_model(best, &ds.x, u)?,
        _ => None,
    };
    let fits = prior_fit.as_ref().is_none_or(|p| p.fits());
    let determination = match u {
        Some(u) => crate::determination::of_model(best, u, u_path, best_seed)?,
        None => None,
    };
    let determined = determination.as_ref().is_none_or(|d| d.mean >= THRESHOLD);
    ok[0].1.certificate = Some(Certificate {
        seeds,
        validation_losses,
        best_two: [best_seed, second_seed],
        level,
        agreement,
        threshold: THRESHOLD,
        anchor_stability,
        prior_fit,
        determination,
        agrees: agreement >= THRESHOLD && stable && fits && determined,
    });
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;
    use crate::simulate::standard_normal;
    use crate::train::stream;

    /// A code and its sign-flipped, permuted copy agree up to permutation and sign but not at
    /// the identity: the level the theory predicts decides whether the pair certifies.
    #[test]
    fn agreement_is_measured_at_the_predicted_level() {
        let z = standard_normal(2000, 3, &mut stream(4, 0));
        let flipped = Matrix::from_fn(2000, 3, |i, j| -z.get(i, (j + 1) % 3));
        let pair = probe::agreement(0, 1, &z, &flipped, 0).unwrap();
        assert!(pair.at(Class::StronglyIdentifiable) < 0.0);
        assert!(pair.at(Class::UpToPermutationAndSign) > 0.999);
        assert!(pair.at(Class::UpToAffine) > 0.999);
        let c = |level, agreement: f64| Certificate {
            seeds: vec![0, 1],
            validation_losses: vec![Some(1.0), Some(1.1)],
            best_two: [0, 1],
            level,
            agreement,
            threshold: THRESHOLD,
            anchor_stability: None,
            prior_fit: None,
            determination: None,
            agrees: agreement >= THRESHOLD,
        };
        assert!(c(Class::StronglyIdentifiable, -0.33).message().contains("NOT certified"));
        assert!(c(Class::UpToPermutationAndSign, 1.0).message().contains(": certified"));
        let weak = Certificate { anchor_stability: Some([12, 20]), agrees: false, ..c(Class::StronglyIdentifiable, 0.99) };
        assert!(weak.message().contains("only 12 of 20") && weak.message().ends_with("NOT certified"));
        // A passing goodness-of-fit check certifies a noiseless model only when priors are learned.
        let pass = |priors_learned| crate::misspecification::PriorFit {
            rows: 4000,
            ks: vec![0.01, 0.02],
            variance: vec![1.0, 1.0],
            excess_kurtosis: vec![0.0, 0.0],
            threshold: 0.035,
            misspecified: false,
            priors_learned,
            dependence_pair: [0, 1],
            dependence: 0.02,
            dependence_threshold: 0.12,
        };
        let learned = Certificate { prior_fit: Some(pass(true)), ..c(Class::UpToAffine, 0.99) }.message();
        assert!(learned.contains("certified (≥ 0.95) as a noiseless model") && learned.contains("cannot rule noise out"), "{learned}");
        let anchored = Certificate { prior_fit: Some(pass(false)), ..c(Class::StronglyIdentifiable, 0.99) }.message();
        assert!(anchored.ends_with("certified (≥ 0.95)"), "{anchored}");
    }
}
