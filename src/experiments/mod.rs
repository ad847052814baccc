//! The experiment suite: every theorem confirmed with numbers and plots. Each experiment fits
//! model kinds on seeded simulated data with several seeds (through the study engine, from the
//! shipped study files), measures the code against the true
//! latent at every alignment level (mean ± sd over seeds), classifies the disagreement between
//! the seeds' codes (the probe) and compares it with the theory's prediction.
mod report;
mod suite;

pub use report::write as write_report;
pub use suite::run;

use crate::matrix::Matrix;
use crate::metrics::Scores;
use crate::probe::Class;
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
