//! Fitting the iVAE family with the shared training loop, including the anchor check of
//! Thm 4.5 before training and the two-stage `--freeze-after` schedule.
use super::{Vae, VaeConfig, Variant};
use crate::error::{Error, Result};
use crate::io::Aux;
use crate::matrix::Matrix;
use crate::nn::HostParams;
use crate::nn::Activation;
use crate::priors::{self, EnvPrior};
use crate::tensor::{self, DType, Tensor};
use crate::train::{self, Objective, TrainConfig, TrainReport};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct VaeOptions {
    pub variant: Variant,
    pub latent_dim: usize,
    pub hidden: usize,
    pub hidden_layers: usize,
    pub activation: Activation,
    pub decoder_var: f64,
    /// ivae: learn prior means (mean-variance) rather than fixing them at 0 (variance-only).
    pub prior_mean: bool,
    /// ivae-frozen: anchors read from this file...
    pub anchors: Option<PathBuf>,
    /// ...or learned for this many epochs, then frozen.
    pub freeze_after: Option<usize>,
    /// With --freeze-after: which environments to freeze (default: all).
    pub anchor_envs: Option<Vec<i64>>,
    /// Train even if the anchor condition fails (the model is then only weakly identifiable).
    pub allow_weak: bool,
    /// Learn the decoder variance (starting at `decoder_var`).
    pub learn_decoder_var: bool,
    /// Standardise x per coordinate (constants from the training rows, stored in the model).
    pub standardize: bool,
    /// Epochs of warm start on the linear code (`init::linear_code`) before the ELBO; 0 = start
    /// from the random initialisation. Not used by `vae`.
    pub warm_start_epochs: usize,
    /// Diagonal (mean-field) or full-covariance posterior.
    pub posterior: super::PosteriorKind,
    /// Train on the official weighted objective with these weights (diagonal posterior only).
    pub weighted: Option<super::weighted::Weights>,
    /// The code (n × d, latent units, one row per row of x) the warm start regresses onto
    /// instead of the linear code: the noisy refit of a rejected flow fit starts at its g⁻¹(x).
    pub start_code: Option<std::sync::Arc<Matrix>>,
}

/// The training objective: mean negative ELBO of rows of `x` with u as the networks see it
/// (`Vae::u_features`: one-hot labels or a real-valued u).
pub struct NegElbo<'a> {
    pub vae: &'a Vae,
    pub x: &'a Matrix,
    pub onehot: &'a Matrix,
    /// Each row's environment index (the position of its 1 in `onehot`), found once (labels only).
    env: Vec<usize>,
}

impl<'a> NegElbo<'a> {
    pub fn new(vae: &'a Vae, x: &'a Matrix, onehot: &'a Matrix) -> Self {
        let labels = vae.config.aux_dim == 0;
        let env = (0..onehot.rows).map(|r| if labels { onehot.row(r).iter().position(|&v| v == 1.0).unwrap_or(0) } else { 0 }).collect();
        NegElbo { vae, x, onehot, env }
    }
}

impl Objective for NegElbo<'_> {
    fn loss(&self, params: &[Tensor<2>], rows: &[usize], rng: &mut ChaCha8Rng) -> Tensor<1> {
        let x = tensor::from_matrix(&self.x.select_rows(rows), DType::F32);
        let onehot = (self.onehot.cols > 0).then(|| tensor::from_matrix(&self.onehot.select_rows(rows), DType::F32));
        let eps = tensor::from_matrix(&crate::simulate::standard_normal(rows.len(), self.vae.config.latent_dim, rng), DType::F32);
        match self.vae.config.weighted {
            Some(w) => self.vae.neg_weighted_objective(params, x, onehot, eps, self.x.rows, w).mean(),
            None => self.vae.neg_elbo(params, x, onehot, eps).mean(),
        }
    }
    /// The hand-written gradient (`Vae::neg_elbo_grad`), with the same random draws as `loss`;
    /// the weighted objective goes through autodiff.
    fn loss_and_grad(&self, params: &HostParams, rows: &[usize], rng: &mut ChaCha8Rng) -> (f64, Vec<Vec<f32>>) {
        if self.vae.config.weighted.is_some() {
            return train::autodiff_loss_and_grad(self, params, rows, rng);
        }
        self.fast(params, rows, rng, true)
    }
    fn loss_value(&self, params: &HostParams, rows: &[usize], rng: &mut ChaCha8Rng) -> f64 {
        if self.vae.config.weighted.is_some() {
            return tensor::scalar(self.loss(&params.tensors(), rows, rng));
        }
        self.fast(params, rows, rng, false).0
    }
    fn n_rows(&self) -> usize {
        self.x.rows
    }
}

