//! Collecting a study's results into the experiment suite's tables (results.json, results.md,
//! report.html), one table per dataset, one row per (dataset, data seed, model) over the fit
//! seeds; and the Slurm array script that runs every task.
use super::read_manifest;
use super::run::TaskResult;
use crate::error::{Error, Result};
use crate::experiments::{Experiment, Row, Stat};
use crate::matrix::Matrix;
use crate::probe::{self, Class};
use std::path::Path;

/// `strongid study collect DIR --out OUT`: the finished tasks' rows (a row needs every seed of its
/// group; unfinished groups are listed as a note). Returns (rows written, tasks missing).
pub fn collect(dir: &Path, out: &Path) -> Result<(usize, usize)> {
    let (experiments, rows_written, missing) = collect_experiments(dir)?;
    let m = read_manifest(dir)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    crate::experiments::write_report(&experiments, &format!("study {}", m.name), None, out)?;
    Ok((rows_written, missing))
}

/// The finished tasks' rows as the suite's experiments (not written), with the rows written and
/// the tasks missing.
pub fn collect_experiments(dir: &Path) -> Result<(Vec<Experiment>, usize, usize)> {
    let m = read_manifest(dir)?;
    // A titled study (the experiment suite's files) is one table.
    let study_path = dir.join("study.json");
    let study: Option<super::StudyFile> = std::fs::read_to_string(&study_path).ok().map(|t| serde_json::from_str(&t)).transpose().map_err(|e| Error::input(&study_path, format!("not a study file: {e}")))?;
    let titled = study.as_ref().and_then(|s| s.title.clone().map(|t| (t, s.claim.clone().unwrap_or_default())));
    // Groups in manifest order: (dataset name, setting, model name) → tasks.
    let mut groups: Vec<((String, String, String), Vec<&super::ManifestEntry>)> = Vec::new();
    for e in &m.tasks {
        let key = (e.task.dataset.clone(), e.task.setting(), e.task.model.name.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(e),
            None => groups.push((key, vec![e])),
        }
    }
    let mut experiments: Vec<Experiment> = Vec::new();
    let (mut rows_written, mut missing) = (0, 0);
    for ((dataset, setting, model), entries) in groups {
        let (id, title, claim) = match &titled {
            Some((title, claim)) => (m.name.clone(), title.clone(), claim.clone()),
            None => (dataset.clone(), format!("study {}", m.name), String::new()),
        };
        let exp = match experiments.iter().position(|e| e.id == id) {
            Some(i) => i,
            None => {
                experiments.push(Experiment { id, title, claim, rows: Vec::new(), tables: Vec::new(), notes: Vec::new(), figures: Vec::new(), seconds: 0.0 });
                experiments.len() - 1
            }
        };
        let mut results = Vec::new();
        for e in &entries {
            let path = dir.join("results").join(format!("{}.json", e.id));
            match std::fs::read_to_string(&path) {
                Ok(text) => results.push(serde_json::from_str::<TaskResult>(&text).map_err(|err| Error::input(&path, format!("not a task result: {err}")))?),
                Err(_) => missing += 1,
            }
        }
        if results.len() < entries.len() {
            experiments[exp].notes.push(format!("{setting} / {model}: {} of {} tasks done; row left out", results.len(), entries.len()));
            continue;
        }
        let codes: Vec<Matrix> = results.iter().map(|r| crate::io::read_matrix(&dir.join("codes").join(format!("{}.npy", r.id)))).collect::<Result<_>>()?;
        experiments[exp].rows.push(row(&setting, &model, &results, &codes)?);
        rows_written += 1;
    }
    Ok((experiments, rows_written, missing))
}

fn row(setting: &str, model: &str, results: &[TaskResult], codes: &[Matrix]) -> Result<Row> {
    let mut pairs = Vec::new();
    for a in 0..codes.len() {
        for b in a + 1..codes.len() {
            pairs.push(probe::agreement(a, b, &codes[a], &codes[b], 0)?);
        }
    }
    let probe_class = if pairs.is_empty() { Class::StronglyIdentifiable } else { probe::classify(&pairs, 0.95) };
    let per_seed: Vec<crate::metrics::Scores> = results.iter().filter_map(|r| r.scores.clone()).collect();
    let stat = |f: fn(&crate::metrics::Scores) -> f64| Stat::of(&per_seed.iter().map(f).collect::<Vec<_>>());
    let predicted = results[0].predicted;
    let restarts = results[0].task.restarts.unwrap_or_else(|| crate::models::ModelKind::parse(&results[0].task.model.kind).map_or(1, crate::certificate::default_restarts));
    Ok(Row {
        setting: setting.into(),
        model: model.into(),
        seeds: results.iter().map(|r| r.task.seed).collect(),
        best_of: restarts as u64,
        strong_mcc: stat(|s| s.strong_mcc),
        mcc: stat(|s| s.mcc),
        mcc_spearman: stat(|s| s.mcc_spearman),
        affine_r2: stat(|s| s.affine_r2),
        identity_rmse: stat(|s| s.identity_rmse),
        vs_truth: results[0].vs_truth.unwrap_or(Class::NotIdentifiable),
        probe: probe_class,
        predicted,
        consistent: probe_class <= predicted,
        misspecified: results[0].task.misspecified,
        // Results are exact (the same bytes on any scheduler): timings are not part of them.
        fit_seconds: Stat::of(&[0.0]),
        per_seed,
        curve: results[0].curve.clone(),
        first_code: codes[0].clone(),
    })
}

/// A Slurm array script running every task of the study in `dir` once (`--array=0-(N−1)%P`),
/// `cpus` cores each; logs under `dir/logs`. The binary is `$STRONGID` (default: strongid on PATH).
pub fn slurm_script(dir: &Path, parallel: usize, cpus: usize) -> Result<String> {
    let m = read_manifest(dir)?;
    if m.tasks.is_empty() || parallel == 0 || cpus == 0 {
        return Err(Error::usage("a Slurm array needs at least one task, --parallel ≥ 1 and --cpus ≥ 1"));
    }
    let abs = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
    let text = abs.display().to_string();
    // #SBATCH lines are not parsed by a shell: the log path must be plain.
    if text.chars().any(|c| c.is_whitespace() || "'\"$`\\%".contains(c)) {
        return Err(Error::input(dir, "a Slurm script cannot name this path in #SBATCH --output (spaces, quotes, $, %): move the study to a plain path"));
    }
    let logs = abs.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let q = shell_quote(&text);
    let name: String = m.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    Ok(format!(
        "#!/usr/bin/env bash\n\
         # strongid study '{name}': {n} tasks, one per array index (written by `strongid study slurm`).\n\
         #SBATCH --job-name=strongid-{name}\n\
         #SBATCH --array=0-{last}%{parallel}\n\
         #SBATCH --cpus-per-task={cpus}\n\
         #SBATCH --output={logs}/%A_%a.out\n\
         set -euo pipefail\n\
         STRONGID=\"${{STRONGID:-strongid}}\"\n\
         export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{cpus}}}\"\n\
         exec \"$STRONGID\" study run {q} --index \"$SLURM_ARRAY_TASK_ID\" --quiet\n",
        n = m.tasks.len(),
        last = m.tasks.len() - 1,
        logs = logs.display(),
    ))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
