//! The one training loop every model shares: seeded train/validation split and minibatch order,
//! Adam, gradient-norm clipping, early stopping on the validation loss (the best parameters are
//! kept), divergence detection, and a progress bar on the terminal.
use crate::error::{Error, Result};
use crate::nn::{Adam, HostParams};
use crate::tensor::{self, Tensor};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    /// Seeds initialisation, minibatch order and sampling: what differs between restarts.
    pub seed: u64,
    /// Seeds the train/validation split, kept fixed across restarts so their validation losses
    /// are comparable.
    #[serde(default)]
    pub split_seed: u64,
    /// Fraction of rows held out for validation and early stopping.
    pub val_fraction: f64,
    /// Stop after this many epochs without a better validation loss.
    pub patience: usize,
    pub clip_norm: Option<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig { epochs: 100, batch: 256, lr: 1e-3, seed: 0, split_seed: 0, val_fraction: 0.1, patience: 10, clip_norm: Some(10.0) }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub epochs_run: usize,
    /// Validation loss of the model before training.
    pub initial_val_loss: f64,
    pub best_epoch: usize,
    pub best_val_loss: f64,
    pub train_loss: Vec<f64>,
    pub val_loss: Vec<f64>,
    pub steps: usize,
    /// Wall-clock time of the fit: reported, but not saved in model files, so the same seed
    /// gives the same model bytes.
    #[serde(skip_serializing, default)]
    pub seconds: f64,
    pub stopped_early: bool,
    /// Learning rate at the end (halved on every validation plateau).
    pub final_lr: f64,
    pub n_train: usize,
    pub n_val: usize,
}

/// What a model provides to be trained: the mean loss of a set of rows.
pub trait Objective {
    /// Mean loss over `rows` of the training data; differentiable in `params` when they are
    /// autodiff leaves. `rng` feeds any sampling the loss needs (e.g. reparameterisation).
    fn loss(&self, params: &[Tensor<2>], rows: &[usize], rng: &mut ChaCha8Rng) -> Tensor<1>;
    /// The same mean loss and its gradient, one buffer per parameter. The default runs burn's
    /// autodiff on `loss`; models with hand-written backward passes override it.
    fn loss_and_grad(&self, params: &HostParams, rows: &[usize], rng: &mut ChaCha8Rng) -> (f64, Vec<Vec<f32>>) {
        autodiff_loss_and_grad(self, params, rows, rng)
    }
    /// The mean loss alone (validation); the default evaluates `loss` without autodiff.
    fn loss_value(&self, params: &HostParams, rows: &[usize], rng: &mut ChaCha8Rng) -> f64 {
        tensor::scalar(self.loss(&params.tensors(), rows, rng))
    }
    fn n_rows(&self) -> usize;
}

/// Mean loss and gradient of n rows computed as two halves, in parallel when rayon has two
/// threads, and combined weighted by size. The split depends only on n, never on the thread
/// count, so results are bit-identical with 1 or 2 threads. `f` gets a half's row range.
pub fn data_parallel(n: usize, f: impl Fn(std::ops::Range<usize>) -> (f64, Vec<Vec<f32>>) + Sync) -> (f64, Vec<Vec<f32>>) {
    const MIN_HALF: usize = 64;
    if n < 2 * MIN_HALF {
        return f(0..n);
    }
    let mid = n / 2;
    let ((la, mut ga), (lb, gb)) = rayon::join(|| f(0..mid), || f(mid..n));
    let (wa, wb) = (mid as f64 / n as f64, (n - mid) as f64 / n as f64);
    let (fa, fb) = (wa as f32, wb as f32);
    for (a, b) in ga.iter_mut().zip(&gb) {
        for (x, y) in a.iter_mut().zip(b) {
            *x = fa * *x + fb * y;
        }
    }
    (wa * la + wb * lb, ga)
}

