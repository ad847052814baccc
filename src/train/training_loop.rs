//! The one training loop every model shares: seeded minibatch order, Adam, early stopping on the
//! validation loss (the best parameters are kept), reduce-on-plateau, divergence recovery
//! (rollback to the start of the epoch with a smaller learning rate, a bounded number of times)
//! and checkpoints that a later run continues from bit for bit.
use super::checkpoint::{self, AdamState, CheckpointRef, LoopState, ReportState, RngState, Run};
use super::{NonFinite, Objective, Recovery, Schedule, Start, TrainConfig, TrainReport, Trainer, split_rows, stream};
use crate::error::{Error, Result};
use crate::nn::{Adam, HostParams};
use crate::tensor::Tensor;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// Divergences recovered from before a fit gives up.
pub const MAX_RECOVERIES: usize = 3;
/// The learning rate after a recovery, relative to before.
pub const RECOVERY_LR_FACTOR: f64 = 0.1;

/// Train `params` on `obj`; returns the parameters of the best validation epoch.
pub fn fit(obj: &impl Objective, params: Vec<Tensor<2>>, cfg: &TrainConfig, show_progress: bool) -> Result<(Vec<Tensor<2>>, TrainReport)> {
    fit_from(obj, params, cfg, show_progress, Start::Fresh)
}

pub fn fit_from<O: Objective>(obj: &O, params: Vec<Tensor<2>>, cfg: &TrainConfig, show_progress: bool, start_kind: Start) -> Result<(Vec<Tensor<2>>, TrainReport)> {
    if cfg.batch == 0 || cfg.epochs == 0 || !(cfg.lr > 0.0) {
        return Err(Error::usage("epochs, batch and learning rate must be positive"));
    }
    let started = Instant::now();
    let (train_rows, val_rows) = split_rows(obj.n_rows(), cfg.val_fraction, cfg.split_seed)?;
    let shapes: Vec<[usize; 2]> = params.iter().map(|t| t.dims()).collect();
    let ckpt = cfg.checkpoint.as_ref();
    let mut s = match ckpt.and_then(|c| c.handle.run(&c.key)) {
        Some(Run::Done { params, report }) => {
            let params = checked(&checkpoint::from_bits32(&params), &shapes, ckpt)?;
            return Ok((HostParams { shapes, values: params }.tensors(), TrainReport::from(&report)));
        }
        Some(Run::Running(state)) => Loop::restore(obj, *state, &shapes, cfg, &train_rows, val_rows.len(), ckpt)?,
        None => Loop::fresh(obj, &params, cfg, train_rows, &val_rows, start_kind),
    };
    let _active = ckpt.map(|c| c.handle.activate());
    let bar = progress_bar(cfg.epochs as u64, show_progress);
    bar.set_position(s.epoch as u64 - 1);
    let result = s.run(obj, cfg, &val_rows, ckpt, &bar);
    bar.finish_and_clear();
    result?;
    let mut report = s.report;
    let never_improved = start_kind == Start::Fresh && !(report.best_val_loss < report.initial_val_loss);
    // Learned the training rows (loss down) but never beat the start on validation: with a start
    // that is a model (a flow's identity), the start is the best fit of these few rows.
    let learned = report.train_loss.last().zip(report.train_loss.first()).is_some_and(|(last, first)| last < first);
    if never_improved && obj.start_is_a_model() && learned && report.initial_val_loss.is_finite() {
        s.best = HostParams::from_tensors(&params).values;
        report.best_val_loss = report.initial_val_loss;
        report.best_epoch = 0;
    } else if never_improved {
        return Err(Error::Diverged {
            epoch: report.epochs_run,
            msg: format!(
                "the validation loss never improved on the untrained model ({:.4} at best vs {:.4} at start); try --lr {:.0e}",
                report.best_val_loss,
                report.initial_val_loss,
                cfg.lr / 10.0
            ),
        });
    }
    report.final_lr = s.trainer.adam.lr;
    report.seconds = started.elapsed().as_secs_f64();
    if let Some(c) = ckpt {
        c.handle.save(&c.key, Run::Done { params: checkpoint::bits32(&s.best), report: ReportState::from(&report) })?;
    }
    Ok((HostParams { shapes, values: s.best }.tensors(), report))
}

