//! Running one task: regenerate (or read) its data, fit with a checkpoint under `work/ID/` (a
//! rerun after a kill resumes it), encode, measure, and write `codes/ID.npy` then
//! `results/ID.json` atomically. A task whose result exists is skipped.
use super::{DataSource, ManifestEntry, Task, read_manifest};
use crate::error::{Error, Result};
use crate::io::Dataset;
use crate::models::ModelKind;
use crate::train::checkpoint::{Checkpointing, Fingerprint, INTERRUPTED};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// What a finished task records: a function of the task alone (no timings), so results are the
/// same bytes whoever ran them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskResult {
    pub id: String,
    pub task: Task,
    /// Against the true latent, when the data have one.
    pub scores: Option<crate::metrics::Scores>,
    /// The smallest class relating the code to the true latent.
    pub vs_truth: Option<crate::probe::Class>,
    /// The theory's largest class for the fitted model.
    pub predicted: crate::probe::Class,
    pub best_val_loss: f64,
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub certificate: Option<crate::certificate::Certificate>,
    /// Validation loss per epoch of the kept fit (the training curve).
    #[serde(default)]
    pub curve: Vec<f64>,
}

/// The data of a task: its dataset and, for simulated data, the true priors.
pub fn task_data(task: &Task) -> Result<(Dataset, Option<Vec<crate::priors::EnvPrior>>)> {
    let (mut ds, priors) = source_data(task)?;
    if task.transform.as_deref() == Some("reverse-columns") {
        let (n, d) = (ds.x.rows, ds.x.cols);
        ds.x = crate::matrix::Matrix::from_fn(n, d, |i, j| ds.x.get(i, d - 1 - j));
    }
    Ok((ds, priors))
}

fn source_data(task: &Task) -> Result<(Dataset, Option<Vec<crate::priors::EnvPrior>>)> {
    match &task.data {
        DataSource::Simulated { simulate, recipe } => crate::simulate::from_recipe(simulate, recipe, None),
        DataSource::File { path, content } => {
            let now = super::file_hash(path)?;
            if &now != content {
                return Err(Error::input(path, format!("changed since the study was planned (content {now}, planned {content}): plan it again")));
            }
            Ok((Dataset::load(path)?, None))
        }
    }
}

/// Run the task at `index` of the manifest in `dir` (or the one with id `id`). Returns false if
/// its result already existed (nothing was done).
pub fn run_task(dir: &Path, index: Option<usize>, id: Option<&str>, quiet: bool) -> Result<bool> {
    let manifest = read_manifest(dir)?;
    let entry = match (index, id) {
        (Some(i), None) => manifest.tasks.get(i).ok_or_else(|| Error::usage(format!("--index {i}: the study has {} tasks (0–{})", manifest.tasks.len(), manifest.tasks.len().saturating_sub(1))))?,
        (None, Some(id)) => manifest.tasks.iter().find(|e| e.id == id).ok_or_else(|| Error::usage(format!("--task {id}: no such task in {}", dir.display())))?,
        _ => return Err(Error::usage("give exactly one of --index I or --task ID")),
    };
    let result_path = dir.join("results").join(format!("{}.json", entry.id));
    if result_path.exists() {
        return Ok(false);
    }
    // results/ and codes/ are made by write_result.
    for sub in ["running", "failed", "work"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| Error::io(&dir.join(sub), e))?;
    }
    let running = dir.join("running").join(&entry.id);
    std::fs::write(&running, std::process::id().to_string()).map_err(|e| Error::io(&running, e))?;
    let outcome = execute(dir, entry, quiet);
    let _ = std::fs::remove_file(&running);
    let failed = dir.join("failed").join(format!("{}.txt", entry.id));
    match outcome {
        Ok(()) => {
            let _ = std::fs::remove_file(&failed);
            let _ = std::fs::remove_dir_all(dir.join("work").join(&entry.id));
            Ok(true)
        }
        // Interrupted: the checkpoint stays for the rerun; not a failure.
        Err(Error::Interrupted { checkpoint, .. }) => {
            Err(Error::Interrupted { checkpoint, resume: format!("run `strongid study run {} --task {}` again to continue (the task resumes from it)", dir.display(), entry.id) })
        }
        Err(e) => {
            let _ = crate::io::atomic_write(&failed, |w| w.write_all(e.to_string().as_bytes()));
            Err(e)
        }
    }
}

fn execute(dir: &Path, entry: &ManifestEntry, quiet: bool) -> Result<()> {
    let (result, code) = compute(entry, &dir.join("work").join(&entry.id), quiet)?;
    write_result(dir, &result, &code)
}

/// Write a computed task's codes, then its result (last: a result file means the task is done).
pub fn write_result(dir: &Path, result: &TaskResult, code: &crate::matrix::Matrix) -> Result<()> {
    for sub in ["results", "codes"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| Error::io(&dir.join(sub), e))?;
    }
    crate::io::write_npy(&dir.join("codes").join(format!("{}.npy", result.id)), code)?;
    let json = serde_json::to_string_pretty(result).expect("results serialize");
    crate::io::atomic_write(&dir.join("results").join(format!("{}.json", result.id)), |w| w.write_all(json.as_bytes()))
}

