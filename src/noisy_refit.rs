//! `--generator auto` on data that a noiseless generator cannot explain (issue #21). The flow
//! generator assumes x = g(z) exactly. Observed data carry noise; the flow then inverts the
//! noise into the code, and restarts reproduce that noisy code (agreement shows uniqueness for
//! the model, not correctness). When the goodness-of-fit check (`misspecification`) rejects the
//! flow fit, auto refits the MLP generator with a learned observation noise,
//!   x = f(z) + ε,  ε ~ N(0, diag σ²)   (σ² learned per coordinate, ELBO),
//! each restart warm-started on the code g⁻¹(x) of the flow restart of the same seed (the
//! flow's code is the right code up to the noise; restarts keep independent starts), and keeps
//! the noisy model when its held-out −log-likelihood, bounded from above by the importance-
//! weighted bound, is below the flow's exact one: the noisy model then explains unseen rows
//! better even by its bound. Otherwise the flow stays, reported as misspecified.
//!
//! More coordinates than latents (D > d) get the same two steps through an injective lift:
//! the flow generator on the d leading principal components of x (the data's top-d subspace,
//! where an injective generator's image is seen best), then the noisy MLP generator on all D
//! coordinates started at that flow's code. The flow on components is only a start here (it
//! is no model of the other D − d coordinates), so the noisy model is always the one kept.
use crate::certificate;
use crate::error::Result;
use crate::fit::{FitOptions, GeneratorArg};
use crate::io::{Aux, Dataset};
use crate::matrix::Matrix;
use crate::misspecification::PriorFit;
use crate::models::{Fitted, Model, ModelKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// What auto did beyond one fit (saved in the model file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum AutoRefit {
    /// Square data: a flow fit the goodness-of-fit check rejected.
    Noise(NoisyRefit),
    /// D > d: the noisy MLP generator started at a flow on the leading principal components.
    Lift(Lift),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lift {
    /// Principal components the flow saw (= the latent dimension) of the data's coordinates.
    pub components: usize,
    pub obs_dim: usize,
    /// Share of the standardised data's variance they carry.
    pub explained_variance: f64,
    /// The learned observation noise sd per coordinate, in the data's units.
    pub noise_sd: Vec<f64>,
}

impl AutoRefit {
    pub fn message(&self) -> String {
        match self {
            AutoRefit::Noise(r) => r.message(),
            AutoRefit::Lift(l) => {
                let sd = l.noise_sd.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>().join(" ");
                format!(
                    "mlp with learned observation noise (auto: {} latents < {} observed coordinates, so the MLP generator x = f(z) + ε with learned noise, \
                     started at the code of the flow generator fitted on the {} leading principal components ({:.1} % of the standardised variance); \
                     learned noise sd {sd})",
                    l.components, l.obs_dim, l.components, 100.0 * l.explained_variance
                )
            }
        }
    }
    /// The noisy MLP generator is the model kept.
    pub fn kept_noisy(&self) -> bool {
        match self {
            AutoRefit::Noise(r) => r.kept_noisy,
            AutoRefit::Lift(_) => true,
        }
    }
}

/// What auto did with a flow fit the goodness-of-fit check rejected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoisyRefit {
    /// The check that rejected the flow fit (its best restart).
    pub flow_fit: PriorFit,
    /// Held-out −log p(x | u) per row of the flow fit, exact, in standardised-x units (nats).
    pub flow_heldout_nll: f64,
    /// Held-out −log p per row of the noisy refit, same units, bounded from above by the
    /// importance-weighted bound (`heldout_bound`).
    pub noisy_heldout_bound: f64,
    /// The noisy refit's learned observation noise sd per coordinate, in the data's units.
    pub noise_sd: Vec<f64>,
    /// The noisy model was kept (its bound beats the flow); false: the flow was kept.
    pub kept_noisy: bool,
}