/// Parameters read from a checkpoint, shaped like this model's (else the file belongs to another).
fn checked(values: &[Vec<f32>], shapes: &[[usize; 2]], ckpt: Option<&CheckpointRef>) -> Result<Vec<Vec<f32>>> {
    let fits = values.len() == shapes.len() && values.iter().zip(shapes).all(|(v, s)| v.len() == s[0] * s[1]);
    if !fits {
        let path = ckpt.map_or_else(Default::default, |c| c.handle.path().to_path_buf());
        return Err(Error::input(&path, "its parameters do not have this model's shapes: it was written for another model"));
    }
    Ok(values.to_vec())
}

/// Everything that changes from step to step.
struct Loop<'a, O: Objective> {
    epoch: usize,
    /// Minibatches of this epoch already taken.
    batch: usize,
    epoch_loss: f64,
    /// This epoch's row order.
    rows: Vec<usize>,
    shuffle: ChaCha8Rng,
    trainer: Trainer<'a, O>,
    best: Vec<Vec<f32>>,
    /// Parameters, optimiser and step count at the start of this epoch: where a divergence
    /// rolls back to.
    good: (Vec<Vec<f32>>, Adam, usize),
    report: TrainReport,
}

impl<'a, O: Objective> Loop<'a, O> {
    fn fresh(obj: &'a O, params: &[Tensor<2>], cfg: &TrainConfig, mut rows: Vec<usize>, val_rows: &[usize], start_kind: Start) -> Self {
        let mut trainer = Trainer::new(obj, params, cfg);
        trainer.schedule.1 = total_steps(cfg, rows.len());
        // The untrained model's validation loss: a fresh fit that never beats it has failed; a
        // continuation (e.g. after freezing priors) may keep its starting point as the best.
        let initial = validation_loss(obj, &trainer.params, val_rows, cfg.seed);
        let best_val_loss = if start_kind == Start::Continuation && initial.is_finite() { initial } else { f64::INFINITY };
        let report = TrainReport { n_train: rows.len(), n_val: val_rows.len(), initial_val_loss: initial, best_val_loss, ..Default::default() };
        let mut shuffle = stream(cfg.seed, super::STREAM_SHUFFLE);
        rows.shuffle(&mut shuffle);
        let good = (trainer.params.values.clone(), trainer.adam.clone(), 0);
        Loop { epoch: 1, batch: 0, epoch_loss: 0.0, rows, shuffle, best: trainer.params.values.clone(), trainer, good, report }
    }