/// Compute a task (its checkpoint and anchors under `work`): its result and codes, written by
/// the caller — `run_task`, or a Dask client collecting what its workers return.
pub fn compute(entry: &ManifestEntry, work: &Path, quiet: bool) -> Result<(TaskResult, crate::matrix::Matrix)> {
    let task = &entry.task;
    let kind = ModelKind::parse(&task.model.kind).ok_or_else(|| Error::usage(format!("unknown kind {}", task.model.kind)))?;
    let (ds, priors) = task_data(task)?;
    std::fs::create_dir_all(work).map_err(|e| Error::io(work, e))?;
    let mut args = task.model.options.clone();
    args.extend(["--seed".to_string(), task.seed.to_string()]);
    if quiet {
        args.push("--quiet".into());
    }
    match task.model.anchors.as_deref() {
        None => {}
        Some("true") => {
            let mut priors = priors.ok_or_else(|| Error::usage(format!("model '{}': anchors \"true\" needs simulated data with environments", task.model.name)))?;
            if let Some([a, b]) = task.model.anchor_means {
                priors.iter_mut().for_each(|p| p.mean.iter_mut().for_each(|m| *m = a * *m + b));
            }
            let p = work.join("priors.json");
            crate::priors::write_anchors(&p, &priors)?;
            args.extend(["--anchors".to_string(), p.display().to_string()]);
        }
        Some(path) => args.extend(["--anchors".to_string(), path.to_string()]),
    }
    let mut opts = crate::fit::FitOptions::from_args(&args).map_err(Error::usage)?;
    let restarts = task.restarts.unwrap_or_else(|| crate::certificate::default_restarts(kind));
    if !matches!(kind, ModelKind::Fa | ModelKind::FaTri) {
        // The task's id pins everything down: a checkpoint left by a killed run of it resumes.
        let ckpt = work.join("fit.ckpt");
        let fingerprint = Fingerprint { command: [("task".to_string(), entry.id.clone().into())].into_iter().collect(), data: entry.id.clone() };
        let every = std::time::Duration::from_secs(60);
        let c = Checkpointing::new(&ckpt, fingerprint, None, every, &INTERRUPTED);
        let c = if ckpt.exists() { c.resume_from(&ckpt)? } else { c };
        opts.checkpoint = Some(Arc::new(c));
    }
    let u_path = Path::new("u");
    let model = crate::certificate::fit_certified(kind, &opts, &ds, ds.u.as_ref(), u_path, restarts)?;
    let code = model.encode(&ds.x, ds.u.as_ref(), u_path, None)?;
    let (scores, vs_truth) = match &ds.z {
        Some(z) if z.cols == code.cols => {
            let pair = crate::probe::agreement(0, 1, z, &code, 0)?;
            (Some(crate::metrics::evaluate(z, &code)?), Some(crate::probe::classify(&[pair], 0.95)))
        }
        _ => (None, None),
    };
    let result = TaskResult {
        id: entry.id.clone(),
        task: task.clone(),
        scores,
        vs_truth,
        predicted: crate::probe::prediction(&model).0,
        best_val_loss: model.report.best_val_loss,
        best_epoch: model.report.best_epoch,
        epochs_run: model.report.epochs_run,
        certificate: model.certificate.clone(),
        curve: model.report.val_loss.clone(),
    };
    Ok((result, code))
}

/// What `run_all` did: tasks run now, tasks that failed (index, error), of `total`.
#[derive(Debug, Default)]
pub struct RunAll {
    pub ran: Vec<usize>,
    pub failed: Vec<(usize, String)>,
    pub total: usize,
}

/// Run every unfinished task of the study in `dir`, several at once (rayon's threads; a task's
/// result does not depend on what runs beside it). A failed task is recorded (`failed/ID.txt`)
/// and the others go on; an interruption (Ctrl-C) stops the run with that error.
pub fn run_all(dir: &Path, quiet: bool, on_done: impl Fn(&ManifestEntry) + Sync) -> Result<RunAll> {
    use rayon::prelude::*;
    let m = read_manifest(dir)?;
    let outcomes: Vec<(usize, Result<bool>)> = m
        .tasks
        .par_iter()
        .map(|e| {
            let r = run_task(dir, Some(e.index), None, quiet);
            if matches!(r, Ok(true)) {
                on_done(e);
            }
            (e.index, r)
        })
        .collect();
    let mut done = RunAll { total: m.tasks.len(), ..Default::default() };
    for (i, r) in outcomes {
        match r {
            Ok(true) => done.ran.push(i),
            Ok(false) => {}
            Err(err @ (Error::Interrupted { .. } | Error::ClosedStdout)) => return Err(err),
            Err(err) => done.failed.push((i, err.to_string())),
        }
    }
    Ok(done)
}

/// Tasks by state.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    pub total: usize,
    pub done: Vec<usize>,
    pub running: Vec<usize>,
    pub failed: Vec<(usize, String)>,
    pub pending: Vec<usize>,
}

/// `strongid study status`: which tasks are done, running (a live process holds them), failed
/// (with the error) or pending.
pub fn status(dir: &Path) -> Result<Status> {
    let m = read_manifest(dir)?;
    let mut s = Status { total: m.tasks.len(), ..Default::default() };
    for e in &m.tasks {
        let running = std::fs::read_to_string(dir.join("running").join(&e.id)).ok().and_then(|p| p.trim().parse::<u32>().ok());
        if dir.join("results").join(format!("{}.json", e.id)).exists() {
            s.done.push(e.index);
        } else if running.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists()) {
            s.running.push(e.index);
        } else if let Ok(msg) = std::fs::read_to_string(dir.join("failed").join(format!("{}.txt", e.id))) {
            s.failed.push((e.index, msg));
        } else {
            s.pending.push(e.index);
        }
    }
    Ok(s)
}