impl NegElbo<'_> {
    fn fast(&self, params: &HostParams, rows: &[usize], rng: &mut ChaCha8Rng, want_grad: bool) -> (f64, Vec<Vec<f32>>) {
        let (dx, d) = (self.x.cols, self.vae.config.latent_dim);
        let mut x: Vec<f32> = Vec::with_capacity(rows.len() * dx);
        for &r in rows {
            x.extend(self.x.row(r).iter().map(|&v| v as f32));
        }
        let env: Vec<usize> = rows.iter().map(|&r| self.env[r]).collect();
        let k = self.vae.config.aux_dim;
        let u: Vec<f32> = if k > 0 { rows.iter().flat_map(|&r| self.onehot.row(r).iter().map(|&v| v as f32)).collect() } else { Vec::new() };
        // The same draws as `simulate::standard_normal` (row-major f64), rounded to f32.
        let eps: Vec<f32> = (0..rows.len() * d).map(|_| { let v: f64 = StandardNormal.sample(&mut *rng); v as f32 }).collect();
        if !want_grad {
            return self.vae.neg_elbo_grad(params, &x, &env, &u, &eps, rows.len(), false);
        }
        train::data_parallel(rows.len(), |r| {
            self.vae.neg_elbo_grad(params, &x[r.start * dx..r.end * dx], &env[r.clone()], &u[r.start * k..r.end * k], &eps[r.start * d..r.end * d], r.len(), true)
        })
    }
}

/// u: required (and matched to x's rows) for the iVAE variants; ivae-frozen freezes the priors
/// of environments, so it needs labels.
fn checked_aux<'a>(variant: Variant, u: Option<&'a Aux>, u_path: &Path, rows: usize) -> Result<Option<&'a Aux>> {
    match (variant, u) {
        (Variant::Vae, _) => Ok(None),
        (_, None) => Err(Error::usage("this model needs u: give a dataset directory with u.npy, or --aux U.npy (integer environment labels, or a real-valued matrix for ivae)")),
        (_, Some(u)) => {
            u.check_rows(u_path, rows)?;
            if let (Variant::IvaeFrozen, Aux::Continuous(m)) = (variant, u) {
                return Err(Error::input(u_path, format!(
                    "is a real-valued u ({} column(s)); ivae-frozen freezes the priors of given environments, so it needs integer environment labels. \
                     Fit ivae for a real-valued u (its prior is then a network λ(u)), or pass --aux-kind labels if these numbers are labels",
                    m.cols
                )));
            }
            Ok(Some(u))
        }
    }
}

/// Check anchors against the data's environments and dimension, then Thm 4.5's condition.
fn checked_anchors(anchors: Vec<EnvPrior>, path: &Path, envs: &[i64], d: usize, allow_weak: bool) -> Result<(Vec<EnvPrior>, priors::AnchorCheck)> {
    for a in &anchors {
        if envs.binary_search(&a.env).is_err() {
            return Err(Error::input(path, format!("environment {} does not occur in the labels u (present: {envs:?})", a.env)));
        }
        if a.mean.len() != d {
            return Err(Error::input(path, format!("environment {}: priors have dimension {} but --latent-dim is {d}", a.env, a.mean.len())));
        }
    }
    let check = priors::check_anchors(&anchors);
    if !check.strongly_identifiable && !allow_weak {
        return Err(Error::usage(format!("{}\nrefusing to fit ivae-frozen; pass --allow-weak to train anyway (the model is then only weakly identifiable)", check.message)));
    }
    Ok((anchors, check))
}

fn merge(first: TrainReport, second: TrainReport) -> TrainReport {
    let offset = first.epochs_run;
    TrainReport {
        epochs_run: offset + second.epochs_run,
        initial_val_loss: first.initial_val_loss,
        best_epoch: offset + second.best_epoch,
        train_loss: [first.train_loss, second.train_loss].concat(),
        val_loss: [first.val_loss, second.val_loss].concat(),
        steps: first.steps + second.steps,
        seconds: first.seconds + second.seconds,
        ..second
    }
}