    /// The loop as a checkpoint left it, after checking that the state fits this fit (a state
    /// that passed the checksum but was edited must not index out of the data or loop forever).
    fn restore(obj: &'a O, st: LoopState, shapes: &[[usize; 2]], cfg: &TrainConfig, train_rows: &[usize], n_val: usize, ckpt: Option<&CheckpointRef>) -> Result<Self> {
        let path = ckpt.map_or_else(Default::default, |c| c.handle.path().to_path_buf());
        let rng = |r: &RngState| r.rng().ok_or_else(|| Error::input(&path, "corrupted random-stream state"));
        let mut order = st.rows.clone();
        order.sort_unstable();
        let mut expected = train_rows.to_vec();
        expected.sort_unstable();
        let moments_fit = |a: &AdamState| a.moments_fit(shapes);
        let problem = if order != expected {
            Some("its minibatch order is not a permutation of the training rows")
        } else if !(1..=cfg.epochs).contains(&st.epoch) || st.batch.saturating_mul(cfg.batch) > st.rows.len() + cfg.batch {
            Some("its epoch or minibatch position is out of range")
        } else if !st.report.fits_position(st.epoch, train_rows.len(), n_val) {
            Some("its training summary does not match its position")
        } else if !moments_fit(&st.adam) || !moments_fit(&st.good_adam) {
            Some("its optimiser state does not have the parameters' shapes")
        } else {
            None
        };
        if let Some(p) = problem {
            return Err(Error::input(&path, format!("inconsistent training state ({p}): the checkpoint was altered or belongs to another fit")));
        }
        let values = checked(&checkpoint::from_bits32(&st.params), shapes, ckpt)?;
        let trainer = Trainer { obj, params: HostParams { shapes: shapes.to_vec(), values }, adam: st.adam.adam(), noise_rng: rng(&st.noise)?, steps: st.steps, schedule: (cfg.schedule, total_steps(cfg, train_rows.len())) };
        Ok(Loop {
            epoch: st.epoch,
            batch: st.batch,
            epoch_loss: f64::from_bits(st.epoch_loss),
            rows: st.rows,
            shuffle: rng(&st.shuffle)?,
            best: checked(&checkpoint::from_bits32(&st.best), shapes, ckpt)?,
            good: (checked(&checkpoint::from_bits32(&st.good_params), shapes, ckpt)?, st.good_adam.adam(), st.good_steps),
            trainer,
            report: TrainReport::from(&st.report),
        })
    }

    fn state(&self) -> Run {
        Run::Running(Box::new(LoopState {
            epoch: self.epoch,
            batch: self.batch,
            epoch_loss: self.epoch_loss.to_bits(),
            rows: self.rows.clone(),
            shuffle: RngState::of(&self.shuffle),
            noise: RngState::of(&self.trainer.noise_rng),
            params: checkpoint::bits32(&self.trainer.params.values),
            adam: AdamState::of(&self.trainer.adam),
            steps: self.trainer.steps,
            best: checkpoint::bits32(&self.best),
            good_params: checkpoint::bits32(&self.good.0),
            good_adam: AdamState::of(&self.good.1),
            good_steps: self.good.2,
            report: ReportState::from(&self.report),
        }))
    }

    /// Save when due; on a signal, save and stop; when cancelled, stop.
    fn checkpoint(&self, ckpt: Option<&CheckpointRef>) -> Result<()> {
        if super::CANCEL.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let Some(c) = ckpt else { return Ok(()) };
        if c.handle.interrupted() {
            c.handle.save(&c.key, self.state())?;
            let path = c.handle.path().to_path_buf();
            return Err(Error::Interrupted { resume: format!("run the same command with --resume {} to continue", path.display()), checkpoint: path });
        }
        if c.handle.due(self.trainer.steps) {
            c.handle.save(&c.key, self.state())?;
        }
        Ok(())
    }

