//! Data simulators. Each writes the observations, the true latents and a `meta.json` holding
//! the recipe and every parameter, so a dataset is reproducible and its ground truth is known.
pub mod gaussian;
pub mod ivae;
pub mod linear_env;
pub mod tmi;

use crate::matrix::Matrix;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// A simulated dataset and, for recipes with environments, the true per-environment priors.
pub type Simulated = (crate::io::Dataset, Option<Vec<crate::priors::EnvPrior>>);

/// The simulator `which` (tmi, gaussian, ivae, linear-env) on a JSON recipe: {dim, n, seed};
/// {envs, latent_dim, obs_dim, per_env, seed} (+ noise); or an `ivae::IvaeRecipe` (its noise
/// replaced by `noise`, which travels apart because JSON has no NaN and a NaN must be refused
/// here). Missing seeds are 0, a missing noise the CLI's default. What the Python binding and
/// studies simulate with.
pub fn from_recipe(which: &str, recipe: &serde_json::Value, noise: Option<f64>) -> crate::Result<Simulated> {
    let bad = |msg: String| crate::Error::usage(format!("{which} recipe: {msg}"));
    let get = |k: &str| recipe.get(k).and_then(|v| v.as_u64()).map(|v| v as usize).ok_or_else(|| bad(format!("needs a non-negative integer '{k}'")));
    let seed = recipe.get("seed").and_then(|v| v.as_u64()).unwrap_or(0);
    match which {
        "tmi" => match recipe.get("sources").and_then(|v| v.as_str()) {
            None | Some("gaussian") => Ok((tmi::simulate(get("dim")?, get("n")?, seed)?.0, None)),
            Some("mixed") => Ok((tmi::simulate_mixed_sources(get("dim")?, get("n")?, seed)?, None)),
            Some(other) => Err(bad(format!("sources '{other}' (gaussian or mixed)"))),
        },
        "gaussian" => Ok((gaussian::simulate(get("dim")?, get("n")?, seed)?.dataset, None)),
        "linear-env" => {
            let noise = noise.or_else(|| recipe.get("noise").and_then(|v| v.as_f64())).unwrap_or(0.1);
            let per_env = recipe.get("per_env").map_or(Ok(2000), |_| get("per_env"))?;
            let (latent, obs) = (recipe.get("latent_dim").map_or(Ok(2), |_| get("latent_dim"))?, recipe.get("obs_dim").map_or(Ok(10), |_| get("obs_dim"))?);
            let s = linear_env::simulate(get("envs")?, latent, obs, per_env, noise, seed)?;
            Ok((s.dataset, Some(s.priors)))
        }
        "ivae" => {
            let mut r: ivae::IvaeRecipe = serde_json::from_value(recipe.clone()).map_err(|e| bad(e.to_string()))?;
            if let Some(n) = noise {
                r.noise = n;
            }
            let s = ivae::simulate(&r)?;
            Ok((s.dataset, (r.u_dim == 0).then_some(s.priors)))
        }
        other => Err(crate::Error::usage(format!("unknown simulator '{other}' (tmi, gaussian, ivae, linear-env)"))),
    }
}

/// n × d standard normal draws.
pub fn standard_normal(n: usize, d: usize, rng: &mut impl Rng) -> Matrix {
    Matrix::from_fn(n, d, |_, _| StandardNormal.sample(rng))
}

/// A random lower-triangular matrix with diagonal U(lo, hi) and off-diagonal U(−off, off).
pub fn random_lower_triangular(d: usize, diag: (f64, f64), off: f64, rng: &mut impl Rng) -> Matrix {
    Matrix::from_fn(d, d, |i, j| match i.cmp(&j) {
        std::cmp::Ordering::Equal => rng.random_range(diag.0..diag.1),
        std::cmp::Ordering::Greater => rng.random_range(-off..off),
        std::cmp::Ordering::Less => 0.0,
    })
}

/// Row-wise x ↦ A x + b for an n × d matrix.
pub fn affine_rows(x: &Matrix, a: &Matrix, b: &[f64]) -> Matrix {
    Matrix::from_fn(x.rows, a.rows, |i, r| b[r] + (0..a.cols).map(|c| a.get(r, c) * x.get(i, c)).sum::<f64>())
}

/// `options` names the options that set n and dim, for the message.
fn check_sizes(dim: usize, n: usize, options: &str) -> crate::Result<()> {
    if dim == 0 || n == 0 {
        return Err(crate::Error::usage("--dim and --n must be positive"));
    }
    crate::error::check_values(&format!("{options}: {n} rows × {dim} columns"), n as u128 * dim as u128)?;
    // The generators hold dim × dim matrices.
    crate::error::check_values(&format!("{options}: a {dim} × {dim} matrix"), dim as u128 * dim as u128)
}

/// rows × per-group, refused rather than wrapped around when it overflows.
fn total_rows(groups: usize, per_group: usize, what: &str) -> crate::Result<usize> {
    groups.checked_mul(per_group).ok_or_else(|| crate::Error::usage(format!("{what}: {groups} × {per_group} rows overflows")))
}
