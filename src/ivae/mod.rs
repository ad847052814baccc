//! The iVAE family (Khemakhem et al. 2020; THEORY §2): encoder q(z | x, u) = N(m, diag v) from an
//! MLP on (x, one-hot u), decoder x ≈ f(z) with fixed observation variance, and a prior
//!   - `vae`:         N(0, I), u ignored (weakly identifiable: any N(0, I)-preserving map);
//!   - `ivae`:        N(m(u), diag v(u)) learned per environment (or N(0, diag v(u)),
//!                    variance-only, as in the official code): identifiable up to affine maps of
//!                    T(z) (Prop. 4.3), sign flips always survive variance-only priors;
//!   - `ivae-frozen`: the priors of anchor environments frozen at given natural parameters
//!                    (Thm 4.5): strongly identifiable when the anchor contrasts span K.
//! Trained by maximising the ELBO E_q[log p(x | z)] − KL(q(z | x, u) ‖ p(z | u)) with the
//! reparameterisation trick (the Gaussian KL in closed form).
mod backprop;
pub mod fit;
pub mod init;
pub mod warm;
pub mod flow_generator;
pub mod weighted;
pub mod importance;

use crate::error::{Error, Result};
use crate::standardize::Standardize;
use crate::matrix::Matrix;
use crate::nn::{Activation, Mlp, ParamSet};
use crate::priors::{AnchorCheck, EnvPrior};
use crate::tensor::{self, DType, Tensor};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    Vae,
    Ivae,
    IvaeFrozen,
}

/// The family of the approximate posterior q(z | x, u).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PosteriorKind {
    /// N(m, diag v): mean field, as the official iVAE.
    #[default]
    Diagonal,
    /// N(m, L Lᵀ) with L lower-triangular (Cholesky factor): the encoder also outputs the
    /// d(d − 1)/2 entries below the diagonal. Removes the mean-field gap, whose pull towards
    /// decoders with orthogonal Jacobian columns does not vanish as the decoder variance → 0.
    Full,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    pub variant: Variant,
    pub obs_dim: usize,
    pub latent_dim: usize,
    /// Environment labels seen in training, sorted: position = one-hot index. Empty for `vae`.
    pub envs: Vec<i64>,
    pub hidden: usize,
    pub hidden_layers: usize,
    pub activation: Activation,
    /// Fixed observation variance of the decoder.
    pub decoder_var: f64,
    /// Learn prior means (mean-variance modulation); false = means fixed at 0 (variance-only).
    pub prior_mean: bool,
    /// Frozen anchor priors (ivae-frozen).
    pub anchors: Vec<EnvPrior>,
    /// The Thm 4.5 check of the anchors, as computed before training.
    pub anchor_check: Option<AnchorCheck>,
    /// Learn the decoder's per-coordinate observation variance (maximum likelihood, starting at
    /// `decoder_var`, floored at `MIN_DECODER_VAR`) instead of fixing it.
    #[serde(default)]
    pub learn_decoder_var: bool,
    /// x' = (x − mean) / sd before the encoder, undone after the decoder (`None` in files written
    /// before models standardised their input: the identity).
    #[serde(default)]
    pub standardize: Option<Standardize>,
    /// Diagonal (files written before this option) or full-covariance posterior.
    #[serde(default)]
    pub posterior: PosteriorKind,
    /// Train on the official weighted objective with these weights instead of the ELBO
    /// (`weighted`); `None` (files written before this option): the ELBO.
    #[serde(default)]
    pub weighted: Option<weighted::Weights>,
    /// Columns of a real-valued u (0: environment labels, or none for `vae`). With a real u the
    /// prior is a network λ(u) → (mean, log-variance) instead of a table per environment.
    #[serde(default)]
    pub aux_dim: usize,
    /// The frozen priors were learned from the same data (`--freeze-after`), not given: each
    /// fit is unique given its priors, but across fits the priors carry stage 1's (plain iVAE)
    /// indeterminacy. False in files written before this field (they could not tell).
    #[serde(default)]
    pub anchors_learned: bool,
}

/// Floor of a learned decoder variance (standardised units): noiseless data would otherwise
/// drive it to 0 and the ELBO to +∞.
pub const MIN_DECODER_VAR: f64 = 1e-6;