    fn run(&mut self, obj: &O, cfg: &TrainConfig, val_rows: &[usize], ckpt: Option<&CheckpointRef>, bar: &ProgressBar) -> Result<()> {
        loop {
            while self.batch * cfg.batch < self.rows.len() {
                let lo = self.batch * cfg.batch;
                let hi = (lo + cfg.batch).min(self.rows.len());
                match self.trainer.step(&self.rows[lo..hi]) {
                    Ok(value) => {
                        self.epoch_loss += value * (hi - lo) as f64;
                        self.batch += 1;
                        self.report.steps = self.trainer.steps;
                        self.checkpoint(ckpt)?;
                    }
                    Err(bad) => self.recover(bad, cfg)?,
                }
            }
            let train_loss = self.epoch_loss / self.rows.len() as f64;
            let val_loss = validation_loss(obj, &self.trainer.params, val_rows, cfg.seed);
            if !val_loss.is_finite() {
                self.recover(NonFinite::Validation(val_loss), cfg)?;
                continue;
            }
            let r = &mut self.report;
            r.train_loss.push(train_loss);
            r.val_loss.push(val_loss);
            r.epochs_run = self.epoch;
            if val_loss < r.best_val_loss {
                r.best_val_loss = val_loss;
                r.best_epoch = self.epoch;
                self.best = self.trainer.params.values.clone();
            }
            bar.set_message(format!("train {train_loss:.4}  val {val_loss:.4}  best {:.4} @ {}", r.best_val_loss, r.best_epoch));
            bar.inc(1);
            // Reduce on plateau: halve the step size after a third of the patience without
            // progress, so the iterate settles into the optimum instead of rattling around it.
            // (The cosine schedule decays on its own.)
            let stalled = self.epoch - r.best_epoch;
            if cfg.schedule == Schedule::Plateau && stalled > 0 && stalled % (cfg.patience / 3).max(1) == 0 {
                self.trainer.adam.lr *= 0.5;
            }
            if stalled >= cfg.patience {
                r.stopped_early = true;
                return Ok(());
            }
            if self.epoch == cfg.epochs {
                return Ok(());
            }
            self.epoch += 1;
            self.batch = 0;
            self.epoch_loss = 0.0;
            self.rows.shuffle(&mut self.shuffle);
            self.good = (self.trainer.params.values.clone(), self.trainer.adam.clone(), self.trainer.steps);
            self.checkpoint(ckpt)?;
        }
    }

    /// Roll back to the start of the epoch with a smaller learning rate, or fail: at once when
    /// the loss is non-finite before any step (the model overflows on the data; a smaller step
    /// cannot help), after `MAX_RECOVERIES` rollbacks otherwise.
    fn recover(&mut self, bad: NonFinite, cfg: &TrainConfig) -> Result<()> {
        let epoch = self.epoch;
        let step = self.trainer.steps + 1;
        let lr = self.trainer.adam.lr;
        if self.trainer.steps == 0 && matches!(bad, NonFinite::Loss(_)) {
            return Err(Error::Diverged { epoch, msg: format!("{bad} before any step: the model overflows on this data (is it on an extreme scale?)") });
        }
        if self.report.recoveries.len() >= MAX_RECOVERIES {
            return Err(Error::Diverged {
                epoch,
                msg: format!(
                    "{bad} at step {step}, after {MAX_RECOVERIES} rollbacks to a smaller learning rate (now {lr:.1e}, started at {:.1e}): \
                     the step size is too large for this loss (try --lr {:.0e})",
                    cfg.lr,
                    lr / 10.0
                ),
            });
        }
        let (params, adam, steps) = &self.good;
        self.trainer.params.values = params.clone();
        self.trainer.adam = Adam { lr: lr * RECOVERY_LR_FACTOR, ..adam.clone() };
        self.trainer.steps = *steps;
        self.batch = 0;
        self.epoch_loss = 0.0;
        self.report.recoveries.push(Recovery { epoch, step, cause: bad.to_string(), lr_from: lr, lr_to: lr * RECOVERY_LR_FACTOR });
        Ok(())
    }
}

/// Optimiser steps in a fit that runs all its epochs on `n_train` rows.
fn total_steps(cfg: &TrainConfig, n_train: usize) -> usize {
    cfg.epochs * n_train.div_ceil(cfg.batch)
}

fn validation_loss(obj: &impl Objective, params: &HostParams, rows: &[usize], seed: u64) -> f64 {
    const CHUNK: usize = 4096;
    let mut rng = stream(seed, super::STREAM_VAL_NOISE);
    let mut total = 0.0;
    for chunk in rows.chunks(CHUNK) {
        total += obj.loss_value(params, chunk, &mut rng) * chunk.len() as f64;
    }
    total / rows.len() as f64
}

fn progress_bar(len: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template("epoch {pos}/{len} [{elapsed_precise}] {bar:30} {msg}").expect("static template"));
    bar
}
