//! Checkpoints of fits in progress: everything the training loop needs to continue exactly where
//! it stopped (parameters, Adam's moments and step count, the learning rate, the random streams'
//! positions, this epoch's minibatch order, the losses so far, the best parameters and the
//! rollback snapshot), for every run of one `fit` (parallel restarts, the two stages of
//! `--freeze-after`). A resumed fit's model is bit-identical to an uninterrupted one's, so floats
//! are stored as their bit patterns, never as decimals.
//!
//! File: one line `{"format":"strongid-checkpoint","format_version":1,"checksum":…}`, then the
//! body's JSON; the checksum (FNV-1a) covers the body, so a corrupted file is refused.
use crate::error::{Error, Result};
use crate::nn::Adam;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const FORMAT: &str = "strongid-checkpoint";
pub const FORMAT_VERSION: u32 = 1;

/// Set by the signal handler (`on_signal`): every checkpointing training loop saves and stops.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Training loops running with a checkpoint, which will save one when interrupted.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Called from the signal handler's thread: with checkpointing training loops running, ask them
/// to save and stop (they return `Error::Interrupted`, exit 130) and return true; return false
/// when none runs, or on a second signal, and the caller stops the process at once.
pub fn on_signal() -> bool {
    ACTIVE.load(Ordering::SeqCst) > 0 && !INTERRUPTED.swap(true, Ordering::SeqCst)
}

/// What a checkpoint was written for: the command's options and the data's content hash. A
/// resume under anything else would silently fit another model, so it is refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub command: BTreeMap<String, serde_json::Value>,
    pub data: String,
}

impl Fingerprint {
    /// The options that differ from `other`'s (this one's value first), or the data.
    fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let mut keys: Vec<&String> = self.command.keys().chain(other.command.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut out: Vec<String> = keys
            .into_iter()
            .filter(|k| self.command.get(*k) != other.command.get(*k))
            .map(|k| {
                let show = |v: Option<&serde_json::Value>| v.map_or("(absent)".to_string(), |v| v.to_string());
                format!("{k}: {} in the checkpoint, {} now", show(self.command.get(k)), show(other.command.get(k)))
            })
            .collect();
        if self.data != other.data {
            out.push(format!("data: content hash {} in the checkpoint, {} now", self.data, other.data));
        }
        out
    }
}

/// A ChaCha8 stream's position: seed, stream id and word position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RngState {
    seed: Vec<u8>,
    stream: u64,
    /// u128 as a decimal string (JSON numbers stop at 64 bits).
    word_pos: String,
}

impl RngState {
    pub fn of(rng: &ChaCha8Rng) -> RngState {
        RngState { seed: rng.get_seed().to_vec(), stream: rng.get_stream(), word_pos: rng.get_word_pos().to_string() }
    }
    pub fn rng(&self) -> Option<ChaCha8Rng> {
        use rand::SeedableRng;
        let seed: [u8; 32] = self.seed.clone().try_into().ok()?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos.parse().ok()?);
        Some(rng)
    }
}

pub fn bits32(v: &[Vec<f32>]) -> Vec<Vec<u32>> {
    v.iter().map(|p| p.iter().map(|x| x.to_bits()).collect()).collect()
}
pub fn from_bits32(v: &[Vec<u32>]) -> Vec<Vec<f32>> {
    v.iter().map(|p| p.iter().map(|&x| f32::from_bits(x)).collect()).collect()
}

/// Adam's state, bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamState {
    lr: u64,
    clip_norm: Option<u64>,
    step: i32,
    m: Vec<Vec<u32>>,
    v: Vec<Vec<u32>>,
}

impl AdamState {
    pub fn of(a: &Adam) -> AdamState {
        AdamState { lr: a.lr.to_bits(), clip_norm: a.clip_norm.map(f64::to_bits), step: a.step, m: bits32(&a.m), v: bits32(&a.v) }
    }
    /// Moments absent (no step yet) or shaped like `shapes`.
    pub fn moments_fit(&self, shapes: &[[usize; 2]]) -> bool {
        let fits = |m: &[Vec<u32>]| m.len() == shapes.len() && m.iter().zip(shapes).all(|(v, s)| v.len() == s[0] * s[1]);
        (self.m.is_empty() && self.v.is_empty()) || (fits(&self.m) && fits(&self.v))
    }
    pub fn adam(&self) -> Adam {
        let mut a = Adam::new(f64::from_bits(self.lr), self.clip_norm.map(f64::from_bits));
        a.step = self.step;
        a.m = from_bits32(&self.m);
        a.v = from_bits32(&self.v);
        a
    }
}

