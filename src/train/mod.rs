//! The one training loop every model shares: seeded train/validation split and minibatch order,
//! Adam, gradient-norm clipping, early stopping on the validation loss (the best parameters are
//! kept), divergence detection, and a progress bar on the terminal.
pub mod checkpoint;
mod training_loop;

use crate::error::{Error, Result};
use crate::nn::{Adam, HostParams};
use crate::tensor::{self, Tensor};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

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
    /// How the learning rate moves during the fit.
    #[serde(default)]
    pub schedule: Schedule,
    /// Save this run's state to a checkpoint (and continue from the state found there).
    #[serde(skip)]
    pub checkpoint: Option<checkpoint::CheckpointRef>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig { epochs: 100, batch: 256, lr: 1e-3, seed: 0, split_seed: 0, val_fraction: 0.1, patience: 10, clip_norm: Some(10.0), schedule: Schedule::Plateau, checkpoint: None }
    }
}

/// The learning-rate schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// Constant, halved after a third of the patience without a better validation loss.
    #[default]
    Plateau,
    /// Cosine decay from the learning rate to 0 over all the fit's steps (Loshchilov & Hutter
    /// 2017, without restarts): large steps early, small ones at the end, so a fixed budget of
    /// epochs ends near an optimum instead of rattling around it.
    Cosine,
}

impl Schedule {
    /// The factor on the learning rate at `step` (0-based) of `total`.
    pub fn factor(self, step: usize, total: usize) -> f64 {
        match self {
            Schedule::Plateau => 1.0,
            Schedule::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * (step.min(total) as f64) / total.max(1) as f64).cos()),
        }
    }
}

/// A divergence the loop recovered from: a non-finite loss or gradient at `step` of `epoch` made
/// it roll back to the start of that epoch and continue with a smaller learning rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub epoch: usize,
    pub step: usize,
    /// What was non-finite, e.g. "training loss NaN".
    pub cause: String,
    pub lr_from: f64,
    pub lr_to: f64,
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
    /// Divergences recovered from (rollback + smaller learning rate), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recoveries: Vec<Recovery>,
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
    /// Whether the untrained parameters are themselves a sensible model (a flow starts as the
    /// identity: the standardised Gaussian). Then a fit that learns its training data but never
    /// beats that start on the validation rows (small data) keeps the start instead of failing.
    fn start_is_a_model(&self) -> bool {
        false
    }
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
    pub(crate) noise_rng: ChaCha8Rng,
    pub steps: usize,
    /// The schedule and the fit's total number of steps (the Adam rate is the base it scales).
    pub schedule: (Schedule, usize),
}

impl<'a, O: Objective> Trainer<'a, O> {
    pub fn new(obj: &'a O, params: &[Tensor<2>], cfg: &TrainConfig) -> Self {
        Trainer { obj, params: HostParams::from_tensors(params), adam: Adam::new(cfg.lr, cfg.clip_norm), noise_rng: stream(cfg.seed, STREAM_NOISE), steps: 0, schedule: (cfg.schedule, 0) }
    }

    /// One Adam step on the mean loss of `rows`; returns that loss (before the step). A
    /// non-finite loss or gradient leaves the parameters untouched.
    pub fn step(&mut self, rows: &[usize]) -> std::result::Result<f64, NonFinite> {
        let (value, grads) = self.obj.loss_and_grad(&self.params, rows, &mut self.noise_rng);
        if !value.is_finite() {
            return Err(NonFinite::Loss(value));
        }
        if grads.iter().flatten().any(|g| !g.is_finite()) {
            return Err(NonFinite::Gradient);
        }
        let base = self.adam.lr;
        self.adam.lr = base * self.schedule.0.factor(self.steps, self.schedule.1);
        self.adam.step(&mut self.params, &grads);
        self.adam.lr = base;
        self.steps += 1;
        Ok(value)
    }
}

/// Why a step was refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NonFinite {
    Loss(f64),
    Gradient,
    Validation(f64),
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NonFinite::Loss(v) => write!(f, "training loss {v}"),
            NonFinite::Gradient => write!(f, "non-finite gradient"),
            NonFinite::Validation(v) => write!(f, "validation loss {v}"),
        }
    }
}

/// Set by an embedding caller (the Python binding, on KeyboardInterrupt) to stop every training
/// loop at its next step with `Error::Cancelled`; the caller clears it afterwards.
pub static CANCEL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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

/// Where training starts: fresh parameters must be improved on (else the fit failed); a
/// continuation (e.g. after freezing priors) may keep its starting point as the best.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    Fresh,
    Continuation,
}

pub use training_loop::{MAX_RECOVERIES, fit, fit_from};

#[cfg(test)]
mod tests;