impl VaeConfig {
    /// Check a configuration read from a file before building it: sizes in range, a parameter
    /// count equal to the `stored` values, anchors and standardisation consistent with it.
    pub fn check(&self, stored: u128) -> std::result::Result<(), String> {
        let sizes = [self.obs_dim, self.latent_dim, self.hidden, self.hidden_layers, self.envs.len(), self.aux_dim];
        if sizes[..3].contains(&0) || sizes.iter().any(|&s| s as u128 > stored) || self.latent_dim > self.obs_dim {
            return Err(format!("sizes (observed, latent, hidden, hidden layers, environments, u columns) {sizes:?} out of range for {stored} stored values"));
        }
        if !self.envs.windows(2).all(|w| w[0] < w[1]) {
            return Err("environments are not sorted and distinct".into());
        }
        let (d, x) = (self.latent_dim, self.obs_dim);
        let mlp = |i, o| crate::nn::Mlp::count(i, self.hidden, self.hidden_layers, o);
        let prior = if self.has_prior_table() { 2 * (self.n_envs() * d) as u128 } else if self.has_prior_net() { mlp(self.aux_dim, 2 * d) } else { 0 };
        let logvar = if self.learn_decoder_var { x as u128 } else { 0 };
        let n = mlp(x + self.u_width(), self.encoder_width()) + mlp(d, x) + prior + logvar;
        if n != stored {
            return Err(format!("the architecture has {n} parameters but the file stores {stored}"));
        }
        for a in &self.anchors {
            let ok = self.envs.binary_search(&a.env).is_ok() && a.mean.len() == d && a.var.len() == d;
            if !ok || a.mean.iter().any(|m| !m.is_finite()) || a.var.iter().any(|v| !(*v > 0.0 && v.is_finite())) {
                return Err(format!("anchor of environment {} does not match the model (its environments, dimension {d}, finite means, positive variances)", a.env));
            }
        }
        if let Some(s) = &self.standardize {
            if s.mean.len() != x || s.sd.len() != x || s.sd.iter().any(|v| !(*v > 0.0 && v.is_finite())) || s.mean.iter().any(|m| !m.is_finite()) {
                return Err(format!("standardisation constants are not {x} finite means and positive sds"));
            }
        }
        if !(self.decoder_var > 0.0 && self.decoder_var.is_finite()) {
            return Err(format!("decoder variance {} is not positive and finite", self.decoder_var));
        }
        Ok(())
    }

    fn n_envs(&self) -> usize {
        self.envs.len()
    }
    /// Width of u as the networks see it: one-hot environments or the real-valued u's columns.
    pub fn u_width(&self) -> usize {
        if self.aux_dim > 0 { self.aux_dim } else { self.n_envs() }
    }
    fn has_prior_table(&self) -> bool {
        self.variant != Variant::Vae && self.aux_dim == 0
    }
    fn has_prior_net(&self) -> bool {
        self.variant != Variant::Vae && self.aux_dim > 0
    }
    /// λ(u) → (means, log-variances) of p(z | u), for a real-valued u.
    fn prior_net(&self) -> Option<Mlp> {
        self.has_prior_net().then(|| {
            let mut sizes = vec![self.aux_dim];
            sizes.extend(std::iter::repeat_n(self.hidden, self.hidden_layers));
            sizes.push(2 * self.latent_dim);
            Mlp::dense(sizes, self.activation)
        })
    }
    /// Index of the first prior parameter (table or network) among the parameters.
    fn prior_index(&self) -> usize {
        self.encoder().n_tensors() + self.decoder().n_tensors()
    }
    /// Index of the learned decoder log-variance (1 × D) among the parameters.
    fn decoder_logvar_index(&self) -> Option<usize> {
        let prior = if self.has_prior_table() { 2 } else { self.prior_net().map_or(0, |m| m.n_tensors()) };
        self.learn_decoder_var.then(|| self.prior_index() + prior)
    }
    /// Below-diagonal entries of the posterior's Cholesky factor the encoder outputs.
    pub fn n_offdiag(&self) -> usize {
        match self.posterior {
            PosteriorKind::Diagonal => 0,
            PosteriorKind::Full => self.latent_dim * (self.latent_dim - 1) / 2,
        }
    }
    /// Encoder outputs per row: means, log-variances (of the diagonal), then `n_offdiag` entries
    /// L_jk (k < j) in row order (index j(j − 1)/2 + k).
    pub fn encoder_width(&self) -> usize {
        2 * self.latent_dim + self.n_offdiag()
    }
    fn encoder(&self) -> Mlp {
        let mut sizes = vec![self.obs_dim + self.u_width()];
        sizes.extend(std::iter::repeat_n(self.hidden, self.hidden_layers));
        sizes.push(self.encoder_width());
        Mlp::dense(sizes, self.activation)
    }
    fn decoder(&self) -> Mlp {
        let mut sizes = vec![self.latent_dim];
        sizes.extend(std::iter::repeat_n(self.hidden, self.hidden_layers));
        sizes.push(self.obs_dim);
        Mlp::dense(sizes, self.activation)
    }
}