/// `TrainReport` with its floats as bits (losses can be non-finite before training starts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportState {
    epochs_run: usize,
    initial_val_loss: u64,
    best_epoch: usize,
    best_val_loss: u64,
    train_loss: Vec<u64>,
    val_loss: Vec<u64>,
    steps: usize,
    stopped_early: bool,
    final_lr: u64,
    n_train: usize,
    n_val: usize,
    recoveries: Vec<super::Recovery>,
}

impl ReportState {
    /// A summary of the epochs before `epoch` (one loss of each kind per epoch run) of a fit with
    /// these training and validation sizes.
    pub fn fits_position(&self, epoch: usize, n_train: usize, n_val: usize) -> bool {
        self.epochs_run + 1 == epoch
            && self.best_epoch <= self.epochs_run
            && self.train_loss.len() == self.epochs_run
            && self.val_loss.len() == self.epochs_run
            && (self.n_train, self.n_val) == (n_train, n_val)
    }
}

impl From<&super::TrainReport> for ReportState {
    fn from(r: &super::TrainReport) -> Self {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect();
        ReportState {
            epochs_run: r.epochs_run,
            initial_val_loss: r.initial_val_loss.to_bits(),
            best_epoch: r.best_epoch,
            best_val_loss: r.best_val_loss.to_bits(),
            train_loss: bits(&r.train_loss),
            val_loss: bits(&r.val_loss),
            steps: r.steps,
            stopped_early: r.stopped_early,
            final_lr: r.final_lr.to_bits(),
            n_train: r.n_train,
            n_val: r.n_val,
            recoveries: r.recoveries.clone(),
        }
    }
}

impl From<&ReportState> for super::TrainReport {
    fn from(r: &ReportState) -> Self {
        let floats = |v: &[u64]| v.iter().map(|&x| f64::from_bits(x)).collect();
        super::TrainReport {
            epochs_run: r.epochs_run,
            initial_val_loss: f64::from_bits(r.initial_val_loss),
            best_epoch: r.best_epoch,
            best_val_loss: f64::from_bits(r.best_val_loss),
            train_loss: floats(&r.train_loss),
            val_loss: floats(&r.val_loss),
            steps: r.steps,
            seconds: 0.0,
            stopped_early: r.stopped_early,
            final_lr: f64::from_bits(r.final_lr),
            n_train: r.n_train,
            n_val: r.n_val,
            recoveries: r.recoveries.clone(),
        }
    }
}

/// The training loop's state between two steps (`training_loop::Loop`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    pub epoch: usize,
    /// Minibatches of this epoch already taken.
    pub batch: usize,
    pub epoch_loss: u64,
    /// This epoch's row order.
    pub rows: Vec<usize>,
    pub shuffle: RngState,
    pub noise: RngState,
    pub params: Vec<Vec<u32>>,
    pub adam: AdamState,
    pub steps: usize,
    pub best: Vec<Vec<u32>>,
    /// The state at the start of this epoch, where a divergence rolls back to.
    pub good_params: Vec<Vec<u32>>,
    pub good_adam: AdamState,
    pub good_steps: usize,
    pub report: ReportState,
}

/// One training run's entry: in progress, or finished with its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Run {
    Running(Box<LoopState>),
    Done { params: Vec<Vec<u32>>, report: ReportState },
}

#[derive(Serialize, Deserialize)]
struct Body {
    strongid_version: String,
    fingerprint: Fingerprint,
    /// Keyed by run: `seed0`, `seed1/stage2`, …
    runs: BTreeMap<String, Run>,
}

#[derive(Serialize, Deserialize)]
struct Head {
    format: String,
    format_version: u32,
    checksum: String,
}

/// Where and how often one `fit` saves its runs' states, and what it resumed from.
pub struct Checkpointing {
    path: PathBuf,
    every_steps: Option<usize>,
    every: Duration,
    interrupt: &'static AtomicBool,
    body: Mutex<Body>,
    last_write: Mutex<Instant>,
}

impl std::fmt::Debug for Checkpointing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Checkpointing({})", self.path.display())
    }
}