/// `Objective::loss` and its gradient by burn's autodiff: the reference the hand-written
/// backward passes are tested against.
pub fn autodiff_loss_and_grad<O: Objective + ?Sized>(obj: &O, params: &HostParams, rows: &[usize], rng: &mut ChaCha8Rng) -> (f64, Vec<Vec<f32>>) {
    let leaves: Vec<Tensor<2>> = params.tensors().into_iter().map(|t| t.autodiff().require_grad()).collect();
    let loss = obj.loss(&leaves, rows, rng);
    let value = tensor::scalar(loss.clone());
    let grads = loss.backward();
    let g = leaves
        .iter()
        .zip(&params.values)
        .map(|(p, v)| p.grad(&grads).map_or_else(|| vec![0.0; v.len()], |g| g.into_data().try_into_vec::<f32>().expect("f32 gradient")))
        .collect();
    (value, g)
}

/// One optimiser step at a time on an objective: what `fit` loops over, and what benchmarks time.
pub struct Trainer<'a, O: Objective> {
    obj: &'a O,
    pub params: HostParams,
    pub adam: Adam,
    noise_rng: ChaCha8Rng,
    pub steps: usize,
}

impl<'a, O: Objective> Trainer<'a, O> {
    pub fn new(obj: &'a O, params: &[Tensor<2>], cfg: &TrainConfig) -> Self {
        Trainer { obj, params: HostParams::from_tensors(params), adam: Adam::new(cfg.lr, cfg.clip_norm), noise_rng: stream(cfg.seed, STREAM_NOISE), steps: 0 }
    }

    /// One Adam step on the mean loss of `rows`; returns that loss (before the step). A
    /// non-finite loss leaves the parameters untouched.
    pub fn step(&mut self, rows: &[usize]) -> std::result::Result<f64, f64> {
        let (value, grads) = self.obj.loss_and_grad(&self.params, rows, &mut self.noise_rng);
        if !value.is_finite() {
            return Err(value);
        }
        self.adam.step(&mut self.params, &grads);
        self.steps += 1;
        Ok(value)
    }
}

/// Independent, reproducible random streams derived from one seed.
pub fn stream(seed: u64, id: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(id);
    rng
}
pub const STREAM_INIT: u64 = 1;
const STREAM_SPLIT: u64 = 2;
const STREAM_SHUFFLE: u64 = 3;
pub const STREAM_NOISE: u64 = 4;
const STREAM_VAL_NOISE: u64 = 5;
/// The bootstrap resample of the iVAE family's warm start (`ivae::init::linear_code`).
pub const STREAM_WARM: u64 = 6;

/// Seeded split of row indices into (train, validation).
pub fn split_rows(n: usize, val_fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    if n < 10 {
        return Err(Error::usage(format!("need at least 10 rows to train with a validation split, got {n}")));
    }
    // 0 would leave early stopping, the best-epoch choice and the restarts' comparison to a
    // single row (it used to, silently).
    if !(val_fraction > 0.0 && val_fraction < 0.9) {
        return Err(Error::usage(format!(
            "--val-fraction must be in (0, 0.9), got {val_fraction}: the validation rows decide early stopping, the epoch kept and the best restart"
        )));
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut stream(seed, STREAM_SPLIT));
    let n_val = ((n as f64 * val_fraction).round() as usize).max(1);
    let val = idx.split_off(n - n_val);
    Ok((idx, val))
}

fn validation_loss(obj: &impl Objective, params: &HostParams, rows: &[usize], seed: u64) -> f64 {
    const CHUNK: usize = 4096;
    let mut rng = stream(seed, STREAM_VAL_NOISE);
    let mut total = 0.0;
    for chunk in rows.chunks(CHUNK) {
        total += obj.loss_value(params, chunk, &mut rng) * chunk.len() as f64;
    }
    total / rows.len() as f64
}

/// Where training starts: fresh parameters must be improved on (else the fit failed); a
/// continuation (e.g. after freezing priors) may keep its starting point as the best.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    Fresh,
    Continuation,
}

/// Train `params` on `obj`; returns the parameters of the best validation epoch.
pub fn fit(obj: &impl Objective, params: Vec<Tensor<2>>, cfg: &TrainConfig, show_progress: bool) -> Result<(Vec<Tensor<2>>, TrainReport)> {
    fit_from(obj, params, cfg, show_progress, Start::Fresh)
}