/// Fit a model of the family. `u_path` names the labels' file in error messages.
pub fn fit(opts: &VaeOptions, x: &Matrix, aux: Option<&Aux>, u_path: &Path, train_cfg: &TrainConfig, show_progress: bool) -> Result<(Vae, TrainReport)> {
    if opts.latent_dim == 0 || opts.hidden == 0 || !(opts.decoder_var > 0.0) {
        return Err(Error::usage("--latent-dim, --hidden and --decoder-var must be positive"));
    }
    if opts.weighted.is_some() && opts.posterior != super::PosteriorKind::Diagonal {
        return Err(Error::usage("--objective weighted is the official code's objective, defined for its mean-field posterior: add --posterior diagonal"));
    }
    let aux = checked_aux(opts.variant, aux, u_path, x.rows)?;
    let u = aux.and_then(Aux::labels);
    let aux_dim = match aux {
        Some(Aux::Continuous(m)) => m.cols,
        _ => 0,
    };
    let mut envs: Vec<i64> = u.map(|u| u.to_vec()).unwrap_or_default();
    envs.sort_unstable();
    envs.dedup();
    let frozen = opts.variant == Variant::IvaeFrozen;
    if frozen && opts.anchors.is_some() == opts.freeze_after.is_some() {
        return Err(Error::usage("ivae-frozen needs exactly one of --anchors priors.json or --freeze-after EPOCHS"));
    }
    let mut config = VaeConfig {
        variant: opts.variant,
        obs_dim: x.cols,
        latent_dim: opts.latent_dim,
        envs: envs.clone(),
        hidden: opts.hidden,
        hidden_layers: opts.hidden_layers,
        activation: opts.activation,
        decoder_var: opts.decoder_var,
        prior_mean: opts.prior_mean || frozen,
        anchors: Vec::new(),
        anchor_check: None,
        learn_decoder_var: opts.learn_decoder_var,
        standardize: None,
        posterior: opts.posterior,
        aux_dim,
        weighted: opts.weighted,
        anchors_learned: false,
    };
    // Unstandardised data on an extreme scale is the likely cause of a divergence: say so then.
    let scale_hint = (!opts.standardize).then(|| {
        // Largest magnitude rather than sd: the sd of data near 1e200 overflows itself.
        let (lo, hi) = (0..x.cols)
            .map(|j| x.col(j).iter().fold(0.0f64, |m, v| m.max(v.abs())))
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), m| (lo.min(m), hi.max(m)));
        format!("; x is not standardised (--no-standardize) and its coordinates reach magnitudes {lo:.3e}–{hi:.3e}: drop --no-standardize")
    });
    let with_hint = |e: Error| match (e, &scale_hint) {
        (Error::Diverged { epoch, msg }, Some(h)) => Error::Diverged { epoch, msg: format!("{msg}{h}") },
        (e, _) => e,
    };
    let standardized;
    let x = if opts.standardize {
        let s = crate::standardize::Standardize::fit_training_rows(x, train_cfg)?;
        standardized = s.apply(x);
        config.standardize = Some(s);
        &standardized
    } else {
        x
    };
    if let (true, Some(path)) = (frozen, &opts.anchors) {
        let (anchors, check) = checked_anchors(priors::read_anchors(path)?, path, &envs, opts.latent_dim, opts.allow_weak)?;
        config.anchors = anchors;
        config.anchor_check = Some(check);
    }
    let mut vae = Vae::new(config, &mut train::stream(train_cfg.seed, train::STREAM_INIT));
    let onehot = vae.u_features(aux, x.rows, u_path)?;
    let mut first_start = train::Start::Fresh;
    // The warm start's linear code needs environments (their moments); a real-valued u starts
    // from the random initialisation.
    if let (true, Some(u)) = (opts.warm_start_epochs > 0 && opts.variant != Variant::Vae, u) {
        warm_start(&mut vae, x, u, opts.warm_start_epochs, opts.start_code.as_deref(), train_cfg).map_err(with_hint)?;
        first_start = train::Start::Continuation;
    }
    let run = |vae: &Vae, cfg: &TrainConfig, start| train::fit_from(&NegElbo::new(vae, x, &onehot), vae.params.values.clone(), cfg, show_progress, start).map_err(with_hint);
    match (frozen, opts.freeze_after) {
        (true, Some(warmup)) => {
            if warmup == 0 || warmup >= train_cfg.epochs {
                return Err(Error::usage(format!("--freeze-after must be between 1 and --epochs − 1 ({})", train_cfg.epochs)));
            }
            // Stage 1: a plain mean-variance iVAE, every prior learned.
            let stage = |name| train_cfg.checkpoint.as_ref().map(|c| c.sub(name));
            let stage1 = TrainConfig { epochs: warmup, patience: usize::MAX, checkpoint: stage("stage1"), ..train_cfg.clone() };
            let (values, first) = run(&vae, &stage1, first_start)?;
            vae.params.values = values;
            let wanted = opts.anchor_envs.clone().unwrap_or_else(|| envs.clone());
            let learned = vae.env_priors();
            let mut anchors = Vec::new();
            for e in wanted {
                let p = learned.iter().find(|p| p.env == e).ok_or_else(|| Error::usage(format!("--anchor-envs: environment {e} does not occur in the labels u")))?;
                anchors.push(p.clone());
            }
            let (anchors, check) = checked_anchors(anchors, Path::new("--freeze-after priors"), &envs, opts.latent_dim, opts.allow_weak)?;
            vae.freeze(anchors, check);
            // Stage 2: the same network with the anchors' priors frozen.
            let stage2 = TrainConfig { epochs: train_cfg.epochs - warmup, checkpoint: stage("stage2"), ..train_cfg.clone() };
            let (values, second) = run(&vae, &stage2, train::Start::Continuation)?;
            vae.params.values = values;
            Ok((vae, merge(first, second)))
        }
        _ => {
            let (values, report) = run(&vae, train_cfg, first_start)?;
            vae.params.values = values;
            Ok((vae, report))
        }
    }
}

