//! The experiment suite: every theorem confirmed with numbers and plots. Each experiment fits
//! model kinds on seeded simulated data with several seeds, measures the code against the true
//! latent at every alignment level (mean ± sd over seeds), classifies the disagreement between
//! the seeds' codes (the probe) and compares it with the theory's prediction.
mod report;
mod suite;

pub use report::write as write_report;
pub use suite::run;

use crate::error::Result;
use crate::fit::FitOptions;
use crate::io::Dataset;
use crate::matrix::Matrix;
use crate::metrics::{self, Scores};
use crate::models::{Model, ModelKind};
use crate::probe::{self, Class};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Quick,
    Full,
}

/// One run of the suite: its settings, the output directory, and whether rows computed by an
/// earlier run into it are reused (`--resume`).
pub struct Ctx<'a> {
    pub mode: Mode,
    pub dir: &'a Path,
    pub resume: bool,
}

/// mean ± sd over seeds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    pub sd: f64,
}

impl Stat {
    pub fn of(v: &[f64]) -> Stat {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let sd = if v.len() > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
        Stat { mean, sd }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    pub setting: String,
    pub model: String,
    pub seeds: Vec<u64>,
    /// Restarts per seed (the best by validation loss is kept).
    pub best_of: u64,
    pub strong_mcc: Stat,
    pub mcc: Stat,
    pub mcc_spearman: Stat,
    pub affine_r2: Stat,
    pub identity_rmse: Stat,
    /// Smallest class relating the first seed's code to the true latent.
    pub vs_truth: Class,
    /// Smallest class explaining the disagreement between the seeds' codes (the probe).
    pub probe: Class,
    /// The theory's largest class for this model kind.
    pub predicted: Class,
    pub consistent: bool,
    /// The model is deliberately wrong (E6): the theory's prediction does not apply.
    pub misspecified: bool,
    pub fit_seconds: Stat,
    pub per_seed: Vec<Scores>,
    /// Validation loss per epoch of the first seed (training curve).
    #[serde(skip)]
    pub curve: Vec<f64>,
    #[serde(skip, default = "empty")]
    pub first_code: Matrix,
}

fn empty() -> Matrix {
    Matrix::new(0, 0, Vec::new())
}

/// A finished row as `--resume` reads it back: the row with its curve and first code.
#[derive(Serialize, Deserialize)]
struct CachedRow {
    row: Row,
    curve: Vec<f64>,
    first_code: Matrix,
}

#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub caption: String,
    #[serde(skip)]
    pub svg: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Experiment {
    pub id: String,
    pub title: String,
    /// What the theory says should happen.
    pub claim: String,
    pub rows: Vec<Row>,
    /// Free-form result tables (E5).
    pub tables: Vec<(String, Vec<String>, Vec<Vec<String>>)>,
    pub notes: Vec<String>,
    pub figures: Vec<Figure>,
    pub seconds: f64,
}

/// `fit_row`, or with `c.resume` the row an earlier run computed for exactly these settings, data
/// and strongid version (`DIR/rows/HASH.json`, written atomically once a row is done, so a run
/// killed midway loses at most the row in progress).
#[allow(clippy::too_many_arguments)]
pub fn evaluate_kind(c: &Ctx, setting: &str, label: &str, kind: ModelKind, opts: &FitOptions, ds: &Dataset, u_path: &Path, seeds: &[u64], best_of: u64) -> Result<Row> {
    let key = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"), "setting": setting, "label": label, "kind": kind.name(),
        "options": opts, "u": u_path, "seeds": seeds, "best_of": best_of,
    });
    let mut h = crate::io::Fnv1a::new();
    h.eat(key.to_string().as_bytes());
    for m in [Some(&ds.x), ds.z.as_ref()].into_iter().flatten() {
        h.eat_matrix(m);
    }
    if let Some(u) = &ds.u {
        h.eat_aux(u);
    }
    let rows = c.dir.join("rows");
    let path = rows.join(format!("{}.json", h.hex()));
    if c.resume {
        // An unreadable file (a NaN stored as null, a foreign edit) is recomputed, not trusted.
        if let Some(cached) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<CachedRow>(&b).ok()) {
            eprintln!("  {setting} / {label}: kept from an earlier run ({})", path.display());
            return Ok(Row { curve: cached.curve, first_code: cached.first_code, ..cached.row });
        }
    }
    let row = fit_row(setting, label, kind, opts, ds, u_path, seeds, best_of)?;
    std::fs::create_dir_all(&rows).map_err(|e| crate::error::Error::io(&rows, e))?;
    let cached = CachedRow { row: row.clone(), curve: row.curve.clone(), first_code: row.first_code.clone() };
    let json = serde_json::to_vec(&cached).expect("row serializes");
    crate::io::atomic_write(&path, |w| w.write_all(&json))?;
    Ok(row)
}

/// Fit `kind` with each seed on `ds` and summarise against the true latent `z`. Each reported
/// seed s keeps the best (by validation loss) of `best_of` restarts with seeds 100 s + r, as
/// `fit --restarts` does: the iVAE family's ELBO has poor local optima that the validation loss
/// exposes, and the theory is about the optimum.
#[allow(clippy::too_many_arguments)]
fn fit_row(setting: &str, label: &str, kind: ModelKind, opts: &FitOptions, ds: &Dataset, u_path: &Path, seeds: &[u64], best_of: u64) -> Result<Row> {
    let u = ds.u.as_ref();
    let best_of = best_of.max(1);
    let all_seeds: Vec<u64> = seeds.iter().flat_map(|s| (0..best_of).map(move |r| s * 100 + r)).collect();
    let all: Vec<Model> = probe::fit_parallel(kind, opts, ds, u, u_path, &all_seeds)?;
    let models: Vec<Model> = all
        .chunks(best_of as usize)
        .map(|group| group.iter().min_by(|a, b| a.report.best_val_loss.total_cmp(&b.report.best_val_loss)).expect("non-empty group").clone())
        .collect();
    let z = ds.z.as_ref().expect("simulated data has latents");
    let codes: Vec<Matrix> = models.iter().map(|m| m.encode(&ds.x, u, u_path, None)).collect::<Result<_>>()?;
    let per_seed: Vec<Scores> = codes.iter().map(|c| metrics::evaluate(z, c)).collect::<Result<_>>()?;
    let mut pairs = Vec::new();
    for a in 0..codes.len() {
        for b in a + 1..codes.len() {
            pairs.push(probe::agreement(a, b, &codes[a], &codes[b], 0)?);
        }
    }
    let probe_class = probe::classify(&pairs, 0.95);
    let vs_truth = probe::classify(&[probe::agreement(0, 1, z, &codes[0], 0)?], 0.95);
    let (predicted, _) = probe::prediction(&models[0]);
    let stat = |f: fn(&Scores) -> f64| Stat::of(&per_seed.iter().map(f).collect::<Vec<_>>());
    Ok(Row {
        setting: setting.into(),
        model: label.into(),
        seeds: seeds.to_vec(),
        best_of,
        strong_mcc: stat(|s| s.strong_mcc),
        mcc: stat(|s| s.mcc),
        mcc_spearman: stat(|s| s.mcc_spearman),
        affine_r2: stat(|s| s.affine_r2),
        identity_rmse: stat(|s| s.identity_rmse),
        vs_truth,
        probe: probe_class,
        predicted,
        consistent: probe_class <= predicted,
        misspecified: false,
        fit_seconds: Stat::of(&models.iter().map(|m| m.report.seconds).collect::<Vec<_>>()),
        per_seed,
        curve: models[0].report.val_loss.clone(),
        first_code: codes[0].clone(),
    })
}