impl NoisyRefit {
    pub fn message(&self) -> String {
        let (j, ks) = self.flow_fit.worst();
        let sd = self.noise_sd.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>().join(" ");
        let head = format!(
            "the flow generator's fit was rejected as misspecified (KS distance {ks:.3} > {:.3} on coordinate {}), so auto refitted the MLP generator \
             with learned observation noise x = f(z) + ε, started at the flow's code: held-out −log p per row {:.3} nats (flow, exact) vs ≤ {:.3} (noisy \
             model, importance-weighted bound, {IW_SAMPLES} draws); learned noise sd {sd}",
            self.flow_fit.threshold,
            j + 1,
            self.flow_heldout_nll,
            self.noisy_heldout_bound
        );
        if self.kept_noisy {
            format!("mlp with learned observation noise ({head}: the noisy model explains held-out rows better and is kept)")
        } else {
            format!("flow ({head}: the noisy model does not beat the flow on held-out rows, so the flow is kept, and it remains misspecified)")
        }
    }
}

/// Whether `opts` leave the choice to auto and `model` is a flow-generator fit the
/// goodness-of-fit check rejects: the check's result, else None.
fn rejected_flow(opts: &FitOptions, model: &Model, ds: &Dataset, u: Option<&Aux>) -> Result<Option<PriorFit>> {
    if opts.generator != GeneratorArg::Auto || !matches!(model.fitted, Fitted::FlowIvae(_)) {
        return Ok(None);
    }
    let fit = match model.certificate.as_ref().and_then(|c| c.prior_fit.clone()) {
        Some(p) => Some(p),
        None => match u {
            Some(Aux::Labels(u)) => crate::misspecification::of_model(model, &ds.x, u)?,
            _ => None,
        },
    };
    Ok(fit.filter(|p| p.misspecified))
}

/// Held-out −log p(x_std | u) per row of a flow-generator fit: its validation loss is in the
/// flow's input units y, so add log|det ∂y/∂x_std| back.
fn flow_heldout_nll(model: &Model) -> f64 {
    match &model.fitted {
        Fitted::FlowIvae(f) => model.report.best_val_loss - f.config.log_det_input(),
        _ => f64::NAN,
    }
}

/// Importance samples of the noisy model's held-out bound (`Vae::log_lik_bound`).
pub const IW_SAMPLES: usize = 64;

/// Held-out −log p(x_std | u) per row of a fitted MLP-generator model, estimated from above by
/// the importance-weighted bound with `IW_SAMPLES` draws (much tighter than the ELBO the
/// validation loss is), on the validation rows of its fit.
pub fn heldout_bound(model: &Model, ds: &Dataset, u: Option<&Aux>, u_path: &Path) -> Result<f64> {
    let Fitted::Vae(vae) = &model.fitted else { return Ok(f64::NAN) };
    let (_, val) = crate::train::split_rows(ds.x.rows, model.train.val_fraction, model.train.split_seed)?;
    let x = ds.x.select_rows(&val);
    let x = vae.config.standardize.as_ref().map_or_else(|| x.clone(), |s| s.apply(&x));
    let onehot = vae.u_features(u, ds.x.rows, u_path)?.select_rows(&val);
    let mut rng = crate::train::stream(model.train.seed, 50);
    let d = vae.config.latent_dim;
    let mut total = 0.0;
    for start in (0..val.len()).step_by(1024) {
        let rows: Vec<usize> = (start..(start + 1024).min(val.len())).collect();
        let xt = crate::tensor::from_matrix(&x.select_rows(&rows), crate::tensor::DType::F32);
        let ut = (onehot.cols > 0).then(|| crate::tensor::from_matrix(&onehot.select_rows(&rows), crate::tensor::DType::F32));
        let eps = (0..IW_SAMPLES).map(|_| crate::tensor::from_matrix(&crate::simulate::standard_normal(rows.len(), d, &mut rng), crate::tensor::DType::F32)).collect();
        total -= crate::tensor::to_vec(vae.log_lik_bound(&vae.params.values, xt, ut, eps)).iter().sum::<f64>();
    }
    Ok(total / val.len() as f64)
}