/// Fit `ivae` / `ivae-frozen` with the flow generator (`super::flow_generator`): u must be
/// environment labels, the latent dimension the data's, and ivae-frozen's anchors given by
/// `--anchors`.
pub fn fit_flow_generator(opts: &VaeOptions, flow: crate::flows::FlowConfig, x: &Matrix, aux: Option<&Aux>, u_path: &Path, train_cfg: &TrainConfig, show_progress: bool) -> Result<(super::flow_generator::FlowIvae, TrainReport)> {
    let aux = checked_aux(opts.variant, aux, u_path, x.rows)?;
    let Some(Aux::Labels(u)) = aux else {
        return Err(Error::usage("the flow generator needs environment labels u; a real-valued u needs the MLP generator's prior network (--generator mlp)"));
    };
    if opts.latent_dim != x.cols {
        return Err(Error::usage(format!("the flow generator maps the data's {} coordinates to as many latent ones: --latent-dim {} needs --generator mlp", x.cols, opts.latent_dim)));
    }
    let frozen = opts.variant == Variant::IvaeFrozen;
    let mut envs = u.clone();
    envs.sort_unstable();
    envs.dedup();
    let (anchors, anchor_check) = match (frozen, &opts.anchors) {
        (false, _) => (Vec::new(), None),
        (true, Some(path)) => {
            let (a, c) = checked_anchors(priors::read_anchors(path)?, path, &envs, opts.latent_dim, opts.allow_weak)?;
            (a, Some(c))
        }
        (true, None) => return Err(Error::usage("ivae-frozen needs exactly one of --anchors priors.json or --freeze-after EPOCHS (the latter trains the MLP generator: --generator mlp)")),
    };
    let spec = super::flow_generator::FitSpec { variant: opts.variant, flow, prior_mean: opts.prior_mean || frozen, anchors, anchor_check, envs, labels: u };
    super::flow_generator::fit(spec, x, train_cfg, show_progress)
}

