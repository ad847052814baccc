//! `simulate linear-env` (App. F.1): x = α + F z + ε, z^(e) ~ N(μ_e, I) in environment e.
//! With 3 environments of affinely independent means the frozen-anchor iVAE is strongly
//! identifiable (d = 2 needs d + 1 = 3); with 2 a reflection fixing μ_2 − μ_1 survives.
use super::{affine_rows, check_sizes, standard_normal};
use crate::error::{Error, Result};
use crate::io::Dataset;
use crate::matrix::Matrix;
use crate::priors::EnvPrior;
use crate::train::stream;
use rand::Rng;

pub struct LinearEnvData {
    pub dataset: Dataset,
    pub priors: Vec<EnvPrior>,
    pub loading: Matrix,
}

pub fn simulate(envs: usize, latent_dim: usize, obs_dim: usize, per_env: usize, noise: f64, seed: u64) -> Result<LinearEnvData> {
    check_sizes(latent_dim.max(obs_dim), super::total_rows(envs, per_env, "--envs × --per-env")?, "--envs × --per-env × --obs-dim")?;
    if obs_dim < latent_dim {
        return Err(Error::usage("need --obs-dim ≥ --latent-dim"));
    }
    if !(noise >= 0.0 && noise.is_finite()) {
        return Err(Error::usage(format!("--noise must be a finite standard deviation ≥ 0, got {noise}")));
    }
    let mut prng = stream(seed, 50);
    let priors: Vec<EnvPrior> = (0..envs)
        .map(|e| EnvPrior { env: e as i64, mean: (0..latent_dim).map(|_| prng.random_range(-3.0..3.0)).collect(), var: vec![1.0; latent_dim] })
        .collect();
    let loading = standard_normal(obs_dim, latent_dim, &mut stream(seed, 51));
    let alpha: Vec<f64> = standard_normal(1, obs_dim, &mut stream(seed, 52)).data;
    let mut z = standard_normal(envs * per_env, latent_dim, &mut stream(seed, 53));
    let mut u = Vec::with_capacity(z.rows);
    for i in 0..z.rows {
        let e = i / per_env;
        for j in 0..latent_dim {
            z.set(i, j, z.get(i, j) + priors[e].mean[j]);
        }
        u.push(e as i64);
    }
    let mut x = affine_rows(&z, &loading, &alpha);
    let eps = standard_normal(x.rows, obs_dim, &mut stream(seed, 54));
    for (v, e) in x.data.iter_mut().zip(&eps.data) {
        *v += noise * e;
    }
    let meta = serde_json::json!({
        "recipe": "linear-env",
        "description": "App. F.1: x = alpha + F z + noise * eps, z ~ N(mu_e, I) in environment e; priors.json holds the true mu_e and unit variances",
        "envs": envs, "latent_dim": latent_dim, "obs_dim": obs_dim, "per_env": per_env, "noise": noise, "seed": seed,
        "alpha": alpha,
        "F": (0..loading.rows).map(|i| loading.row(i).to_vec()).collect::<Vec<_>>(),
        "priors": priors,
    });
    Ok(LinearEnvData { dataset: Dataset { x, z: Some(z), u: Some(crate::io::Aux::Labels(u)), meta: Some(meta) }, priors, loading })
}
