//! Fitting any model kind from one set of options: the entry point the CLI's `fit` and
//! `probe` share, so a fit is reproducible from (kind, options, data, seed).
use crate::error::Result;
use crate::flows::FlowConfig;
use crate::io::{Aux, AuxKind, Dataset};
use crate::matrix::Matrix;
use crate::ivae::fit::VaeOptions;
use crate::models::{Fitted, Model, ModelKind};
use crate::nn::Activation;
use crate::simulate::ivae::Modulation;
use crate::train::{Schedule, TrainConfig};
use crate::transforms::TransformKind;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

/// The iVAE family's generator x = f(z).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeneratorArg {
    /// `flow` for ivae / ivae-frozen on square data (latent dimension = the data's) with
    /// environment labels and no option of the MLP generator changed; `mlp` otherwise.
    Auto,
    /// An MLP decoder with an encoder, trained on the ELBO (the official iVAE).
    Mlp,
    /// An invertible flow, trained by exact maximum likelihood (square, noiseless data).
    Flow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectiveArg {
    Elbo,
    Weighted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransformArg {
    Affine,
    Spline,
}

/// Every architecture and training option, with the CLI's defaults. Serialised (everything that
/// changes the fitted model) into a checkpoint's fingerprint.
#[derive(Args, Clone, Debug, serde::Serialize)]
pub struct FitOptions {
    // --- flows
    /// The flows' monotone transform: rational-quadratic spline or affine.
    #[arg(long, value_enum, default_value = "spline", help_heading = "Flows")]
    pub transform: TransformArg,
    /// Spline bins (default: 8; 6 for the iVAE family's flow generator).
    #[arg(long, help_heading = "Flows")]
    pub bins: Option<usize>,
    /// Splines act on [−B, B] (standardised units) and are the identity outside.
    #[arg(long, default_value_t = 4.0, help_heading = "Flows")]
    pub tail_bound: f64,
    /// Flow steps (default: 3 for flows; for the iVAE family's flow generator one per latent
    /// dimension, at least 5 and at most 10, each after an LU-parametrised linear layer).
    #[arg(long, help_heading = "Flows")]
    pub layers: Option<usize>,
    // --- iVAE family and factor analysis
    /// ivae, ivae-frozen: the generator (auto: a flow on square data with environment labels).
    #[arg(long, value_enum, default_value = "auto", help_heading = "iVAE family / factor analysis")]
    pub generator: GeneratorArg,
    /// Latent dimension (default: the data's dimension).
    #[arg(long, help_heading = "iVAE family / factor analysis")]
    pub latent_dim: Option<usize>,
    /// ivae: learn prior means too (mean-variance) or only variances (as the official code).
    #[arg(long, value_enum, default_value = "mean-variance", help_heading = "iVAE family / factor analysis")]
    pub modulation: Modulation,
    /// ivae-frozen: a JSON list of {env, mean[], var[]} priors to freeze.
    #[arg(long, help_heading = "iVAE family / factor analysis")]
    pub anchors: Option<PathBuf>,
    /// ivae-frozen: learn all priors for this many epochs, then freeze those of --anchor-envs.
    #[arg(long, help_heading = "iVAE family / factor analysis")]
    pub freeze_after: Option<usize>,
    /// With --freeze-after: environments to freeze, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', help_heading = "iVAE family / factor analysis")]
    pub anchor_envs: Option<Vec<i64>>,
    /// Train ivae-frozen even when the anchors fail Thm 4.5's condition (weakly identifiable).
    #[arg(long, help_heading = "iVAE family / factor analysis")]
    pub allow_weak: bool,
    /// Observation noise variance of the MLP generator, in units of each standardised coordinate's variance (its start with --learn-decoder-var).
    #[arg(long, default_value_t = 0.01, help_heading = "iVAE family / factor analysis")]
    pub decoder_var: f64,
    /// Learn the decoder variance per coordinate, starting at --decoder-var.
    #[arg(long, help_heading = "iVAE family / factor analysis")]
    pub learn_decoder_var: bool,
    /// Do not standardise the data (the iVAE family's networks see x as given).
    #[arg(long, help_heading = "iVAE family / factor analysis")]
    pub no_standardize: bool,
    /// ivae, ivae-frozen: epochs of warm start on a linear code before the ELBO (0: random start).
    #[arg(long, default_value_t = 10, help_heading = "iVAE family / factor analysis")]
    pub warm_start: usize,
    /// Activation of the MLP generator's networks.
    #[arg(long, value_enum, default_value = "lrelu", help_heading = "iVAE family / factor analysis")]
    pub activation: Activation,
    /// The approximate posterior: full covariance (Cholesky factor) or diagonal (mean field, as
    /// the official iVAE).
    #[arg(long, value_enum, default_value = "full", help_heading = "iVAE family / factor analysis")]
    pub posterior: crate::ivae::PosteriorKind,
    /// elbo, or the official iVAE's weighted objective (`--objective-weights`, with the
    /// aggregate posterior estimated on each minibatch; trained through autodiff, slower).
    #[arg(long, value_enum, default_value = "elbo", help_heading = "iVAE family / factor analysis")]
    pub objective: ObjectiveArg,
    /// a,b,c,d of the weighted objective (the official configs/ivae.yaml: 100,1,0,10).
    #[arg(long, value_delimiter = ',', default_values_t = [100.0, 1.0, 0.0, 10.0], help_heading = "iVAE family / factor analysis")]
    pub objective_weights: Vec<f64>,
    // --- networks and training
    /// Hidden units per layer (default: 64; 32 for the iVAE family's flow generator).
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Hidden layers per network (default: 2; 3 for the MLP generator with learned noise that
    /// `--generator auto` fits when it rejects a flow fit on square data).
    #[arg(long)]
    pub hidden_layers: Option<usize>,
    /// Epochs at most (default: 100; 40 for the iVAE family's flow generator).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Minibatch size (rows).
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Learning rate (default: 3e-3; 1e-2 for the iVAE family's flow generator).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule (default: plateau; cosine for the iVAE family's flow generator).
    #[arg(long, value_enum)]
    pub schedule: Option<Schedule>,
    /// Seeds the initialisation and the minibatch order (restarts use seed, seed+1, …).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Early stopping: epochs without a better validation loss.
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    /// Share of the rows held out for validation (early stopping, the restarts' comparison), in (0, 0.9).
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Seeds the train/validation split (fixed across restarts).
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
    /// No progress bar.
    #[arg(long)]
    #[serde(skip)]
    pub quiet: bool,
    /// Where the training loops save their state (`fit --checkpoint`); set by the CLI.
    #[arg(skip)]
    #[serde(skip)]
    pub checkpoint: Option<std::sync::Arc<crate::train::checkpoint::Checkpointing>>,
    /// The MLP generator's warm start per fit seed: a code to regress onto instead of the linear
    /// code (`auto`'s noisy refit of a rejected flow fit, `noisy_refit`). Internal: a function of
    /// the flow fits, which the checkpoint's fingerprint already covers.
    #[arg(skip)]
    #[serde(skip)]
    pub start_codes: Option<std::sync::Arc<std::collections::BTreeMap<u64, std::sync::Arc<Matrix>>>>,
}

/// The options whose defaults depend on what is fitted, resolved (`FitOptions::budget`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    pub epochs: usize,
    pub lr: f64,
    pub hidden: usize,
    pub bins: usize,
    pub schedule: Schedule,
}

impl FitOptions {
    /// Epochs, learning rate, width, spline bins and schedule: as given, else the defaults of
    /// what is fitted. The iVAE family's flow generator (`flow_generator`) defaults to a narrower,
    /// coarser flow (32 hidden units, 6 bins) trained for 40 epochs on a cosine schedule from
    /// 1e-2: within ≈ 0.01 of 100 epochs of the wider flow on the ablation seeds and ≈ 5× faster,
    /// under the 10 s issue #11 asks for on the official size (README, "Generator"). Everything
    /// else: 64 units, 8 bins, 100 epochs at 3e-3, halved on plateaus.
    pub fn budget(&self, flow_generator: bool) -> Budget {
        let d = if flow_generator {
            Budget { epochs: 40, lr: 1e-2, hidden: 32, bins: 6, schedule: Schedule::Cosine }
        } else {
            Budget { epochs: 100, lr: 3e-3, hidden: 64, bins: 8, schedule: Schedule::Plateau }
        };
        Budget {
            epochs: self.epochs.unwrap_or(d.epochs),
            lr: self.lr.unwrap_or(d.lr),
            hidden: self.hidden.unwrap_or(d.hidden),
            bins: self.bins.unwrap_or(d.bins),
            schedule: self.schedule.unwrap_or(d.schedule),
        }
    }

    /// Hidden layers per network: as given, else 2.
    pub fn hidden_layers(&self) -> usize {
        self.hidden_layers.unwrap_or(2)
    }

    fn flow_config(&self, kind: ModelKind, dim: usize, b: &Budget) -> FlowConfig {
        let transform = match self.transform {
            TransformArg::Affine => TransformKind::Affine,
            TransformArg::Spline => TransformKind::Spline { bins: b.bins, tail_bound: self.tail_bound },
        };
        let flow_kind = matches!(kind, ModelKind::TmiFlow | ModelKind::Flow);
        // The iVAE's generator inverts a dense nonlinear mixing: one linear layer per step
        // (flows::linear), and depth growing with d (measured: docs/src/benchmarks.md, #21).
        let layers = self.layers.unwrap_or(if flow_kind { 3 } else { dim.clamp(5, 10) });
        FlowConfig { dim, layers, hidden: b.hidden, hidden_layers: self.hidden_layers(), transform, triangular: kind == ModelKind::TmiFlow, linear: !flow_kind }
    }
    fn vae_options(&self, kind: ModelKind, obs_dim: usize, b: &Budget) -> VaeOptions {
        VaeOptions {
            variant: kind.ivae_variant().expect("iVAE-family options for an iVAE-family kind"),
            latent_dim: self.latent_dim.unwrap_or(obs_dim),
            hidden: b.hidden,
            hidden_layers: self.hidden_layers(),
            activation: self.activation,
            decoder_var: self.decoder_var,
            prior_mean: self.modulation == Modulation::MeanVariance,
            anchors: self.anchors.clone(),
            freeze_after: self.freeze_after,
            anchor_envs: self.anchor_envs.clone(),
            allow_weak: self.allow_weak,
            learn_decoder_var: self.learn_decoder_var,
            standardize: !self.no_standardize,
            warm_start_epochs: self.warm_start,
            posterior: self.posterior,
            weighted: (self.objective == ObjectiveArg::Weighted).then(|| {
                let w = &self.objective_weights;
                crate::ivae::weighted::Weights { a: w[0], b: w[1], c: w[2], d: w[3] }
            }),
            start_code: None,
        }
    }
    pub fn train_config(&self, seed: u64, b: &Budget) -> TrainConfig {
        TrainConfig {
            epochs: b.epochs,
            batch: self.batch,
            lr: b.lr,
            seed,
            val_fraction: self.val_fraction,
            split_seed: self.split_seed,
            patience: self.patience,
            schedule: b.schedule,
            checkpoint: self.checkpoint.clone().map(|handle| crate::train::checkpoint::CheckpointRef { handle, key: format!("seed{seed}") }),
            ..TrainConfig::default()
        }
    }
}

impl FitOptions {
    /// Refuse float options that are not finite or out of range, naming the option (a NaN or
    /// infinite value would otherwise surface as a diverged fit, or not at all).
    /// Refuse options that do not apply to `kind` (they would be silently ignored) and an iVAE
    /// latent dimension above the data's (`obs_dim`).
    pub fn check_applies(&self, kind: ModelKind, obs_dim: usize) -> Result<()> {
        let frozen_only = [("--anchors", self.anchors.is_some()), ("--freeze-after", self.freeze_after.is_some()), ("--anchor-envs", self.anchor_envs.is_some())];
        if kind != ModelKind::IvaeFrozen {
            if let Some((name, _)) = frozen_only.iter().find(|(_, given)| *given) {
                return Err(crate::error::Error::usage(format!("{name} applies to ivae-frozen only, not to {}", kind.name())));
            }
        }
        let ivae_family = matches!(kind, ModelKind::Vae | ModelKind::Ivae | ModelKind::IvaeFrozen);
        if let (true, Some(d)) = (ivae_family, self.latent_dim) {
            if d > obs_dim {
                return Err(crate::error::Error::usage(format!("--latent-dim {d} is larger than the data's {obs_dim} columns: the generator must be injective")));
            }
        }
        if let (ModelKind::TmiFlow | ModelKind::Flow, Some(d)) = (kind, self.latent_dim) {
            if d != obs_dim {
                return Err(crate::error::Error::usage(format!("--latent-dim {d}: a flow's latent dimension is the data's ({obs_dim})")));
            }
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<()> {
        // Unset options take defaults that pass these checks; the largest default width is checked.
        let positive = [("--lr", self.lr.unwrap_or(1.0)), ("--tail-bound", self.tail_bound), ("--decoder-var", self.decoder_var)];
        for (name, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                return Err(crate::error::Error::usage(format!("{name} must be a finite number > 0, got {v}")));
            }
        }
        let hidden = self.hidden.unwrap_or(64);
        if self.layers == Some(0) {
            return Err(crate::error::Error::usage("--layers must be at least 1"));
        }
        if let Some(layers) = self.layers {
            crate::error::check_values(&format!("--layers {layers} × --hidden {hidden}"), layers as u128 * (hidden as u128).pow(2))?;
        }
        if let Some(bins) = self.bins.filter(|b| self.transform == TransformArg::Spline && !(2..=63).contains(b)) {
            return Err(crate::error::Error::usage(format!("--bins must be between 2 and 63 (the spline kernels' limit), got {bins}")));
        }
        if self.epochs == Some(0) || self.hidden == Some(0) {
            return Err(crate::error::Error::usage("--epochs and --hidden must be at least 1"));
        }
        let (h, l) = (hidden as u128, self.hidden_layers.unwrap_or(crate::noisy_refit::NOISY_HIDDEN_LAYERS) as u128 + 1);
        crate::error::check_values(&format!("--hidden {hidden} (a network's {hidden}² weights per layer × {l} layers)"), h * h * l)?;
        crate::error::check_values(&format!("--batch {} × --hidden {hidden}", self.batch), self.batch as u128 * h)?;
        if self.objective_weights.len() != 4 {
            return Err(crate::error::Error::usage(format!("--objective-weights takes four numbers a,b,c,d, got {}", self.objective_weights.len())));
        }
        if let Some(w) = self.objective_weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(crate::error::Error::usage(format!("--objective-weights must be finite and ≥ 0, got {w}")));
        }
        Ok(())
    }
}

/// Which generator `fit` gives an iVAE-family `kind` and why, in words (None for other kinds):
/// `--generator auto` must not switch on an incidental option without saying so.
pub fn generator_reason(kind: ModelKind, opts: &FitOptions, obs_dim: usize, u: Option<&Aux>) -> Result<Option<String>> {
    if !matches!(kind, ModelKind::Ivae | ModelKind::IvaeFrozen) {
        return Ok(None);
    }
    let latent = opts.resolved_latent_dim(kind, obs_dim)?;
    let flow = flow_generator_for(kind, opts, latent == obs_dim, u)?;
    let name = if flow { "flow (invertible, exact likelihood, noiseless)" } else { "mlp (decoder and encoder on the ELBO, Gaussian observation noise)" };
    let why = match opts.generator {
        GeneratorArg::Flow => "--generator flow".to_string(),
        GeneratorArg::Mlp => "--generator mlp".to_string(),
        GeneratorArg::Auto if flow => format!("auto: {latent} latents = {obs_dim} observed coordinates, environment labels, no option of the MLP generator"),
        GeneratorArg::Auto => match (mlp_option(opts), latent == obs_dim) {
            (Some(name), _) => format!("auto: {name} is an option of the MLP generator (--generator flow refuses it)"),
            (None, false) => format!("auto: {latent} latents < {obs_dim} observed coordinates (the flow generator is square)"),
            (None, true) => "auto: u is real-valued (the flow generator needs environment labels)".to_string(),
        },
    };
    let b = opts.budget(flow);
    let given: Vec<String> = [
        opts.hidden.map(|_| format!("--hidden {}", b.hidden)),
        opts.epochs.map(|_| format!("--epochs {}", b.epochs)),
        opts.lr.map(|_| format!("--lr {:e}", b.lr)),
        opts.bins.filter(|_| flow).map(|_| format!("--bins {}", b.bins)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let budget = if flow && !given.is_empty() {
        let d = FitOptions::defaults().budget(true);
        format!("; {} set the flow's own budget (its defaults: --hidden {}, --epochs {}, --lr {:e}, --bins {})", given.join(", "), d.hidden, d.epochs, d.lr, d.bins)
    } else {
        String::new()
    };
    Ok(Some(format!("{name} ({why}){budget}")))
}

/// The first option of the MLP generator given a non-default value, if any.
pub fn mlp_option(opts: &FitOptions) -> Option<&'static str> {
    let defaults = FitOptions::defaults();
    let mlp_only = [
        ("--decoder-var", opts.decoder_var != defaults.decoder_var),
        ("--learn-decoder-var", opts.learn_decoder_var),
        ("--no-standardize", opts.no_standardize),
        ("--warm-start", opts.warm_start != defaults.warm_start),
        ("--activation", opts.activation != defaults.activation),
        ("--posterior", opts.posterior != defaults.posterior),
        ("--objective", opts.objective != defaults.objective),
        ("--freeze-after", opts.freeze_after.is_some()),
    ];
    mlp_only.iter().find(|(_, changed)| *changed).map(|(name, _)| *name)
}

/// Whether `fit` gives `kind` the iVAE family's flow generator on data of `obs_dim` columns
/// with this u (`--generator`): explicit, or auto on square data with environment labels when
/// no option of the MLP generator differs from its default.
pub fn uses_flow_generator(kind: ModelKind, opts: &FitOptions, obs_dim: usize, u: Option<&Aux>) -> Result<bool> {
    let ivae = matches!(kind, ModelKind::Ivae | ModelKind::IvaeFrozen);
    let square = !ivae || opts.resolved_latent_dim(kind, obs_dim)? == obs_dim;
    flow_generator_for(kind, opts, square, u)
}

/// `uses_flow_generator` once the latent dimension is resolved (`square`: it equals the data's).
fn flow_generator_for(kind: ModelKind, opts: &FitOptions, square: bool, u: Option<&Aux>) -> Result<bool> {
    let ivae = matches!(kind, ModelKind::Ivae | ModelKind::IvaeFrozen);
    let mlp_option = mlp_option(opts);
    match opts.generator {
        GeneratorArg::Mlp => Ok(false),
        GeneratorArg::Auto => Ok(ivae && square && matches!(u, Some(Aux::Labels(_))) && mlp_option.is_none()),
        GeneratorArg::Flow if !ivae => Err(crate::error::Error::usage(format!("--generator applies to ivae and ivae-frozen, not to {}", kind.name()))),
        GeneratorArg::Flow => match mlp_option {
            Some(name) => Err(crate::error::Error::usage(format!("{name} is an option of the MLP generator: drop it, or pass --generator mlp"))),
            None => Ok(true),
        },
    }
}

impl FitOptions {
    /// The latent dimension of `kind` on data of `obs_dim` columns: `--latent-dim`, else for
    /// ivae-frozen the anchors' dimension (the priors fix it), else the data's. A `--latent-dim`
    /// that contradicts the anchors, or anchors of more dimensions than the data has, is refused
    /// naming both.
    pub fn resolved_latent_dim(&self, kind: ModelKind, obs_dim: usize) -> Result<usize> {
        let anchors_dim = match (kind, &self.anchors) {
            (ModelKind::IvaeFrozen, Some(path)) => crate::priors::read_anchors(path)?.first().map(|a| (path, a.mean.len())),
            _ => None,
        };
        match (self.latent_dim, anchors_dim) {
            (Some(d), Some((path, k))) if d != k => Err(crate::error::Error::input(path, format!(
                "the anchors' priors have dimension {k} but --latent-dim is {d}: drop --latent-dim (it defaults to the anchors' dimension) or give --anchors of dimension {d}"
            ))),
            (None, Some((path, k))) if k > obs_dim => Err(crate::error::Error::input(path, format!(
                "the anchors' priors have dimension {k} but the data have only {obs_dim} columns: the generator must be injective (latent dimension ≤ observed)"
            ))),
            (Some(d), _) => Ok(d),
            (None, Some((_, k))) => Ok(k),
            (None, None) => Ok(obs_dim),
        }
    }
}

/// Fit one model of `kind` with `seed`. `u_path` names the labels in error messages.
pub fn fit_model(kind: ModelKind, opts: &FitOptions, ds: &Dataset, u: Option<&Aux>, u_path: &Path, seed: u64) -> Result<Model> {
    opts.validate()?;
    opts.check_applies(kind, ds.x.cols)?;
    let resolved;
    let opts = if kind == ModelKind::IvaeFrozen && opts.latent_dim.is_none() {
        resolved = FitOptions { latent_dim: Some(opts.resolved_latent_dim(kind, ds.x.cols)?), ..opts.clone() };
        &resolved
    } else {
        opts.resolved_latent_dim(kind, ds.x.cols)?;
        opts
    };
    let flow_generator = uses_flow_generator(kind, opts, ds.x.cols, u)?;
    let budget = opts.budget(flow_generator);
    let train = opts.train_config(seed, &budget);
    let progress = !opts.quiet;
    let (fitted, report) = match kind {
        ModelKind::TmiFlow | ModelKind::Flow => {
            let (flow, report) = crate::flows::fit::fit(opts.flow_config(kind, ds.x.cols, &budget), &ds.x, &train, progress)?;
            (Fitted::Flow(flow), report)
        }
        ModelKind::Ivae | ModelKind::IvaeFrozen if flow_generator => {
            let flow = opts.flow_config(kind, ds.x.cols, &budget);
            let (m, report) = crate::ivae::fit::fit_flow_generator(&opts.vae_options(kind, ds.x.cols, &budget), flow, &ds.x, u, u_path, &train, progress)?;
            (Fitted::FlowIvae(m), report)
        }
        ModelKind::Vae | ModelKind::Ivae | ModelKind::IvaeFrozen => {
            let start_code = opts.start_codes.as_ref().and_then(|c| c.get(&seed).cloned());
            // A refit from a given code is another run than the plain fit of this seed.
            let train = match (&start_code, &train.checkpoint) {
                (Some(_), Some(c)) => TrainConfig { checkpoint: Some(c.sub("noisy-refit")), ..train.clone() },
                _ => train.clone(),
            };
            let vae_opts = VaeOptions { start_code, ..opts.vae_options(kind, ds.x.cols, &budget) };
            let (vae, report) = crate::ivae::fit::fit(&vae_opts, &ds.x, u, u_path, &train, progress)?;
            (Fitted::Vae(vae), report)
        }
        ModelKind::Fa | ModelKind::FaTri => {
            let (fa, report) = crate::fa::fit_split(&ds.x, opts.latent_dim.unwrap_or(ds.x.cols), kind == ModelKind::FaTri, &train)?;
            (Fitted::Fa(fa), report)
        }
    };
    Ok(Model { kind, fitted, train, report, certificate: None, auto_refit: None })
}

/// The auxiliary variable u: `aux` if given (read as `kind` says), else the dataset's u.npy;
/// with the path to name in errors.
pub fn labels(ds: &Dataset, data: &Path, aux: Option<&Path>, kind: AuxKind) -> Result<(Option<Aux>, PathBuf)> {
    match aux {
        Some(p) => Ok((Some(crate::io::read_aux(p, kind)?), p.to_path_buf())),
        None => Ok((ds.u.clone(), data.join("u.npy"))),
    }
}

impl FitOptions {
    /// The command line's defaults, for library callers (the experiment suite).
    pub fn defaults() -> FitOptions {
        Self::from_args(&[]).expect("the defaults parse")
    }

    /// Options from command-line arguments (e.g. `["--lr", "0.01"]`), with the CLI's defaults,
    /// parsing and messages: what the Python binding builds its estimators' options with.
    pub fn from_args(args: &[String]) -> std::result::Result<FitOptions, String> {
        #[derive(clap::Parser)]
        #[command(name = "options")]
        struct Wrapper {
            #[command(flatten)]
            opts: FitOptions,
        }
        let argv = std::iter::once("strongid".to_string()).chain(args.iter().cloned());
        <Wrapper as clap::Parser>::try_parse_from(argv).map(|w| w.opts).map_err(|e| e.render().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flow generator's own defaults, the others', and given options winning over both.
    #[test]
    fn defaults_depend_on_the_generator_and_given_options_win() {
        let d = FitOptions::defaults();
        assert_eq!(d.budget(true), Budget { epochs: 40, lr: 1e-2, hidden: 32, bins: 6, schedule: Schedule::Cosine });
        assert_eq!(d.budget(false), Budget { epochs: 100, lr: 3e-3, hidden: 64, bins: 8, schedule: Schedule::Plateau });
        let args: Vec<String> = ["--epochs", "7", "--lr", "0.5", "--hidden", "9", "--bins", "3", "--schedule", "plateau"].iter().map(|s| s.to_string()).collect();
        let given = FitOptions::from_args(&args).unwrap();
        for flow_generator in [true, false] {
            assert_eq!(given.budget(flow_generator), Budget { epochs: 7, lr: 0.5, hidden: 9, bins: 3, schedule: Schedule::Plateau });
        }
        let bad = FitOptions::from_args(&["--epochs".to_string(), "0".to_string()]).unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("--epochs"));
    }

    /// `fit --help` states both defaults of each generator-dependent option as `budget` has them.
    #[test]
    fn help_states_the_budget_defaults() {
        let cmd = <FitOptions as clap::Args>::augment_args(clap::Command::new("fit"));
        let help = |id: &str| cmd.get_arguments().find(|a| a.get_id() == id).and_then(|a| a.get_help()).map(|h| h.to_string()).unwrap();
        let (flow, other) = (FitOptions::defaults().budget(true), FitOptions::defaults().budget(false));
        let lr = |v: f64| format!("{v:e}");
        let name = |s: Schedule| format!("{s:?}").to_lowercase();
        for (id, a, b) in [
            ("epochs", other.epochs.to_string(), flow.epochs.to_string()),
            ("hidden", other.hidden.to_string(), flow.hidden.to_string()),
            ("bins", other.bins.to_string(), flow.bins.to_string()),
            ("lr", lr(other.lr), lr(flow.lr)),
            ("schedule", name(other.schedule), name(flow.schedule)),
        ] {
            let h = help(id);
            assert!(h.contains(&format!("default: {a}; {b} for the iVAE family's flow generator")), "--{id}: {h}");
        }
    }
}
