//! Studies: seed × data × model sweeps described once (a JSON study file), expanded into
//! independent, idempotent tasks identified by a hash of their whole content, run one at a time
//! by any scheduler (a loop, a Slurm array, Dask workers), and collected into the experiment
//! suite's results.json / results.md / report.html. A task's result depends only on its content,
//! so a study gives the same bytes however its tasks were scheduled.
//!
//! Layout of a study directory: `study.json` (the file as planned), `manifest.json` (the tasks),
//! `results/ID.json` and `codes/ID.npy` (a finished task), `work/ID/` (a running task's
//! checkpoint and anchors), `failed/ID.txt`, `running/ID` (the pid of a running task).
mod collect;
mod run;

pub use collect::{collect, collect_experiments, slurm_script};
pub use run::{RunAll, Status, TaskResult, compute, run_all, run_task, status, task_data, write_result};

use crate::error::{Error, Result};
use crate::io::Fnv1a;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The study file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    pub name: String,
    pub datasets: Vec<DatasetSpec>,
    pub models: Vec<ModelSpec>,
    /// Fit seeds: every model is fitted once per seed on every dataset.
    pub seeds: Vec<u64>,
    /// Restarts per fit (default: `fit`'s, 2 for the iVAE variants, else 1).
    #[serde(default)]
    pub restarts: Option<usize>,
    /// With a title, `collect` writes one table of all rows, titled, with this claim (the
    /// experiment suite's files), instead of one table per dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
}

/// Data: a simulator recipe with one or more data seeds, or a file / dataset directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub name: String,
    /// tmi, gaussian, ivae or linear-env (`simulate::from_recipe`).
    #[serde(default)]
    pub simulate: Option<String>,
    #[serde(default)]
    pub recipe: serde_json::Map<String, serde_json::Value>,
    /// The recipe's seeds (default [0]); each is its own dataset.
    #[serde(default)]
    pub data_seeds: Option<Vec<u64>>,
    /// Or a dataset directory / .npy / .csv file (hashed into the task, so a changed file is
    /// another task).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The rows' label (default: the name and the data seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
    /// "reverse-columns": fit on x with its coordinates in reverse order (a misspecified
    /// variable ordering for triangular models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<String>,
    /// Names of the models to fit on this dataset (default: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Outside the theory's assumptions on purpose (a wrong ordering, wrong anchors): its rows are
    /// reported, not checked against the theory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub misspecified: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    /// A `fit` kind (tmi-flow, ivae-frozen, …).
    pub kind: String,
    /// `fit` options as on the command line, e.g. ["--epochs", "20"] (not --seed: the study's
    /// seeds are used).
    #[serde(default)]
    pub options: Vec<String>,
    /// ivae-frozen: "true" for the simulated dataset's true priors, or a priors.json path.
    #[serde(default)]
    pub anchors: Option<String>,
    /// With anchors "true": their means mapped μ → a μ + b ([a, b]), deliberately wrong anchors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_means: Option<[f64; 2]>,
    /// Restarts for this model (overrides the study's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<usize>,
}

/// Where a task's data come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    Simulated { simulate: String, recipe: serde_json::Value },
    File { path: PathBuf, content: String },
}

/// One fit: everything its result depends on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub dataset: String,
    /// The dataset's row label, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
    /// The dataset's transform (`DatasetSpec::transform`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub misspecified: bool,
    pub data: DataSource,
    pub model: ModelSpec,
    pub seed: u64,
    pub restarts: Option<usize>,
    pub strongid_version: String,
}

