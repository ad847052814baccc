//! `simulate ivae`: the official iVAE data recipe (Khemakhem et al. 2020, ilkhem/iVAE
//! `data/data.py`; THEORY §4). M segments × L points; in segment m, z_j = μ_mj + s_mj ε, ε standard
//! normal or Laplace(0, 1/√2) (unit variance), s_mj ~ U(0.5, 3), μ_mj ~ U(−5, 5) when
//! mean-modulated (0 otherwise). Mixing: K layers x ← A act(x) (no activation before the first,
//! the last layer linear), activation with the official slope 0.1 (`xtanh` = tanh x + 0.1 x, leaky
//! ReLU 0.1). A has entries U(−1, 1) and unit-norm rows (x = A z; the official X = S A with
//! unit-norm columns) and is resampled until its condition number is below the 25th percentile of
//! 10⁴ random draws of that shape. `Mixing::Shared` (the default) is what the official dataset
//! class generates (`repeat_linearity=True`): ONE matrix in every layer (a second, square one for
//! the later layers when obs-dim ≠ latent-dim); `Mixing::Fresh` draws a new matrix per layer.
use super::check_sizes;
use crate::error::{Error, Result};
use crate::io::Dataset;
use crate::matrix::Matrix;
use crate::nn::Activation;
use crate::priors::EnvPrior;
use crate::train::stream;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SourcePrior {
    Gauss,
    Laplace,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Modulation {
    /// Per-segment scales only, means 0 (the official default).
    Variance,
    /// Per-segment means and scales.
    MeanVariance,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mixing {
    /// One matrix reused in every layer, as the official dataset class does.
    Shared,
    /// A fresh matrix per layer (the official function's default, not what its experiments use).
    Fresh,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IvaeRecipe {
    pub latent_dim: usize,
    pub obs_dim: usize,
    pub segments: usize,
    pub per_segment: usize,
    pub mixing_layers: usize,
    pub prior: SourcePrior,
    pub modulation: Modulation,
    pub activation: Activation,
    pub mixing: Mixing,
    pub noise: f64,
    pub seed: u64,
    /// 0: segment labels (the official recipe). K > 0: a real-valued u ~ U(−1, 1)^K per row,
    /// and the prior's scales (and means, if mean-modulated) smooth functions of u
    /// (`continuous_prior`); `segments × per_segment` is then just the number of rows.
    #[serde(default)]
    pub u_dim: usize,
}

/// The continuous-u prior of coordinate j: log s_j(u) = ln 1.5 + 0.8 sin(ω_j·u + φ_j) (scales in
/// 0.67–3.3, the official range U(0.5, 3) roughly) and μ_j(u) = 4 sin(ν_j·u + ψ_j) when
/// mean-modulated; ω, ν ~ U(1, 3)^K, φ, ψ ~ U(0, 2π).
#[derive(Clone, Debug, Serialize)]
struct ContinuousPrior {
    omega: Vec<Vec<f64>>,
    phi: Vec<f64>,
    nu: Vec<Vec<f64>>,
    psi: Vec<f64>,
    mean_modulated: bool,
}

impl ContinuousPrior {
    fn draw(d: usize, k: usize, mean_modulated: bool, rng: &mut impl Rng) -> ContinuousPrior {
        let tau = 2.0 * std::f64::consts::PI;
        let mut vecs = |lo: f64, hi: f64| -> Vec<Vec<f64>> { (0..d).map(|_| (0..k).map(|_| rng.random_range(lo..hi)).collect()).collect() };
        let (omega, nu) = (vecs(1.0, 3.0), vecs(1.0, 3.0));
        let phi = (0..d).map(|_| rng.random_range(0.0..tau)).collect();
        let psi = (0..d).map(|_| rng.random_range(0.0..tau)).collect();
        ContinuousPrior { omega, phi, nu, psi, mean_modulated }
    }
    /// (mean, sd) of coordinate j at u.
    fn at(&self, j: usize, u: &[f64]) -> (f64, f64) {
        let dot = |w: &[f64]| w.iter().zip(u).map(|(a, b)| a * b).sum::<f64>();
        let sd = (1.5f64.ln() + 0.8 * (dot(&self.omega[j]) + self.phi[j]).sin()).exp();
        let mean = if self.mean_modulated { 4.0 * (dot(&self.nu[j]) + self.psi[j]).sin() } else { 0.0 };
        (mean, sd)
    }
}

/// The official generator's activations, slope 0.1 (its `generate_data` default).
fn mixing_activation(act: Activation, x: f64) -> f64 {
    match act {
        Activation::Lrelu => if x >= 0.0 { x } else { 0.1 * x },
        Activation::Xtanh => x.tanh() + 0.1 * x,
        Activation::Tanh => x.tanh(),
    }
}

/// Random matrix for x = M z with U(−1, 1) entries and unit-norm rows: each output is a
/// unit-norm combination of the inputs. (The official code writes X = S A and normalises the
/// columns of A, which are our rows.)
fn unit_column_matrix(rows: usize, cols: usize, rng: &mut impl Rng) -> Matrix {
    let mut m = Matrix::from_fn(rows, cols, |_, _| rng.random_range(-1.0..1.0));
    for i in 0..rows {
        let norm = m.row(i).iter().map(|v| v * v).sum::<f64>().sqrt();
        for j in 0..cols {
            m.set(i, j, m.get(i, j) / norm);
        }
    }
    m
}

fn condition_number(m: &Matrix) -> f64 {
    let sv = m.to_nalgebra().singular_values();
    sv.max() / sv.min()
}

/// A well-conditioned mixing matrix: below the 25th percentile of 10⁴ draws' condition numbers.
pub fn well_conditioned_matrix(rows: usize, cols: usize, rng: &mut impl Rng) -> (Matrix, f64) {
    let mut conds: Vec<f64> = (0..10_000).map(|_| condition_number(&unit_column_matrix(rows, cols, rng))).collect();
    conds.sort_by(f64::total_cmp);
    let threshold = conds[conds.len() / 4];
    loop {
        let m = unit_column_matrix(rows, cols, rng);
        if condition_number(&m) < threshold {
            return (m, threshold);
        }
    }
}

pub struct IvaeData {
    pub dataset: Dataset,
    pub priors: Vec<EnvPrior>,
}

pub fn simulate(r: &IvaeRecipe) -> Result<IvaeData> {
    check_sizes(r.latent_dim.max(r.obs_dim), super::total_rows(r.segments, r.per_segment, "--segments × --per-segment")?, "--segments × --per-segment × --obs-dim")?;
    if r.obs_dim < r.latent_dim || r.mixing_layers == 0 {
        return Err(Error::usage("need --obs-dim ≥ --latent-dim and at least one mixing layer (an injective mixing)"));
    }
    let d = r.latent_dim;
    let mut prng = stream(r.seed, 40);
    let mut priors = Vec::with_capacity(r.segments);
    for m in 0..r.segments {
        let scale: Vec<f64> = (0..d).map(|_| prng.random_range(0.5..3.0)).collect();
        let mean: Vec<f64> = (0..d).map(|_| if r.modulation == Modulation::MeanVariance { prng.random_range(-5.0..5.0) } else { 0.0 }).collect();
        priors.push(EnvPrior { env: m as i64, mean, var: scale.iter().map(|s| s * s).collect() });
    }
    let mut zrng = stream(r.seed, 41);
    let n = r.segments * r.per_segment;
    let mut z = Matrix::zeros(n, d);
    let mut u = Vec::with_capacity(n);
    let noise = |rng: &mut rand_chacha::ChaCha8Rng| -> f64 {
        match r.prior {
            SourcePrior::Gauss => StandardNormal.sample(rng),
            SourcePrior::Laplace => {
                // Inverse CDF of Laplace(0, b = 1/√2): unit variance.
                let q: f64 = rng.random_range(-0.5..0.5);
                -q.signum() * (1.0 - 2.0 * q.abs()).ln() / std::f64::consts::SQRT_2
            }
        }
    };
    let mut continuous = None;
    if r.u_dim == 0 {
        for (m, p) in priors.iter().enumerate() {
            for i in 0..r.per_segment {
                let row = m * r.per_segment + i;
                for j in 0..d {
                    let eps = noise(&mut zrng);
                    z.set(row, j, p.mean[j] + p.var[j].sqrt() * eps);
                }
                u.push(m as i64);
            }
        }
    } else {
        let prior = ContinuousPrior::draw(d, r.u_dim, r.modulation == Modulation::MeanVariance, &mut stream(r.seed, 44));
        let mut urng = stream(r.seed, 45);
        let uc = Matrix::from_fn(n, r.u_dim, |_, _| urng.random_range(-1.0..1.0));
        for row in 0..n {
            for j in 0..d {
                let (mean, sd) = prior.at(j, uc.row(row));
                let eps = noise(&mut zrng);
                z.set(row, j, mean + sd * eps);
            }
        }
        continuous = Some((uc, prior));
    }
    let mut mrng = stream(r.seed, 42);
    let mut layers: Vec<(Matrix, f64)> = Vec::new();
    let mut x = z.clone();
    for l in 0..r.mixing_layers {
        let (a, threshold) = match (r.mixing, layers.last()) {
            // Shared: the first matrix again, or (obs-dim ≠ latent-dim) one square matrix drawn
            // once for every later layer, as the official code does.
            (Mixing::Shared, Some(prev)) if l >= 2 || x.cols == prev.0.cols => prev.clone(),
            _ => well_conditioned_matrix(r.obs_dim, x.cols, &mut mrng),
        };
        let input = if l == 0 { x.clone() } else { Matrix::new(x.rows, x.cols, x.data.iter().map(|v| mixing_activation(r.activation, *v)).collect()) };
        x = super::affine_rows(&input, &a, &vec![0.0; r.obs_dim]);
        layers.push((a, threshold));
    }
    let layers: Vec<serde_json::Value> =
        layers.iter().map(|(a, t)| serde_json::json!({ "matrix": (0..a.rows).map(|i| a.row(i).to_vec()).collect::<Vec<_>>(), "condition_threshold": t })).collect();
    if !(r.noise >= 0.0 && r.noise.is_finite()) {
        return Err(Error::usage(format!("--noise must be a finite standard deviation ≥ 0, got {}", r.noise)));
    }
    if r.noise > 0.0 {
        let mut nrng = stream(r.seed, 43);
        for v in x.data.iter_mut() {
            let e: f64 = StandardNormal.sample(&mut nrng);
            *v += r.noise * e;
        }
    }
    let (u, priors, continuous_prior) = match continuous {
        Some((uc, prior)) => (crate::io::Aux::Continuous(uc), Vec::new(), Some(prior)),
        None => (crate::io::Aux::Labels(u), priors, None),
    };
    let meta = serde_json::json!({
        "recipe": "ivae",
        "description": "official iVAE recipe: per-segment scales U(0.5,3) (means U(-5,5) if mean-modulated), MLP mixing with unit-norm columns and condition-number rejection (one matrix shared by every layer unless mixing = fresh), activation slope 0.1; priors.json holds the true per-segment means and variances",
        "parameters": r,
        "mixing": layers,
        "priors": priors,
        "continuous_prior": continuous_prior,
    });
    Ok(IvaeData { dataset: Dataset { x, z: Some(z), u: Some(u), meta: Some(meta) }, priors })
}