/// `auto`'s second step after the flow restarts `flows` (best first; `flows[0]` carries the
/// certificate): the best flow model unchanged, or the noisy refit (`NoisyRefit` recorded in
/// the model either way once the flow was rejected).
pub fn after_flow(kind: ModelKind, opts: &FitOptions, ds: &Dataset, u: Option<&Aux>, u_path: &Path, restarts: usize, mut flows: Vec<(u64, Model)>) -> Result<Model> {
    let Some(flow_fit) = rejected_flow(opts, &flows[0].1, ds, u)? else {
        return Ok(flows.swap_remove(0).1);
    };
    let mut codes = BTreeMap::new();
    for (seed, m) in &flows {
        codes.insert(*seed, Arc::new(m.encode(&ds.x, u, u_path, None)?));
    }
    // Restarts whose flow failed start from the best flow's code.
    let best_code = codes[&flows[0].0].clone();
    for r in 0..restarts as u64 {
        codes.entry(opts.seed + r).or_insert_with(|| best_code.clone());
    }
    let noisy_opts = FitOptions {
        generator: GeneratorArg::Mlp,
        learn_decoder_var: true,
        hidden_layers: opts.hidden_layers.or(Some(NOISY_HIDDEN_LAYERS)),
        start_codes: Some(Arc::new(codes)),
        ..opts.clone()
    };
    let noisy = certificate::fit_certified(kind, &noisy_opts, ds, u, u_path, restarts)?;
    let flow = flows.swap_remove(0).1;
    let flow_heldout_nll = flow_heldout_nll(&flow);
    let noisy_heldout_bound = heldout_bound(&noisy, ds, u, u_path)?;
    let kept_noisy = noisy_heldout_bound < flow_heldout_nll;
    let refit = NoisyRefit {
        flow_fit,
        flow_heldout_nll,
        noisy_heldout_bound,
        noise_sd: match &noisy.fitted {
            Fitted::Vae(v) => v.noise_sd(),
            _ => Vec::new(),
        },
        kept_noisy,
    };
    let mut chosen = if kept_noisy { noisy } else { flow };
    chosen.auto_refit = Some(AutoRefit::Noise(refit));
    Ok(chosen)
}

/// Hidden layers per network of the square noisy refit (the MLP generator's own default is 2).
/// The decoder's capacity bounds these fits: the learned noise sd comes out above the true one,
/// and the Bayes-optimal code reaches 0.961 where the fit reaches 0.942 (seed 301, σ = 0.05).
/// Tuning seeds 301–305, σ = 0.05 and 0.1: 3 layers gained 0.0014–0.0038 on each of the ten
/// datasets at 1.15× the time (4 layers another 0.001 at 1.4×; 96 and 128 units with 3 layers
/// 0.004–0.0075 over 2 layers at 1.6× and 2.1×); data seeds 201–210: +0.000–0.004 on all 30
/// noisy fits, at ≈ 1.3× the refit's time (bench/ivae_speed_cases.sh, noise against sq5). The
/// lift keeps 2 layers: 3 gained 0.001–0.005 there at 1.2–1.5× its time.
pub const NOISY_HIDDEN_LAYERS: usize = 3;

/// Hidden units of the lift's noisy MLP generator (the MLP generator's own default is 64).
/// Tuning seeds 301–303, d = 5, D = 20 noiseless: strong_mcc 0.967 0.970 0.973 → 0.973 0.976
/// 0.979 at 1.6× the time (96: 0.972 0.974 0.977 at 1.3×; 256: 0.976 0.980 0.982 at 4×); D = 50
/// and σ = 0.1 (seeds 301–302) gained 0.005–0.007 as well (these with 2 hidden layers). The
/// square noisy refit keeps 64: 128 gained only 0.002–0.003 there (σ = 0.1, seeds 301–303) at
/// 1.55× the time.
pub const LIFT_HIDDEN: usize = 128;

