//! The iVAE's generative model with an invertible generator: x = g(z), z | u ~ N(μ_u, diag σ²_u)
//! (square, noiseless data: latent dimension = observed dimension). The likelihood is then exact,
//!   log p(x | u) = log N(g⁻¹(x); μ_u, diag σ²_u) + log|det ∂g⁻¹/∂x|,
//! so there is no encoder, no decoder variance and no ELBO gap (iFlow, Li et al. 2020): the
//! maximum-likelihood code is g⁻¹(x) itself. The indeterminacies are the iVAE's (Prop. 4.3,
//! Thm 4.5): flows are a subset of the injective generators the theory allows.
//!
//! g⁻¹ = T ∘ W: a fixed affine map W (the anchor-aligned linear code of `init::linear_code`, which
//! also fixes the orientation a flow of increasing steps cannot change) followed by a flow T.
use super::Variant;
use crate::error::{Error, Result};
use crate::flows::{Flow, FlowConfig};
use crate::matrix::Matrix;
use crate::nn::{HostParams, ParamSet};
use crate::priors::{AnchorCheck, EnvPrior};
use crate::standardize::Standardize;
use crate::tensor::{self, DType, Tensor};
use crate::train::{self, Objective, TrainConfig, TrainReport};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Mean negative log-likelihood of rows of `y` (the data after the affine map W) under the flow
/// and the environments' Gaussian priors. Parameters: the flow's, then the prior means (E × d)
/// and log-variances (E × d). Rows of `fixed` environments (anchors) get no prior gradient; with
/// `learn_means` false the means stay where they are (variance-only modulation).
pub struct EnvFlowNll<'a> {
    pub flow: &'a Flow,
    pub y: &'a Matrix,
    pub env: &'a [usize],
    pub n_envs: usize,
    pub fixed: &'a [bool],
    pub learn_means: bool,
}

impl EnvFlowNll<'_> {
    fn n_flow(&self) -> usize {
        self.flow.params.values.len()
    }

    fn rows_f32(&self, rows: &[usize]) -> Vec<f32> {
        rows.iter().flat_map(|&r| self.y.row(r).iter().map(|&v| v as f32)).collect()
    }

    /// −Σ_i log N(z_i; μ_e(i), diag σ²_e(i)), its gradient in z, and the priors' gradients (divided
    /// by the number of rows) added into `g_prior` = [means, log-variances].
    fn base(&self, p: &HostParams, env: &[usize], z: &[f32], g_prior: &mut [Vec<f32>]) -> (f64, Vec<f32>) {
        let d = self.y.cols;
        let n = env.len();
        let (means, logvars) = (&p.values[self.n_flow()], &p.values[self.n_flow() + 1]);
        let inv_n = 1.0 / n as f32;
        let mut nll = 0.0f64;
        let mut g_z = vec![0.0f32; n * d];
        for (i, &e) in env.iter().enumerate() {
            for j in 0..d {
                let (m, lv) = (means[e * d + j], logvars[e * d + j]);
                let prec = (-lv).exp();
                let diff = z[i * d + j] - m;
                let q = diff * diff * prec;
                nll += 0.5 * (f64::from(q) + f64::from(lv) + LN_2PI);
                g_z[i * d + j] = diff * prec;
                if !self.fixed[e] {
                    if self.learn_means {
                        g_prior[0][e * d + j] -= diff * prec * inv_n;
                    }
                    g_prior[1][e * d + j] += 0.5 * (1.0 - q) * inv_n;
                }
            }
        }
        (nll, g_z)
    }
}