#[derive(Clone, Debug)]
pub struct Vae {
    pub config: VaeConfig,
    pub params: ParamSet,
    encoder: Mlp,
    decoder: Mlp,
    prior_net: Option<Mlp>,
    /// (free, fixed mean, fixed log-variance), M × d f32, built once from the anchors: free is 1
    /// on learned rows and 0 on anchor rows, whose values are the constants.
    frozen: Option<[Tensor<2>; 3]>,
}

fn frozen_tables(config: &VaeConfig) -> Option<[Tensor<2>; 3]> {
    if config.anchors.is_empty() {
        return None;
    }
    let (m, d) = (config.n_envs(), config.latent_dim);
    let mut free = Matrix::from_fn(m, d, |_, _| 1.0);
    let mut fixed_mean = Matrix::zeros(m, d);
    let mut fixed_logvar = Matrix::zeros(m, d);
    for a in &config.anchors {
        let k = config.envs.binary_search(&a.env).expect("anchors checked against envs");
        for j in 0..d {
            free.set(k, j, 0.0);
            fixed_mean.set(k, j, a.mean[j]);
            fixed_logvar.set(k, j, a.var[j].ln());
        }
    }
    Some([free, fixed_mean, fixed_logvar].map(|t| tensor::from_matrix(&t, DType::F32)))
}

/// Per-row Gaussian: mean and variance of the diagonal, each [n, d], and for a full covariance
/// the Cholesky factor's below-diagonal entries [n, d(d − 1)/2] (L_jj = √var_j).
pub struct Gaussian {
    pub mean: Tensor<2>,
    pub var: Tensor<2>,
    pub offdiag: Option<Tensor<2>>,
}

/// Index of L_jk (k < j) among the below-diagonal entries.
pub fn offdiag_index(j: usize, k: usize) -> usize {
    j * (j - 1) / 2 + k
}

impl Vae {
    /// A fresh model with seeded weights; learned priors start at N(0, I).
    pub fn new(config: VaeConfig, rng: &mut impl rand::Rng) -> Vae {
        let (encoder, decoder, prior_net) = (config.encoder(), config.decoder(), config.prior_net());
        let mut params = ParamSet::new();
        encoder.init_params(&mut params, "encoder", rng);
        decoder.init_params(&mut params, "decoder", rng);
        if config.has_prior_table() {
            let zeros = Matrix::zeros(config.n_envs(), config.latent_dim);
            params.push("prior.mean", &zeros);
            params.push("prior.logvar", &zeros);
        }
        if let Some(net) = &prior_net {
            net.init_params(&mut params, "prior_net", rng);
        }
        if config.learn_decoder_var {
            params.push("decoder.logvar", &Matrix::from_fn(1, config.obs_dim, |_, _| config.decoder_var.ln()));
        }
        let frozen = frozen_tables(&config);
        Vae { config, params, encoder, decoder, prior_net, frozen }
    }

    pub fn from_parts(config: VaeConfig, params: ParamSet) -> Vae {
        let (encoder, decoder, prior_net) = (config.encoder(), config.decoder(), config.prior_net());
        let frozen = frozen_tables(&config);
        Vae { config, params, encoder, decoder, prior_net, frozen }
    }

    /// Freeze the priors of these anchors (after a warm-up, `--freeze-after`).
    pub fn freeze(&mut self, anchors: Vec<EnvPrior>, check: AnchorCheck) {
        self.config.anchors_learned = true;
        self.config.anchors = anchors;
        self.config.anchor_check = Some(check);
        self.frozen = frozen_tables(&self.config);
    }

    fn dtype(&self) -> DType {
        self.params.values[0].dtype()
    }

