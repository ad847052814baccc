//! The training loop's promises: divergence recovery (rollback, smaller step, bounded) and
//! checkpoints a later run continues from bit for bit.
use super::checkpoint::{Checkpointing, Fingerprint};
use super::*;
use crate::matrix::Matrix;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Noisy least squares: loss = mean over rows (x·p − y + 0.1 ε)², ε drawn from the loop's noise
/// stream. Non-finite when some |p_j| exceeds `blow_up` (a loss that overflows beyond a region,
/// as a step too large makes real models do). Sets `interrupt` at its `interrupt_at`-th gradient.
struct Toy {
    x: Matrix,
    y: Vec<f64>,
    blow_up: f64,
    calls: AtomicUsize,
    interrupt_at: usize,
    interrupt: &'static AtomicBool,
}

impl Toy {
    fn new(blow_up: f64, interrupt_at: usize) -> Toy {
        let x = crate::simulate::standard_normal(300, 3, &mut stream(1, 0));
        let y = (0..300).map(|i| x.get(i, 0) - 2.0 * x.get(i, 1) + 0.5 * x.get(i, 2)).collect();
        Toy { x, y, blow_up, calls: AtomicUsize::new(0), interrupt_at, interrupt: Box::leak(Box::new(AtomicBool::new(false))) }
    }
    fn value_grad(&self, p: &[f32], rows: &[usize], rng: &mut ChaCha8Rng) -> (f64, Vec<Vec<f32>>) {
        if p.iter().any(|v| f64::from(v.abs()) > self.blow_up) {
            return (f64::NAN, vec![vec![0.0; 3]]);
        }
        let mut g = vec![0.0f64; 3];
        let mut loss = 0.0;
        for &r in rows {
            let e: f64 = StandardNormal.sample(rng);
            let res = (0..3).map(|j| self.x.get(r, j) * f64::from(p[j])).sum::<f64>() - self.y[r] + 0.1 * e;
            loss += res * res;
            (0..3).for_each(|j| g[j] += 2.0 * res * self.x.get(r, j));
        }
        let n = rows.len() as f64;
        (loss / n, vec![g.iter().map(|v| (v / n) as f32).collect()])
    }
}

impl Objective for Toy {
    fn loss(&self, _: &[Tensor<2>], _: &[usize], _: &mut ChaCha8Rng) -> Tensor<1> {
        unreachable!("the toy has its own gradient")
    }
    fn loss_and_grad(&self, params: &HostParams, rows: &[usize], rng: &mut ChaCha8Rng) -> (f64, Vec<Vec<f32>>) {
        if self.calls.fetch_add(1, Ordering::SeqCst) + 1 == self.interrupt_at {
            self.interrupt.store(true, Ordering::SeqCst);
        }
        self.value_grad(&params.values[0], rows, rng)
    }
    fn loss_value(&self, params: &HostParams, rows: &[usize], rng: &mut ChaCha8Rng) -> f64 {
        self.value_grad(&params.values[0], rows, rng).0
    }
    fn n_rows(&self) -> usize {
        300
    }
}

fn start() -> Vec<Tensor<2>> {
    HostParams { shapes: vec![[1, 3]], values: vec![vec![0.0; 3]] }.tensors()
}

fn cfg(lr: f64) -> TrainConfig {
    TrainConfig { epochs: 12, batch: 32, lr, seed: 5, patience: 100, clip_norm: None, ..TrainConfig::default() }
}

fn values(t: &[Tensor<2>]) -> Vec<Vec<f32>> {
    HostParams::from_tensors(t).values
}

#[test]
fn divergence_rolls_back_to_the_epoch_start_with_a_smaller_step() {
    // lr 3: Adam's first steps move p by about 3, past |p| = 4 within the first epoch.
    let toy = Toy::new(4.0, 0);
    let (p, report) = fit(&toy, start(), &cfg(3.0), false).unwrap();
    assert!(!report.recoveries.is_empty(), "the toy diverges at lr 3");
    let first = &report.recoveries[0];
    assert!(first.cause.contains("NaN"), "{first:?}");
    assert_eq!(first.lr_to, first.lr_from * super::training_loop::RECOVERY_LR_FACTOR);
    let p = &values(&p)[0];
    for (got, want) in p.iter().zip([1.0, -2.0, 0.5]) {
        assert!((got - want).abs() < 0.05, "recovered fit reaches the optimum: {p:?}");
    }
}