/// Environment index of each label, and the anchors with their environments' indices.
fn env_indices<'a>(config: &'a VaeConfig, u: &[i64]) -> (Vec<usize>, Vec<(usize, &'a EnvPrior)>) {
    let env = u.iter().map(|l| config.envs.binary_search(l).expect("labels are the envs")).collect();
    (env, anchor_indices(&config.envs, &config.anchors))
}

/// Each anchor with the index of its environment in the sorted `envs` (anchors checked against them).
pub(super) fn anchor_indices<'a>(envs: &[i64], anchors: &'a [EnvPrior]) -> Vec<(usize, &'a EnvPrior)> {
    anchors.iter().map(|a| (envs.binary_search(&a.env).expect("anchors checked"), a)).collect()
}

/// Bootstrap resamples of the anchor stability check (`init::anchor_stability`).
pub const STABILITY_RESAMPLES: usize = 20;

/// `init::anchor_stability` for a fitted model on its training data (x as given, labels u
/// checked against the model's environments), with the model's own standardisation.
pub fn anchor_stability(vae: &Vae, x: &Matrix, u: &[i64], threshold: f64, seed: u64) -> Option<(usize, usize)> {
    let c = &vae.config;
    anchor_stability_of(c.standardize.as_ref(), &c.envs, &c.anchors, c.latent_dim, x, u, threshold, seed)
}

/// `anchor_stability` for the flow generator's model (`flow_generator::FlowIvae`).
pub fn anchor_stability_flow(model: &super::flow_generator::FlowIvae, x: &Matrix, u: &[i64], threshold: f64, seed: u64) -> Option<(usize, usize)> {
    let c = &model.config;
    anchor_stability_of(Some(&c.standardize), &c.envs, &c.anchors, c.dim, x, u, threshold, seed)
}

#[allow(clippy::too_many_arguments)]
fn anchor_stability_of(standardize: Option<&crate::standardize::Standardize>, envs: &[i64], anchors: &[EnvPrior], d: usize, x: &Matrix, u: &[i64], threshold: f64, seed: u64) -> Option<(usize, usize)> {
    if anchors.is_empty() || u.len() != x.rows || u.iter().any(|l| envs.binary_search(l).is_err()) {
        return None;
    }
    let x = standardize.map_or_else(|| x.clone(), |s| s.apply(x));
    let env: Vec<usize> = u.iter().map(|l| envs.binary_search(l).expect("checked")).collect();
    let anchors = anchor_indices(envs, anchors);
    super::init::anchor_stability(&x, &env, envs.len(), d, &anchors, STABILITY_RESAMPLES, threshold, &mut train::stream(seed, train::STREAM_WARM))
}

/// Start the networks at `code` if given, else the linear code of `init` (the prior tables of
/// learned environments at its per-environment moments) by `epochs` epochs of regression
/// (`warm::WarmStart`).
fn warm_start(vae: &mut Vae, x: &Matrix, u: &[i64], epochs: usize, code: Option<&Matrix>, train_cfg: &TrainConfig) -> Result<()> {
    let config = &vae.config;
    let (m, d) = (config.n_envs(), config.latent_dim);
    let (env, anchors) = env_indices(config, u);
    let code = match code {
        Some(c) if c.rows == x.rows && c.cols == d => c.clone(),
        Some(c) => return Err(Error::usage(format!("the start code is {} × {}, the data {} × {d}", c.rows, c.cols, x.rows))),
        None => super::init::linear_code(x, &env, m, d, &anchors, Some(&mut train::stream(train_cfg.seed, train::STREAM_WARM))),
    };
    let (mean, var) = super::init::env_mean_var(&code, &env, m);
    let e = vae.encoder.n_tensors() + vae.decoder.n_tensors();
    if config.prior_mean {
        vae.params.values[e] = tensor::from_matrix(&mean, DType::F32);
    }
    vae.params.values[e + 1] = tensor::from_matrix(&Matrix::from_fn(m, d, |i, j| var.get(i, j).ln()), DType::F32);
    let log_v0 = (0..d)
        .map(|j| {
            let col = code.col(j);
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
            (0.01 * var.max(1e-6)).ln()
        })
        .collect();
    let obj = super::warm::WarmStart { vae, x, env: &env, code: &code, log_v0 };
    // Deterministic and short: a resumed fit redoes it rather than checkpointing it.
    let cfg = TrainConfig { epochs, patience: usize::MAX, checkpoint: None, ..train_cfg.clone() };
    let (values, _) = train::fit_from(&obj, vae.params.values.clone(), &cfg, false, train::Start::Continuation)?;
    vae.params.values = values;
    Ok(())
}