    /// One-hot rows for labels (errors name `path` and the 1-based row of an unknown label).
    pub fn one_hot(&self, u: &[i64], path: &Path) -> Result<Matrix> {
        let mut m = Matrix::zeros(u.len(), self.config.n_envs());
        for (i, &label) in u.iter().enumerate() {
            m.set(i, self.env_index(label, i, path)?, 1.0);
        }
        Ok(m)
    }

    /// The one-hot position of environment `label`, found in row `row` (0-based) of `path`.
    fn env_index(&self, label: i64, row: usize, path: &Path) -> Result<usize> {
        self.config.envs.binary_search(&label).map_err(|_| {
            Error::cell(path, row + 1, 1, format!("environment {label} did not occur in training (known: {:?})", self.config.envs))
        })
    }

    /// u is of the kind this model was trained with (labels, or a real-valued u of its columns).
    fn check_u_kind(&self, u: &crate::io::Aux, path: &Path) -> Result<()> {
        use crate::io::Aux;
        match (u, self.config.aux_dim) {
            (Aux::Labels(_), 0) => Ok(()),
            (Aux::Continuous(m), k) if k == m.cols => Ok(()),
            (Aux::Continuous(m), 0) => Err(Error::input(path, format!(
                "is a real-valued u ({} columns) but this model was trained with environment labels (integers, one column)", m.cols
            ))),
            (Aux::Continuous(m), k) => Err(Error::input(path, format!("has {} columns but the model's u has {k}", m.cols))),
            (Aux::Labels(_), k) => Err(Error::input(path, format!(
                "holds integer labels but this model was trained with a real-valued u of {k} column(s); pass --aux-kind continuous to read it as numbers"
            ))),
        }
    }

    /// u fits this model without building its features (a streamed `encode` checks the whole u
    /// once, then encodes chunk by chunk): its kind and columns, and every label seen in training.
    pub fn check_u(&self, u: &crate::io::Aux, path: &Path) -> Result<()> {
        if self.config.u_width() > 0 {
            self.check_u_kind(u, path)?;
        }
        if let crate::io::Aux::Labels(l) = u {
            for (i, &label) in l.iter().enumerate() {
                self.env_index(label, i, path)?;
            }
        }
        Ok(())
    }

    /// u as the networks see it, n × `u_width`: one-hot rows for labels, the matrix itself for a
    /// real-valued u (columns checked); n × 0 for `vae`. Errors name `path`.
    pub fn u_features(&self, u: Option<&crate::io::Aux>, n: usize, path: &Path) -> Result<Matrix> {
        use crate::io::Aux;
        if self.config.u_width() == 0 {
            return Ok(Matrix::zeros(n, 0));
        }
        match u {
            None => Err(Error::usage(format!(
                "this model needs {}: pass --aux U.npy",
                if self.config.aux_dim > 0 { format!("a real-valued u with {} columns", self.config.aux_dim) } else { "environment labels".into() }
            ))),
            Some(u) => {
                u.check_rows(path, n)?;
                self.check_u_kind(u, path)?;
                match u {
                    Aux::Labels(l) => self.one_hot(l, path),
                    Aux::Continuous(m) => Ok(m.clone()),
                }
            }
        }
    }