impl Objective for EnvFlowNll<'_> {
    /// The same loss through burn's autodiff (the reference the hand-written gradient is tested
    /// against). Anchored and fixed-mean entries are detached so their gradients are zero.
    fn loss(&self, params: &[Tensor<2>], rows: &[usize], _rng: &mut ChaCha8Rng) -> Tensor<1> {
        let (d, k) = (self.y.cols, self.n_flow());
        let batch = tensor::from_matrix(&self.y.select_rows(rows), DType::F32);
        let (z, log_det) = self.flow.forward_with(&params[..k], batch);
        let onehot = Matrix::from_fn(rows.len(), self.n_envs, |i, e| f64::from(self.env[rows[i]] == e));
        let learn = Matrix::from_fn(self.n_envs, d, |e, _| f64::from(!self.fixed[e]));
        let learn = tensor::from_matrix(&learn, DType::F32);
        let gate = |t: Tensor<2>, on: bool| if on { t.clone().mul(learn.clone()).add(t.detach().mul(learn.clone().neg().add_scalar(1.0))) } else { t.detach() };
        let means = gate(params[k].clone(), self.learn_means);
        let logvars = gate(params[k + 1].clone(), true);
        let onehot = tensor::from_matrix(&onehot, DType::F32);
        let (m, lv) = (onehot.clone().matmul(means), onehot.matmul(logvars));
        let diff = z.sub(m);
        let nll = diff.clone().mul(diff).mul(lv.clone().neg().exp()).add(lv).add_scalar(LN_2PI).mul_scalar(0.5).sum_dim(1).squeeze_dim::<1>(1);
        nll.sub(log_det).mean()
    }

    fn loss_and_grad(&self, params: &HostParams, rows: &[usize], _rng: &mut ChaCha8Rng) -> (f64, Vec<Vec<f32>>) {
        let y = self.rows_f32(rows);
        let d = self.y.cols;
        let env: Vec<usize> = rows.iter().map(|&r| self.env[r]).collect();
        train::data_parallel(rows.len(), |r| {
            self.flow.nll_grad_with_base(params, &y[r.start * d..r.end * d], r.len(), |z, g| self.base(params, &env[r.clone()], z, g))
        })
    }

    fn loss_value(&self, params: &HostParams, rows: &[usize], _rng: &mut ChaCha8Rng) -> f64 {
        let y = self.rows_f32(rows);
        let env: Vec<usize> = rows.iter().map(|&r| self.env[r]).collect();
        let (z, log_det) = self.flow.forward_cpu(&params.values[..self.n_flow()], &y, rows.len());
        let mut scratch = vec![vec![0.0f32; self.n_envs * self.y.cols]; 2];
        let (nll, _) = self.base(params, &env, &z, &mut scratch);
        (nll - log_det.iter().sum::<f64>()) / rows.len() as f64
    }

    fn n_rows(&self) -> usize {
        self.y.rows
    }

    /// The start (the linear code under moment-matched Gaussian priors, the flow the identity)
    /// is itself a model of the data.
    fn start_is_a_model(&self) -> bool {
        true
    }
}

/// Everything but the weights: what a model file's header stores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowIvaeConfig {
    /// `ivae` or `ivae-frozen`.
    pub variant: Variant,
    pub dim: usize,
    /// Environment labels seen in training, sorted: position = prior table row.
    pub envs: Vec<i64>,
    /// Learned prior means (mean-variance); false: means fixed at 0 (variance-only).
    pub prior_mean: bool,
    /// Frozen anchor priors (ivae-frozen), in the code's units.
    pub anchors: Vec<EnvPrior>,
    pub anchor_check: Option<AnchorCheck>,
    /// x → x_std (per coordinate, fitted on the training rows).
    pub standardize: Standardize,
    /// W: y₀ = [x_std, 1] · W, (d + 1) × d row-major: the linear code the flow starts from.
    pub linear: Vec<f64>,
    /// y = (y₀ − c) / s: the flow works in the linear code's standardised units (its splines'
    /// [−B, B] then covers the code whatever the anchors' scale), and z = s ⊙ T(y) + c.
    pub code_scale: Standardize,
    pub flow: FlowConfig,
}

impl FlowIvaeConfig {
    fn n_envs(&self) -> usize {
        self.envs.len()
    }