impl Task {
    /// FNV-1a of the task's JSON (struct fields in order, recipe keys sorted): its identity.
    pub fn id(&self) -> String {
        let mut h = Fnv1a::new();
        h.eat(serde_json::to_string(self).expect("tasks serialize").as_bytes());
        h.hex()
    }
    /// The dataset as rows group it (with its data seed).
    pub fn setting(&self) -> String {
        if let Some(s) = &self.setting {
            return s.clone();
        }
        match &self.data {
            DataSource::Simulated { recipe, .. } => format!("{} (data seed {})", self.dataset, recipe.get("seed").and_then(|s| s.as_u64()).unwrap_or(0)),
            DataSource::File { .. } => self.dataset.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub tasks: Vec<ManifestEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub index: usize,
    pub id: String,
    pub task: Task,
}

fn file_hash(path: &Path) -> Result<String> {
    let mut h = Fnv1a::new();
    let mut eat = |p: &Path| -> Result<()> {
        h.eat(p.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        h.eat(&std::fs::read(p).map_err(|e| Error::io(p, e))?);
        Ok(())
    };
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        for f in files {
            eat(&f)?;
        }
    } else {
        eat(path)?;
    }
    Ok(h.hex())
}

/// Expand a study file into its tasks (datasets × data seeds × models × seeds, in that order).
pub fn expand(study: &StudyFile, base: &Path) -> Result<Vec<Task>> {
    if study.datasets.is_empty() || study.models.is_empty() || study.seeds.is_empty() {
        return Err(Error::usage("a study needs at least one dataset, one model and one seed"));
    }
    for m in &study.models {
        if crate::models::ModelKind::parse(&m.kind).is_none() {
            return Err(Error::usage(format!("model '{}': unknown kind '{}'", m.name, m.kind)));
        }
        if m.anchor_means.is_some() && m.anchors.as_deref() != Some("true") {
            return Err(Error::usage(format!("model '{}': anchor_means applies to anchors \"true\"", m.name)));
        }
        if m.options.iter().any(|o| o == "--seed" || o.starts_with("--seed=")) {
            return Err(Error::usage(format!("model '{}': --seed is set by the study's seeds", m.name)));
        }
        crate::fit::FitOptions::from_args(&m.options).map_err(|e| Error::usage(format!("model '{}': {e}", m.name)))?;
    }
    let mut tasks = Vec::new();
    for d in &study.datasets {
        if let Some(t) = d.transform.as_deref().filter(|t| *t != "reverse-columns") {
            return Err(Error::usage(format!("dataset '{}': unknown transform '{t}' (reverse-columns)", d.name)));
        }
        if let Some(unknown) = d.models.iter().flatten().find(|n| !study.models.iter().any(|m| &m.name == *n)) {
            return Err(Error::usage(format!("dataset '{}': no model named '{unknown}'", d.name)));
        }
        let sources: Vec<DataSource> = match (&d.simulate, &d.path) {
            (Some(sim), None) => d
                .data_seeds
                .clone()
                .unwrap_or_else(|| vec![0])
                .into_iter()
                .map(|s| {
                    let mut recipe = d.recipe.clone();
                    recipe.insert("seed".into(), s.into());
                    DataSource::Simulated { simulate: sim.clone(), recipe: serde_json::Value::Object(recipe) }
                })
                .collect(),
            (None, Some(p)) => {
                let path = if p.is_absolute() { p.clone() } else { base.join(p) };
                vec![DataSource::File { content: file_hash(&path)?, path }]
            }
            _ => return Err(Error::usage(format!("dataset '{}': give exactly one of \"simulate\" (with a recipe) or \"path\"", d.name))),
        };
        for data in sources {
            for m in study.models.iter().filter(|m| d.models.as_ref().is_none_or(|names| names.contains(&m.name))) {
                for &seed in &study.seeds {
                    tasks.push(Task {
                        dataset: d.name.clone(),
                        setting: d.setting.clone(),
                        transform: d.transform.clone(),
                        misspecified: d.misspecified,
                        data: data.clone(),
                        model: m.clone(),
                        seed,
                        restarts: m.restarts.or(study.restarts),
                        strongid_version: env!("CARGO_PKG_VERSION").into(),
                    });
                }
            }
        }
    }
    Ok(tasks)
}

/// `strongid study plan`: read the study file, expand it and write study.json and manifest.json
/// into `dir` (created). Planning again with the same file gives the same manifest; with another
/// file, tasks already done that it still contains keep their results.
pub fn plan(file: &Path, dir: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    let study: StudyFile = serde_json::from_str(&text).map_err(|e| Error::input(file, format!("not a study file: {e}")))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let tasks = expand(&study, base)?;
    let mut seen = std::collections::HashSet::new();
    let mut entries = Vec::new();
    for task in tasks {
        let id = task.id();
        if !seen.insert(id.clone()) {
            return Err(Error::input(file, format!("two tasks are identical (dataset '{}', model '{}', seed {}): remove the repeated entry", task.dataset, task.model.name, task.seed)));
        }
        entries.push(ManifestEntry { index: entries.len(), id, task });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let manifest = Manifest { name: study.name.clone(), tasks: entries };
    let study_json = serde_json::to_string_pretty(&study).expect("study serializes");
    crate::io::atomic_write(&dir.join("study.json"), |w| w.write_all(study_json.as_bytes()))?;
    let json = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
    crate::io::atomic_write(&dir.join("manifest.json"), |w| w.write_all(json.as_bytes()))?;
    Ok(manifest)
}

pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| Error::input(&path, format!("not a study manifest: {e}")))?;
    for e in &m.tasks {
        if e.task.id() != e.id {
            return Err(Error::input(&path, format!("task {} does not hash to its id (edited by hand?): plan the study again", e.index)));
        }
    }
    Ok(m)
}