/// Whether auto lifts: ivae / ivae-frozen left to auto with environment labels, fewer latents
/// than coordinates, and no option of the MLP generator given (those ask for the plain MLP).
pub fn lifts(kind: ModelKind, opts: &FitOptions, obs_dim: usize, u: Option<&Aux>) -> Result<bool> {
    let ivae = matches!(kind, ModelKind::Ivae | ModelKind::IvaeFrozen);
    Ok(ivae && opts.generator == GeneratorArg::Auto && crate::fit::mlp_option(opts).is_none() && matches!(u, Some(Aux::Labels(_))) && opts.start_codes.is_none() && {
        let d = opts.resolved_latent_dim(kind, obs_dim)?;
        d < obs_dim
    })
}

/// Scores of x on its `d` leading principal components (standardised with the training rows'
/// constants, covariance of the training rows), and the share of variance they carry.
fn principal_scores(x: &Matrix, d: usize, train: &crate::train::TrainConfig) -> Result<(Matrix, f64)> {
    let s = crate::standardize::Standardize::fit_training_rows(x, train)?;
    let xs = s.apply(x);
    let (rows, _) = crate::train::split_rows(x.rows, train.val_fraction, train.split_seed)?;
    let t = xs.select_rows(&rows).to_nalgebra();
    let cov = t.transpose() * &t / rows.len() as f64;
    let eig = nalgebra::SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..x.cols).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let total: f64 = eig.eigenvalues.iter().sum();
    let explained = order[..d].iter().map(|&k| eig.eigenvalues[k]).sum::<f64>() / total;
    let v = nalgebra::DMatrix::from_fn(x.cols, d, |i, j| eig.eigenvectors[(i, order[j])]);
    Ok((Matrix::from_nalgebra(&(xs.to_nalgebra() * v)), explained))
}

/// The lifted fit (`lifts`): flow restarts on the principal components, then the noisy MLP
/// generator's restarts on x, each started at the flow restart of its seed.
pub fn lifted(kind: ModelKind, opts: &FitOptions, ds: &Dataset, u: Option<&Aux>, u_path: &Path, restarts: usize) -> Result<Model> {
    let d = opts.resolved_latent_dim(kind, ds.x.cols)?;
    let budget = opts.budget(true);
    let (scores, explained) = principal_scores(&ds.x, d, &opts.train_config(opts.seed, &budget))?;
    let on_scores = Dataset { x: scores, z: None, u: ds.u.clone(), meta: None };
    let flow_opts = FitOptions { generator: GeneratorArg::Flow, latent_dim: Some(d), checkpoint: None, ..opts.clone() };
    let flows = certificate::fit_restarts(kind, &flow_opts, &on_scores, u, u_path, restarts)?;
    let mut codes = BTreeMap::new();
    for (seed, m) in &flows {
        codes.insert(*seed, Arc::new(m.encode(&on_scores.x, u, u_path, None)?));
    }
    let best_code = codes[&flows[0].0].clone();
    for r in 0..restarts as u64 {
        codes.entry(opts.seed + r).or_insert_with(|| best_code.clone());
    }
    let noisy_opts = FitOptions {
        generator: GeneratorArg::Mlp,
        learn_decoder_var: true,
        latent_dim: Some(d),
        hidden: opts.hidden.or(Some(LIFT_HIDDEN)),
        start_codes: Some(Arc::new(codes)),
        ..opts.clone()
    };
    let mut noisy = certificate::fit_certified(kind, &noisy_opts, ds, u, u_path, restarts)?;
    let noise_sd = match &noisy.fitted {
        Fitted::Vae(v) => v.noise_sd(),
        _ => Vec::new(),
    };
    noisy.auto_refit = Some(AutoRefit::Lift(Lift { components: d, obs_dim: ds.x.cols, explained_variance: explained, noise_sd }));
    Ok(noisy)
}