#[test]
fn a_divergence_that_persists_fails_after_bounded_retries() {
    // Non-finite as soon as p leaves 0 by more than a hair: every rollback diverges again.
    let toy = Toy::new(1e-9, 0);
    let err = fit(&toy, start(), &cfg(1e-3), false).unwrap_err().to_string();
    assert!(err.contains(&format!("after {MAX_RECOVERIES} rollbacks")) && err.contains("try --lr"), "{err}");
}

#[test]
fn a_loss_non_finite_before_any_step_fails_at_once() {
    let toy = Toy::new(-1.0, 0);
    let err = fit(&toy, start(), &cfg(1e-3), false).unwrap_err().to_string();
    assert!(err.contains("before any step") && err.contains("overflows"), "{err}");
}

fn fingerprint(lr: f64) -> Fingerprint {
    Fingerprint { command: [("lr".to_string(), serde_json::json!(lr))].into_iter().collect(), data: "toy".into() }
}

/// Interrupt after `at` gradient calls (mid-epoch or at an epoch's last batch), resume from the
/// file, and compare with an uninterrupted fit: same parameters and report, bit for bit, with a
/// divergence recovery before the interruption (lr 3) or none (lr 0.05).
#[test]
fn a_resumed_fit_equals_an_uninterrupted_one_bit_for_bit() {
    let dir = std::env::temp_dir().join(format!("strongid-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 270 training rows in batches of 32: 9 steps per epoch.
    for (lr, at, schedule) in [(3.0, 23, Schedule::Plateau), (0.05, 18, Schedule::Plateau), (0.05, 40, Schedule::Plateau), (3.0, 23, Schedule::Cosine), (0.05, 40, Schedule::Cosine)] {
        let cfg = |lr| TrainConfig { schedule, ..cfg(lr) };
        let (want, want_report) = fit(&Toy::new(4.0, 0), start(), &cfg(lr), false).unwrap();
        let path = dir.join(format!("c-{lr}-{at}-{schedule:?}.ckpt"));
        let toy = Toy::new(4.0, at);
        let handle = Arc::new(Checkpointing::new(&path, fingerprint(lr), Some(7), std::time::Duration::from_secs(3600), toy.interrupt));
        let c = TrainConfig { checkpoint: Some(checkpoint::CheckpointRef { handle, key: "seed5".into() }), ..cfg(lr) };
        let err = fit(&toy, start(), &c, false).unwrap_err();
        assert!(matches!(err, Error::Interrupted { .. }), "{err}");
        let never = Box::leak(Box::new(AtomicBool::new(false)));
        let handle = Arc::new(Checkpointing::new(&path, fingerprint(lr), Some(7), std::time::Duration::from_secs(3600), never).resume_from(&path).unwrap());
        let c = TrainConfig { checkpoint: Some(checkpoint::CheckpointRef { handle: handle.clone(), key: "seed5".into() }), ..cfg(lr) };
        let (got, got_report) = fit(&Toy::new(4.0, 0), start(), &c, false).unwrap();
        assert_eq!(values(&got), values(&want), "lr {lr}, interrupted at {at}");
        assert_eq!(TrainReport { seconds: 0.0, ..got_report.clone() }, TrainReport { seconds: 0.0, ..want_report.clone() });
        assert_eq!(lr == 3.0, !want_report.recoveries.is_empty());
        // The finished run is recorded: resuming again returns it without training.
        let handle = Arc::new(Checkpointing::new(&path, fingerprint(lr), None, std::time::Duration::from_secs(3600), never).resume_from(&path).unwrap());
        let c = TrainConfig { checkpoint: Some(checkpoint::CheckpointRef { handle, key: "seed5".into() }), ..cfg(lr) };
        let toy = Toy::new(4.0, 0);
        let (again, _) = fit(&toy, start(), &c, false).unwrap();
        assert_eq!(values(&again), values(&want));
        assert_eq!(toy.calls.load(Ordering::SeqCst), 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The cosine schedule: the full rate at the first step, half at mid-fit, zero at the end; a
/// cosine fit reaches the toy's optimum and reports its base rate.
#[test]
fn the_cosine_schedule_decays_from_the_rate_to_zero() {
    assert_eq!(Schedule::Cosine.factor(0, 100), 1.0);
    assert!((Schedule::Cosine.factor(50, 100) - 0.5).abs() < 1e-12);
    assert!(Schedule::Cosine.factor(100, 100).abs() < 1e-12 && Schedule::Cosine.factor(150, 100).abs() < 1e-12);
    assert!(Schedule::Cosine.factor(30, 100) > Schedule::Cosine.factor(31, 100));
    assert_eq!(Schedule::Plateau.factor(77, 100), 1.0);
    let c = TrainConfig { schedule: Schedule::Cosine, epochs: 40, ..cfg(0.05) };
    let (p, report) = fit(&Toy::new(4.0, 0), start(), &c, false).unwrap();
    assert_eq!(report.final_lr, 0.05, "the base rate is not halved on plateaus under the cosine schedule");
    for (got, want) in values(&p)[0].iter().zip([1.0, -2.0, 0.5]) {
        assert!((got - want).abs() < 0.05, "{:?}", values(&p));
    }
}

#[test]
fn a_checkpoint_from_another_fit_or_corrupted_is_refused() {
    let dir = std::env::temp_dir().join(format!("strongid-ckpt-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.ckpt");
    let never = Box::leak(Box::new(AtomicBool::new(false)));
    let handle = Arc::new(Checkpointing::new(&path, fingerprint(0.05), Some(5), std::time::Duration::from_secs(3600), never));
    let c = TrainConfig { checkpoint: Some(checkpoint::CheckpointRef { handle, key: "seed5".into() }), ..cfg(0.05) };
    fit(&Toy::new(4.0, 0), start(), &c, false).unwrap();
    let err = Checkpointing::new(&path, fingerprint(0.01), None, std::time::Duration::from_secs(1), never).resume_from(&path).unwrap_err().to_string();
    assert!(err.contains("another fit") && err.contains("lr: 0.05 in the checkpoint, 0.01 now"), "{err}");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let err = Checkpointing::new(&path, fingerprint(0.05), None, std::time::Duration::from_secs(1), never).resume_from(&path).unwrap_err().to_string();
    assert!(err.contains("checksum mismatch"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Least squares whose start (p = 0) is the best predictor of the validation rows: the targets of
/// the training rows carry a signal the validation rows do not.
struct Overfit(Toy, bool);

impl Objective for Overfit {
    fn loss(&self, p: &[Tensor<2>], r: &[usize], g: &mut ChaCha8Rng) -> Tensor<1> {
        self.0.loss(p, r, g)
    }
    fn loss_and_grad(&self, p: &HostParams, r: &[usize], g: &mut ChaCha8Rng) -> (f64, Vec<Vec<f32>>) {
        self.0.loss_and_grad(p, r, g)
    }
    fn loss_value(&self, p: &HostParams, r: &[usize], g: &mut ChaCha8Rng) -> f64 {
        // Validation: the loss of predicting 0 is the smallest there.
        let w = &p.values[0];
        let _ = (r, g);
        w.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>()
    }
    fn n_rows(&self) -> usize {
        300
    }
    fn start_is_a_model(&self) -> bool {
        self.1
    }
}

#[test]
fn a_start_that_is_a_model_is_kept_when_training_never_beats_it_on_validation() {
    let (p, report) = fit(&Overfit(Toy::new(4.0, 0), true), start(), &cfg(0.05), false).unwrap();
    assert_eq!(report.best_epoch, 0);
    assert_eq!(values(&p), vec![vec![0.0; 3]]);
    // The same objective whose start is not a model fails as before.
    let err = fit(&Overfit(Toy::new(4.0, 0), false), start(), &cfg(0.05), false).unwrap_err().to_string();
    assert!(err.contains("never improved"), "{err}");
}