impl Checkpointing {
    /// Save to `path` every `every_steps` optimiser steps (if given), at least every `every`, and
    /// when `interrupt` is set (the CLI passes `&INTERRUPTED`). `resumed`: the runs read back.
    pub fn new(path: &Path, fingerprint: Fingerprint, every_steps: Option<usize>, every: Duration, interrupt: &'static AtomicBool) -> Checkpointing {
        let body = Body { strongid_version: env!("CARGO_PKG_VERSION").into(), fingerprint, runs: BTreeMap::new() };
        Checkpointing { path: path.to_path_buf(), every_steps, every, interrupt, body: Mutex::new(body), last_write: Mutex::new(Instant::now()) }
    }

    /// Continue from the checkpoint at `from` (verified: format, checksum, and written for
    /// `fingerprint`), saving to `self`'s path from now on.
    pub fn resume_from(mut self, from: &Path) -> Result<Checkpointing> {
        let body = read(from)?;
        let now = &self.body.get_mut().unwrap_or_else(|e| e.into_inner()).fingerprint;
        let diff = body.fingerprint.differences(now);
        if !diff.is_empty() {
            return Err(Error::input(
                from,
                format!("was written by another fit; resume with the same command and data. Differences:\n  {}", diff.join("\n  ")),
            ));
        }
        self.body.get_mut().unwrap_or_else(|e| e.into_inner()).runs = body.runs;
        Ok(self)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn run(&self, key: &str) -> Option<Run> {
        self.body.lock().unwrap_or_else(|e| e.into_inner()).runs.get(key).cloned()
    }

    pub fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }

    /// Whether a periodic save is due after `steps` optimiser steps.
    pub fn due(&self, steps: usize) -> bool {
        self.every_steps.is_some_and(|n| n > 0 && steps % n == 0) || self.last_write.lock().unwrap_or_else(|e| e.into_inner()).elapsed() >= self.every
    }

    /// Record `run` under `key` and write the file (atomically: the previous checkpoint stays
    /// intact until the new one is complete).
    pub fn save(&self, key: &str, run: Run) -> Result<()> {
        let mut body = self.body.lock().unwrap_or_else(|e| e.into_inner());
        body.runs.insert(key.to_string(), run);
        let json = serde_json::to_string(&*body).expect("checkpoint serializes");
        let mut h = crate::io::Fnv1a::new();
        h.eat(json.as_bytes());
        let head = serde_json::to_string(&Head { format: FORMAT.into(), format_version: FORMAT_VERSION, checksum: h.hex() }).expect("head serializes");
        crate::io::atomic_write(&self.path, |w| {
            w.write_all(head.as_bytes())?;
            w.write_all(b"\n")?;
            w.write_all(json.as_bytes())
        })?;
        *self.last_write.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        Ok(())
    }

    /// Count a training loop as running with this checkpoint until the guard drops: a signal
    /// then leaves the stopping to it (`on_signal`).
    pub fn activate(&self) -> ActiveGuard {
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(())
    }
}

pub struct ActiveGuard(());

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A checkpoint for one run of a fit: the shared file and this run's key.
#[derive(Clone)]
pub struct CheckpointRef {
    pub handle: Arc<Checkpointing>,
    pub key: String,
}

impl CheckpointRef {
    /// The same file, another run (e.g. the second stage of a fit).
    pub fn sub(&self, name: &str) -> CheckpointRef {
        CheckpointRef { handle: self.handle.clone(), key: format!("{}/{name}", self.key) }
    }
}

impl std::fmt::Debug for CheckpointRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}[{}]", self.handle, self.key)
    }
}

/// Not part of what a fit computes: configurations compare equal whatever their checkpoints.
impl PartialEq for CheckpointRef {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

fn read(path: &Path) -> Result<Body> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |msg: String| Error::input(path, msg);
    let nl = bytes.iter().position(|&b| b == b'\n').ok_or_else(|| bad("not a strongid checkpoint (no header line)".into()))?;
    let head: Head = serde_json::from_slice(&bytes[..nl]).map_err(|_| bad("not a strongid checkpoint (unreadable header line)".into()))?;
    if head.format != FORMAT {
        return Err(bad("not a strongid checkpoint (wrong format name)".into()));
    }
    if head.format_version != FORMAT_VERSION {
        return Err(bad(format!("checkpoint format version {} is not supported by this strongid (version {FORMAT_VERSION})", head.format_version)));
    }
    let json = &bytes[nl + 1..];
    let mut h = crate::io::Fnv1a::new();
    h.eat(json);
    if h.hex() != head.checksum {
        return Err(bad("checksum mismatch: the checkpoint is corrupted or truncated".into()));
    }
    serde_json::from_slice(json).map_err(|e| bad(format!("corrupted checkpoint: {e}")))
}