    /// Check a configuration read from a file: sizes, constants, anchors, parameter count.
    pub fn check(&self, stored: u128) -> std::result::Result<(), String> {
        let d = self.dim;
        if d == 0 || self.flow.dim != d || self.envs.is_empty() || self.envs.len() as u128 > stored || !self.envs.windows(2).all(|w| w[0] < w[1]) {
            return Err(format!("dimension {d}, flow dimension {} and {} environments (sorted, distinct) do not fit together", self.flow.dim, self.envs.len()));
        }
        let flow_values = stored.checked_sub(2 * (self.n_envs() * d) as u128).ok_or("fewer stored values than the prior tables need")?;
        self.flow.check(&Standardize::identity(d), flow_values)?;
        let finite = |s: &Standardize| s.mean.len() == d && s.sd.len() == d && s.sd.iter().all(|v| *v > 0.0 && v.is_finite()) && s.mean.iter().all(|m| m.is_finite());
        if !finite(&self.standardize) || !finite(&self.code_scale) {
            return Err(format!("standardisation constants are not {d} finite means and positive sds"));
        }
        if self.linear.len() != (d + 1) * d || self.linear.iter().any(|v| !v.is_finite()) {
            return Err(format!("the linear map is not {} finite numbers", (d + 1) * d));
        }
        if self.linear_inverse().is_none() {
            return Err("the linear map is singular".into());
        }
        for a in &self.anchors {
            let ok = self.envs.binary_search(&a.env).is_ok() && a.mean.len() == d && a.var.len() == d;
            if !ok || a.mean.iter().any(|m| !m.is_finite()) || a.var.iter().any(|v| !(*v > 0.0 && v.is_finite())) {
                return Err(format!("anchor of environment {} does not match the model (its environments, dimension {d}, finite means, positive variances)", a.env));
            }
        }
        Ok(())
    }

    fn linear_matrix(&self) -> nalgebra::DMatrix<f64> {
        nalgebra::DMatrix::from_row_slice(self.dim + 1, self.dim, &self.linear)
    }

    /// The inverse of W's d × d block (None when singular).
    fn linear_inverse(&self) -> Option<nalgebra::DMatrix<f64>> {
        let d = self.dim;
        let w = self.linear_matrix();
        let block = w.rows(0, d).into_owned();
        block.try_inverse().filter(|inv| inv.iter().all(|v| v.is_finite()))
    }

    /// log|det ∂y/∂x_std| = log|det W_d×d| − Σ log s_j: what turns the likelihood of the flow's
    /// input y into the likelihood of the standardised data.
    pub fn log_det_input(&self) -> f64 {
        let d = self.dim;
        let block = self.linear_matrix().rows(0, d).into_owned();
        block.determinant().abs().ln() - self.code_scale.sd.iter().map(|s| s.ln()).sum::<f64>()
    }

    /// y = (([x_std, 1] · W) − c) / s: the flow's input.
    fn to_flow_input(&self, x: &Matrix) -> Matrix {
        let d = self.dim;
        let xs = self.standardize.apply(x);
        let x1 = nalgebra::DMatrix::from_fn(xs.rows, d + 1, |i, j| if j < d { xs.get(i, j) } else { 1.0 });
        self.code_scale.apply(&Matrix::from_nalgebra(&(x1 * self.linear_matrix())))
    }

    /// The inverse of `to_flow_input`.
    fn from_flow_input(&self, y: &Matrix) -> Matrix {
        let d = self.dim;
        let y0 = self.code_scale.invert(y).to_nalgebra();
        let w = self.linear_matrix();
        let shifted = nalgebra::DMatrix::from_fn(y0.nrows(), d, |i, j| y0[(i, j)] - w[(d, j)]);
        let inv = self.linear_inverse().expect("checked when fitted or loaded");
        self.standardize.invert(&Matrix::from_nalgebra(&(shifted * inv)))
    }
}

/// A fitted iVAE with a flow generator: the flow T, and the priors (E × d means and
/// log-variances) in the flow's units.
#[derive(Clone, Debug)]
pub struct FlowIvae {
    pub config: FlowIvaeConfig,
    pub flow: Flow,
    /// `prior.mean`, `prior.logvar`.
    pub prior: ParamSet,
}

impl FlowIvae {
    /// A model with seeded flow weights (the identity) and priors from `mean`, `logvar`.
    fn new(config: FlowIvaeConfig, mean: &Matrix, logvar: &Matrix, rng: &mut impl rand::Rng) -> FlowIvae {
        let flow = Flow::new(config.flow.clone(), Standardize::identity(config.dim), rng);
        let mut prior = ParamSet::new();
        prior.push("prior.mean", mean);
        prior.push("prior.logvar", logvar);
        FlowIvae { config, flow, prior }
    }

    /// The architecture with zero priors, to read a file's tensors against.
    pub fn template(config: FlowIvaeConfig) -> FlowIvae {
        let z = Matrix::zeros(config.n_envs(), config.dim);
        FlowIvae::new(config, &z, &z, &mut train::stream(0, 0))
    }