pub fn fit_from<O: Objective>(obj: &O, params: Vec<Tensor<2>>, cfg: &TrainConfig, show_progress: bool, start_kind: Start) -> Result<(Vec<Tensor<2>>, TrainReport)> {
    if cfg.batch == 0 || cfg.epochs == 0 || !(cfg.lr > 0.0) {
        return Err(Error::usage("epochs, batch and learning rate must be positive"));
    }
    let start = Instant::now();
    let (mut train_rows, val_rows) = split_rows(obj.n_rows(), cfg.val_fraction, cfg.split_seed)?;
    let mut shuffle_rng = stream(cfg.seed, STREAM_SHUFFLE);
    let mut report = TrainReport { n_train: train_rows.len(), n_val: val_rows.len(), best_val_loss: f64::INFINITY, ..Default::default() };
    // The untrained model's validation loss: a fit that never beats it has failed.
    let mut trainer = Trainer::new(obj, &params, cfg);
    let initial_val = validation_loss(obj, &trainer.params, &val_rows, cfg.seed);
    if start_kind == Start::Continuation && initial_val.is_finite() {
        report.best_val_loss = initial_val;
    }
    let mut best = params;
    let bar = progress_bar(cfg.epochs as u64, show_progress);
    for epoch in 1..=cfg.epochs {
        train_rows.shuffle(&mut shuffle_rng);
        let mut epoch_loss = 0.0;
        for batch in train_rows.chunks(cfg.batch) {
            let value = trainer.step(batch).map_err(|value| {
                bar.finish_and_clear();
                let msg = if trainer.steps == 0 {
                    format!("training loss is {value} before any step: the model overflows on this data (is it on an extreme scale?)")
                } else {
                    format!("training loss became {value} at step {}: the step size is too large for this loss (try --lr {:.0e})", trainer.steps + 1, cfg.lr / 10.0)
                };
                Error::Diverged { epoch, msg }
            })?;
            epoch_loss += value * batch.len() as f64;
        }
        report.steps = trainer.steps;
        let train_loss = epoch_loss / train_rows.len() as f64;
        let val_loss = validation_loss(obj, &trainer.params, &val_rows, cfg.seed);
        if !val_loss.is_finite() {
            bar.finish_and_clear();
            return Err(Error::Diverged { epoch, msg: format!("validation loss became {val_loss}") });
        }
        report.train_loss.push(train_loss);
        report.val_loss.push(val_loss);
        report.epochs_run = epoch;
        if val_loss < report.best_val_loss {
            report.best_val_loss = val_loss;
            report.best_epoch = epoch;
            best = trainer.params.tensors();
        }
        bar.set_message(format!("train {train_loss:.4}  val {val_loss:.4}  best {:.4} @ {}", report.best_val_loss, report.best_epoch));
        bar.inc(1);
        // Reduce on plateau: halve the step size after a third of the patience without progress,
        // so the iterate settles into the optimum instead of rattling around it.
        let stalled = epoch - report.best_epoch;
        if stalled > 0 && stalled % (cfg.patience / 3).max(1) == 0 {
            trainer.adam.lr *= 0.5;
        }
        if stalled >= cfg.patience {
            report.stopped_early = true;
            break;
        }
    }
    bar.finish_and_clear();
    if start_kind == Start::Fresh && !(report.best_val_loss < initial_val) {
        return Err(Error::Diverged {
            epoch: report.epochs_run,
            msg: format!(
                "the validation loss never improved on the untrained model ({:.4} at best vs {initial_val:.4} at start); try --lr {:.0e}",
                report.best_val_loss,
                cfg.lr / 10.0
            ),
        });
    }
    report.initial_val_loss = initial_val;
    report.final_lr = trainer.adam.lr;
    report.seconds = start.elapsed().as_secs_f64();
    Ok((best, report))
}

fn progress_bar(len: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template("epoch {pos}/{len} [{elapsed_precise}] {bar:30} {msg}").expect("static template"));
    bar
}