    fn enc_params<'a>(&self, p: &'a [Tensor<2>]) -> &'a [Tensor<2>] {
        &p[..self.encoder.n_tensors()]
    }
    fn dec_params<'a>(&self, p: &'a [Tensor<2>]) -> &'a [Tensor<2>] {
        let e = self.encoder.n_tensors();
        &p[e..e + self.decoder.n_tensors()]
    }

    /// q(z | x, u). `onehot` is [n, M] (M = 0 for `vae`).
    pub fn posterior(&self, p: &[Tensor<2>], x: Tensor<2>, onehot: Option<Tensor<2>>) -> Gaussian {
        let input = match onehot {
            Some(u) if self.config.u_width() > 0 => Tensor::cat(vec![x, u], 1),
            _ => x,
        };
        let out = self.encoder.forward(self.enc_params(p), input);
        let d = self.config.latent_dim;
        let k = self.config.n_offdiag();
        let offdiag = (k > 0).then(|| out.clone().narrow(1, 2 * d, k));
        Gaussian { mean: out.clone().narrow(1, 0, d), var: out.narrow(1, d, d).exp(), offdiag }
    }

    /// Per-environment prior tables (M × d means, M × d variances), anchors frozen in place.
    fn prior_tables(&self, p: &[Tensor<2>], like: &Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let e = self.encoder.n_tensors() + self.decoder.n_tensors();
        let mut mean = if self.config.prior_mean { p[e].clone() } else { p[e].clone().mul_scalar(0.0) };
        let mut logvar = p[e + 1].clone();
        if let Some(tables) = &self.frozen {
            let [free, fixed_mean, fixed_logvar] = tables.clone().map(|t| if t.dtype() == like.dtype() { t } else { t.cast(like.dtype()) });
            mean = mean.mul(free.clone()).add(fixed_mean);
            logvar = logvar.mul(free).add(fixed_logvar);
        }
        (mean, logvar.exp())
    }

    /// p(z | u) per row; N(0, I) for `vae`.
    pub fn prior(&self, p: &[Tensor<2>], onehot: Option<Tensor<2>>, n: usize, like: &Tensor<2>) -> Gaussian {
        match onehot {
            Some(u) if self.config.has_prior_net() => {
                let net = self.prior_net.as_ref().expect("has_prior_net");
                let e = self.config.prior_index();
                let out = net.forward(&p[e..e + net.n_tensors()], u);
                let d = self.config.latent_dim;
                let mean = out.clone().narrow(1, 0, d);
                let mean = if self.config.prior_mean { mean } else { mean.mul_scalar(0.0) };
                Gaussian { mean, var: out.narrow(1, d, d).exp(), offdiag: None }
            }
            Some(u) if self.config.has_prior_table() => {
                let (mean, var) = self.prior_tables(p, like);
                Gaussian { mean: u.clone().matmul(mean), var: u.matmul(var), offdiag: None }
            }
            _ => {
                let d = self.config.latent_dim;
                Gaussian { mean: tensor::full_like(like, [n, d], 0.0), var: tensor::full_like(like, [n, d], 1.0), offdiag: None }
            }
        }
    }

    /// z = m + L ε (L = diag √v plus the below-diagonal entries), and the diagonal of L Lᵀ.
    fn reparameterise(&self, q: &Gaussian, eps: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let d = self.config.latent_dim;
        let (lower_eps, cov_diag) = match &q.offdiag {
            None => (None, q.var.clone()),
            Some(off) => {
                let mut shift = Vec::with_capacity(d);
                let mut diag = Vec::with_capacity(d);
                for j in 0..d {
                    let vj = q.var.clone().narrow(1, j, 1);
                    let (mut sj, mut dj) = (vj.clone().mul_scalar(0.0), vj);
                    for k in 0..j {
                        let l = off.clone().narrow(1, offdiag_index(j, k), 1);
                        sj = sj.add(l.clone().mul(eps.clone().narrow(1, k, 1)));
                        dj = dj.add(l.square());
                    }
                    shift.push(sj);
                    diag.push(dj);
                }
                (Some(Tensor::cat(shift, 1)), Tensor::cat(diag, 1))
            }
        };
        let mut z = q.mean.clone().add(q.var.clone().sqrt().mul(eps));
        if let Some(s) = lower_eps {
            z = z.add(s);
        }
        (z, cov_diag)
    }

    /// −log N(x; f(z), diag s²) per row ([n, 1]), s² fixed or learned per coordinate (floored).
    fn neg_log_lik(&self, p: &[Tensor<2>], z: Tensor<2>, x: Tensor<2>) -> Tensor<2> {
        let dx = self.config.obs_dim;
        let log_s2 = match self.config.decoder_logvar_index() {
            Some(k) => p[k].clone().clamp_min(MIN_DECODER_VAR.ln()),
            None => tensor::full_like(&x, [1, dx], self.config.decoder_var.ln()),
        };
        self.decode(p, z)
            .sub(x)
            .square()
            .div(log_s2.clone().exp())
            .add(log_s2)
            .add_scalar((2.0 * std::f64::consts::PI).ln())
            .sum_dim(1)
            .mul_scalar(0.5)
    }

    /// Importance-weighted bound of log p(x | u) per row (Burda et al. 2016, Eq. 8), x
    /// standardised: log (1/K) Σ_k p(x | z_k) p(z_k | u) / q(z_k | x, u), z_k ~ q. A lower
    /// bound for every K that increases to log p(x | u) as K → ∞ (K = 1: the ELBO in
    /// expectation). `eps`: K draws of [n, d] standard normals.
    pub fn log_lik_bound(&self, p: &[Tensor<2>], x: Tensor<2>, onehot: Option<Tensor<2>>, eps: Vec<Tensor<2>>) -> Tensor<1> {
        let k = eps.len();
        let (w, _) = self.importance_draws(p, x, onehot, eps);
        let max = w.clone().max_dim(1);
        w.sub(max.clone()).exp().sum_dim(1).log().add(max).sub_scalar((k as f64).ln()).squeeze_dim::<1>(1)
    }

    /// Draws z_k = m + L ε_k from q(z | x, u) and their log importance weights
    /// log p(x | z_k) + log p(z_k | u) − log q(z_k | x, u), as [n, K] (column k: draw k).
    fn importance_draws(&self, p: &[Tensor<2>], x: Tensor<2>, onehot: Option<Tensor<2>>, eps: Vec<Tensor<2>>) -> (Tensor<2>, Vec<Tensor<2>>) {
        let n = x.dims()[0];
        let d = self.config.latent_dim as f64;
        let ln_2pi = (2.0 * std::f64::consts::PI).ln();
        let q = self.posterior(p, x.clone(), onehot.clone());
        let prior = self.prior(p, onehot, n, &x);
        // log q(z) = −½ ‖ε‖² − Σ_j log L_jj − (d/2) log 2π, L_jj = √v_j.
        let log_det = q.var.clone().log().sum_dim(1).mul_scalar(0.5);
        let mut zs = Vec::with_capacity(eps.len());
        let log_w: Vec<Tensor<2>> = eps
            .into_iter()
            .map(|e| {
                let log_q = e.clone().square().sum_dim(1).mul_scalar(-0.5).sub(log_det.clone()).sub_scalar(0.5 * d * ln_2pi);
                let (z, _) = self.reparameterise(&q, e);
                let dz = z.clone().sub(prior.mean.clone());
                let log_p = dz.square().div(prior.var.clone()).add(prior.var.clone().log()).add_scalar(ln_2pi).sum_dim(1).mul_scalar(-0.5);
                let w = self.neg_log_lik(p, z.clone(), x.clone()).neg().add(log_p).sub(log_q);
                zs.push(z);
                w
            })
            .collect();
        (Tensor::cat(log_w, 1), zs)
    }

    pub fn decode(&self, p: &[Tensor<2>], z: Tensor<2>) -> Tensor<2> {
        self.decoder.forward(self.dec_params(p), z)
    }

    /// Negative ELBO per row: −E_q[log p(x | z)] + KL(q ‖ p), one reparameterised sample.
    pub fn neg_elbo(&self, p: &[Tensor<2>], x: Tensor<2>, onehot: Option<Tensor<2>>, eps: Tensor<2>) -> Tensor<1> {
        let n = x.dims()[0];
        let q = self.posterior(p, x.clone(), onehot.clone());
        let prior = self.prior(p, onehot, n, &x);
        let (z, cov_diag) = self.reparameterise(&q, eps);
        let rec = self.neg_log_lik(p, z, x);
        // KL(N(m_q, L Lᵀ) ‖ N(m_p, diag v_p)) = ½ Σ_j [log v_p − log L_jj² + ((L Lᵀ)_jj + (m_q − m_p)²)/v_p − 1].
        let kl = prior.var.clone().log().sub(q.var.clone().log())
            .add(cov_diag.add(q.mean.sub(prior.mean).square()).div(prior.var))
            .sub_scalar(1.0)
            .sum_dim(1)
            .mul_scalar(0.5);
        rec.add(kl).squeeze_dim::<1>(1)
    }

    fn onehot_tensor(&self, onehot: &Matrix) -> Option<Tensor<2>> {
        (self.config.u_width() > 0).then(|| tensor::from_matrix(onehot, self.dtype()))
    }

    /// Posterior mean for each row, or a posterior sample drawing from `sample` (row after row,
    /// so chunked calls sharing one stream give the same draws as one call).
    pub fn encode(&self, x: &Matrix, onehot: &Matrix, sample: Option<&mut rand_chacha::ChaCha8Rng>) -> Matrix {
        let standardized;
        let x = match &self.config.standardize {
            Some(s) => {
                standardized = s.apply(x);
                &standardized
            }
            None => x,
        };
        let (mean, spread) = if self.dtype() == DType::F32 {
            self.posterior_cpu(x, onehot, sample.is_some())
        } else {
            let q = self.posterior(&self.params.values, tensor::from_matrix(x, self.dtype()), self.onehot_tensor(onehot));
            let mut rest = vec![q.var.log()];
            rest.extend(q.offdiag);
            (tensor::to_matrix(q.mean), Some(tensor::to_matrix(Tensor::cat(rest, 1))))
        };
        match (sample, spread) {
            (None, _) | (_, None) => mean,
            (Some(rng), Some(spread)) => {
                // z = m + L ε: L_jj = exp(½ log v_j) (first d columns of `spread`), L_jk after them.
                let (d, full) = (self.config.latent_dim, self.config.n_offdiag() > 0);
                let eps = crate::simulate::standard_normal(x.rows, d, rng);
                Matrix::from_fn(x.rows, d, |i, j| {
                    let below: f64 = if full { (0..j).map(|k| spread.get(i, d + offdiag_index(j, k)) * eps.get(i, k)).sum() } else { 0.0 };
                    mean.get(i, j) + (0.5 * spread.get(i, j)).exp() * eps.get(i, j) + below
                })
            }
        }
    }

    /// Draw x: z ~ p(z | u) for the given one-hot rows, x = f(z) + N(0, decoder_var).
    pub fn sample(&self, onehot: &Matrix, seed: u64) -> Matrix {
        self.sample_with_latent(onehot, seed).1
    }

    /// `sample`'s draws with the latents they came from: (z, x).
    pub fn sample_with_latent(&self, onehot: &Matrix, seed: u64) -> (Matrix, Matrix) {
        let n = onehot.rows;
        let d = self.config.latent_dim;
        let like = tensor::full_like(&self.params.values[0], [1, 1], 0.0);
        let prior = self.prior(&self.params.values, self.onehot_tensor(onehot), n, &like);
        let eps = tensor::from_matrix(&crate::simulate::standard_normal(n, d, &mut crate::train::stream(seed, 30)), self.dtype());
        let z = prior.mean.add(prior.var.sqrt().mul(eps));
        let latent = tensor::to_matrix(z.clone());
        let mut x = tensor::to_matrix(self.decode(&self.params.values, z));
        let noise = crate::simulate::standard_normal(n, self.config.obs_dim, &mut crate::train::stream(seed, 32));
        let var = self.decoder_var();
        for (i, (v, e)) in x.data.iter_mut().zip(&noise.data).enumerate() {
            *v += var[i % self.config.obs_dim].sqrt() * e;
        }
        let x = match &self.config.standardize {
            Some(s) => s.invert(&x),
            None => x,
        };
        (latent, x)
    }

    /// The decoder's observation variance per coordinate (standardised units).
    pub fn decoder_var(&self) -> Vec<f64> {
        match self.config.decoder_logvar_index() {
            Some(k) => tensor::to_vec(self.params.values[k].clone()).iter().map(|lv| lv.exp().max(MIN_DECODER_VAR)).collect(),
            None => vec![self.config.decoder_var; self.config.obs_dim],
        }
    }

    /// The decoder's observation noise sd per coordinate in the data's units (learned, or the
    /// fixed --decoder-var), undoing the standardisation.
    pub fn noise_sd(&self) -> Vec<f64> {
        let sd = |j: usize| self.config.standardize.as_ref().map_or(1.0, |s| s.sd[j]);
        self.decoder_var().iter().enumerate().map(|(j, v)| v.sqrt() * sd(j)).collect()
    }

    /// The current prior of every environment (anchors at their frozen values).
    pub fn env_priors(&self) -> Vec<EnvPrior> {
        if !self.config.has_prior_table() {
            return Vec::new();
        }
        let like = tensor::full_like(&self.params.values[0], [1, 1], 0.0);
        let (mean, var) = self.prior_tables(&self.params.values, &like);
        let (mean, var) = (tensor::to_matrix(mean), tensor::to_matrix(var));
        self.config.envs.iter().enumerate().map(|(k, &env)| EnvPrior { env, mean: mean.row(k).to_vec(), var: var.row(k).to_vec() }).collect()
    }
}