    /// Rebuild from a file's tensors, in the order of `template`'s `params`.
    pub fn from_parts(config: FlowIvaeConfig, mut params: ParamSet) -> FlowIvae {
        let k = params.values.len() - 2;
        let prior = ParamSet { names: params.names.split_off(k), values: params.values.split_off(k) };
        let flow = Flow::from_parts(config.flow.clone(), Standardize::identity(config.dim), params);
        FlowIvae { config, flow, prior }
    }

    /// Every tensor, the flow's then the priors' (a model file's order).
    pub fn params(&self) -> ParamSet {
        let mut p = self.flow.params.clone();
        p.names.extend(self.prior.names.iter().cloned());
        p.values.extend(self.prior.values.iter().cloned());
        p
    }

    /// The prior table row of each label (errors name `path` and the 1-based row of a label
    /// not seen in training).
    pub fn env_indices(&self, labels: &[i64], path: &std::path::Path) -> Result<Vec<usize>> {
        let envs = &self.config.envs;
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| envs.binary_search(l).map_err(|_| Error::cell(path, i + 1, 1, format!("environment {l} did not occur in training (known: {envs:?})"))))
            .collect()
    }

    /// The code z = s ⊙ T(y) + c of each row of x (no u needed: g⁻¹ is a function of x).
    pub fn encode(&self, x: &Matrix) -> Matrix {
        let z = self.flow.encode(&self.config.to_flow_input(x));
        self.config.code_scale.invert(&z)
    }

    /// The prior tables (E × d means, E × d log-variances) in the flow's units.
    fn prior_tables(&self) -> (Matrix, Matrix) {
        (tensor::to_matrix(self.prior.values[0].clone()), tensor::to_matrix(self.prior.values[1].clone()))
    }

    /// Exact log p(x | u) per row in the data's units (`env`: prior table rows, `env_indices`):
    ///   log N(T(y); μ_u, diag σ²_u) + log|det ∂T/∂y| + log|det ∂y/∂x_std| − Σ_j log sd_j.
    pub fn log_prob(&self, x: &Matrix, env: &[usize]) -> Vec<f64> {
        let d = self.config.dim;
        let (z, log_det) = self.flow.encode_with_log_det(&self.config.to_flow_input(x));
        let (mean, logvar) = self.prior_tables();
        let constant = self.config.log_det_input() - self.config.standardize.sd.iter().map(|s| s.ln()).sum::<f64>();
        (0..x.rows)
            .map(|i| {
                let e = env[i];
                let base: f64 = (0..d).map(|j| {
                    let (m, lv) = (mean.get(e, j), logvar.get(e, j));
                    -0.5 * ((z.get(i, j) - m).powi(2) * (-lv).exp() + lv + LN_2PI)
                }).sum();
                base + log_det[i] + constant
            })
            .collect()
    }

    /// Every environment's prior in the code's units (z = s ⊙ T(y) + c: mean s m + c, variance
    /// s² e^{log v}); anchors come back at their frozen values.
    pub fn env_priors(&self) -> Vec<EnvPrior> {
        let (mean, logvar) = self.prior_tables();
        let s = &self.config.code_scale;
        let d = self.config.dim;
        let prior = |e: usize, &env: &i64| EnvPrior {
            env,
            mean: (0..d).map(|j| s.sd[j] * mean.get(e, j) + s.mean[j]).collect(),
            var: (0..d).map(|j| s.sd[j] * s.sd[j] * logvar.get(e, j).exp()).collect(),
        };
        self.config.envs.iter().enumerate().map(|(e, env)| prior(e, env)).collect()
    }

    /// One draw of x per environment index: z ~ p(z | u), x = g(z).
    pub fn sample(&self, env: &[usize], seed: u64) -> Matrix {
        let d = self.config.dim;
        let (mean, logvar) = self.prior_tables();
        let eps = crate::simulate::standard_normal(env.len(), d, &mut train::stream(seed, 30));
        let z = Matrix::from_fn(env.len(), d, |i, j| mean.get(env[i], j) + (0.5 * logvar.get(env[i], j)).exp() * eps.get(i, j));
        self.config.from_flow_input(&self.flow.generate(&z))
    }
}

/// What the flow generator's fit needs beyond the training configuration.
pub struct FitSpec<'a> {
    pub variant: Variant,
    pub flow: FlowConfig,
    pub prior_mean: bool,
    /// Checked anchors (ivae-frozen) and their check.
    pub anchors: Vec<EnvPrior>,
    pub anchor_check: Option<AnchorCheck>,
    /// The labels' distinct values, sorted (a prior table row each), and each row's label.
    pub envs: Vec<i64>,
    pub labels: &'a [i64],
}

/// Fit by maximum likelihood. The start: the linear code of `init::linear_code` (anchor-aligned
/// or jointly diagonalised, fitted on a bootstrap resample so restarts differ), the flow at the
/// identity, learned priors at the code's per-environment moments.
pub fn fit(spec: FitSpec, x: &Matrix, train_cfg: &TrainConfig, show_progress: bool) -> Result<(FlowIvae, TrainReport)> {
    let d = x.cols;
    if spec.flow.dim != d {
        return Err(Error::usage(format!("the flow generator maps the data's {d} dimensions to as many latent ones, not {}", spec.flow.dim)));
    }
    let envs = spec.envs.clone();
    let env: Vec<usize> = spec.labels.iter().map(|l| envs.binary_search(l).expect("labels are the envs")).collect();
    let m = envs.len();
    let standardize = Standardize::fit_training_rows(x, train_cfg)?;
    let xs = standardize.apply(x);
    let anchor_idx = super::fit::anchor_indices(&envs, &spec.anchors);
    let code = super::init::linear_code(&xs, &env, m, d, &anchor_idx, Some(&mut train::stream(train_cfg.seed, train::STREAM_WARM)));
    // The code is affine in x_std: W by least squares recovers its map exactly.
    let x1 = nalgebra::DMatrix::from_fn(xs.rows, d + 1, |i, j| if j < d { xs.get(i, j) } else { 1.0 });
    let w = (x1.transpose() * &x1).lu().solve(&(x1.transpose() * code.to_nalgebra()));
    let Some(w) = w.filter(|w| w.iter().all(|v| v.is_finite())) else {
        return Err(Error::usage("the data's covariance is singular: the flow generator needs d linearly independent coordinates"));
    };
    let linear: Vec<f64> = (0..d + 1).flat_map(|i| (0..d).map(move |j| (i, j))).map(|(i, j)| w[(i, j)]).collect();
    let y0 = Matrix::from_nalgebra(&(&x1 * &w));
    let code_scale = Standardize::fit_training_rows(&y0, train_cfg)?;
    let y = code_scale.apply(&y0);
    let (mut mean, var) = super::init::env_mean_var(&y, &env, m);
    let mut logvar = Matrix::from_fn(m, d, |e, j| var.get(e, j).ln());
    let mut fixed = vec![false; m];
    for (e, a) in &anchor_idx {
        fixed[*e] = true;
        for j in 0..d {
            mean.set(*e, j, (a.mean[j] - code_scale.mean[j]) / code_scale.sd[j]);
            logvar.set(*e, j, (a.var[j] / (code_scale.sd[j] * code_scale.sd[j])).ln());
        }
    }
    if !spec.prior_mean {
        mean = Matrix::zeros(m, d);
    }
    let config = FlowIvaeConfig {
        variant: spec.variant,
        dim: d,
        envs,
        prior_mean: spec.prior_mean,
        anchors: spec.anchors.clone(),
        anchor_check: spec.anchor_check.clone(),
        standardize,
        linear,
        code_scale,
        flow: spec.flow.clone(),
    };
    if config.linear_inverse().is_none() {
        return Err(Error::usage("the linear start is singular: the flow generator needs d linearly independent coordinates"));
    }
    let mut model = FlowIvae::new(config, &mean, &logvar, &mut train::stream(train_cfg.seed, train::STREAM_INIT));
    let k = model.flow.params.values.len();
    let obj = EnvFlowNll { flow: &model.flow, y: &y, env: &env, n_envs: m, fixed: &fixed, learn_means: spec.prior_mean };
    let (best, report) = train::fit(&obj, model.params().values, train_cfg, show_progress)?;
    model.flow.params.values = best[..k].to_vec();
    model.prior.values = best[k..].to_vec();
    Ok((model, report))
}
