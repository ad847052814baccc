//! Fitted models as values: what every kind can do (encode, sample, log-density), how it is
//! fitted from the CLI's options, and how it is saved and loaded. The CLI only talks to this.
use crate::certificate::Certificate;
use crate::error::{Error, Result};
use crate::fa::FactorAnalysis;
use crate::flows::{Flow, FlowConfig, Standardize};
use crate::ivae::flow_generator::{FlowIvae, FlowIvaeConfig};
use crate::ivae::{Vae, VaeConfig, Variant};
use crate::io::Aux;
use crate::matrix::Matrix;
use crate::model_file::{self, Header};
use crate::nn::ParamSet;
use crate::tensor::{self, DType};
use crate::train::{TrainConfig, TrainReport, stream};
use rand_chacha::ChaCha8Rng;

/// The random stream of `encode --sample` draws.
const STREAM_ENCODE_SAMPLE: u64 = 31;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The model kinds strongid fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Triangular monotone flow, one fixed ordering, fixed N(0, I) prior (Thm 5.1): strongly identifiable.
    TmiFlow,
    /// Same layers with the ordering reversed between steps: not triangular, weakly identifiable.
    Flow,
    /// VAE with a fixed N(0, I) prior: weakly identifiable.
    Vae,
    /// iVAE with learned per-environment priors: identifiable up to affine maps of T(z) (Prop. 4.3).
    Ivae,
    /// iVAE with frozen anchor priors (Thm 4.5): strongly identifiable when the anchors span.
    IvaeFrozen,
    /// Linear Gaussian factor analysis: identifiable up to rotations O(d).
    Fa,
    /// Factor analysis with lower-triangular, positive-diagonal loadings: strongly identifiable.
    FaTri,
}

impl ModelKind {
    pub const ALL: [ModelKind; 7] =
        [ModelKind::TmiFlow, ModelKind::Flow, ModelKind::Vae, ModelKind::Ivae, ModelKind::IvaeFrozen, ModelKind::Fa, ModelKind::FaTri];
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::TmiFlow => "tmi-flow",
            ModelKind::Flow => "flow",
            ModelKind::Vae => "vae",
            ModelKind::Ivae => "ivae",
            ModelKind::IvaeFrozen => "ivae-frozen",
            ModelKind::Fa => "fa",
            ModelKind::FaTri => "fa-tri",
        }
    }
    /// The iVAE family's variant of this kind (None outside the family).
    pub fn ivae_variant(self) -> Option<Variant> {
        match self {
            ModelKind::Vae => Some(Variant::Vae),
            ModelKind::Ivae => Some(Variant::Ivae),
            ModelKind::IvaeFrozen => Some(Variant::IvaeFrozen),
            _ => None,
        }
    }
    pub fn parse(name: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

#[derive(Clone, Debug)]
pub enum Fitted {
    Flow(Flow),
    Vae(Vae),
    /// ivae / ivae-frozen with the flow generator (exact likelihood).
    FlowIvae(FlowIvae),
    Fa(FactorAnalysis),
}

impl Fitted {
    /// The Thm 4.5 check of frozen anchors (ivae-frozen).
    pub fn anchor_check(&self) -> Option<&crate::priors::AnchorCheck> {
        match self {
            Fitted::Vae(v) => v.config.anchor_check.as_ref(),
            Fitted::FlowIvae(f) => f.config.anchor_check.as_ref(),
            _ => None,
        }
    }
    /// Whether the frozen anchors were learned from the data (`--freeze-after`) rather than given.
    pub fn anchors_learned(&self) -> bool {
        matches!(self, Fitted::Vae(v) if v.config.anchors_learned)
    }
    /// Whether the learned priors have their means fixed at 0 (variance-only modulation).
    pub fn variance_only(&self) -> bool {
        match self {
            Fitted::Vae(v) => !v.config.prior_mean,
            Fitted::FlowIvae(f) => !f.config.prior_mean,
            _ => false,
        }
    }
    /// Every environment's current prior in the code's units (the iVAE family with labels), else empty.
    pub fn env_priors(&self) -> Vec<crate::priors::EnvPrior> {
        match self {
            Fitted::Vae(v) => v.env_priors(),
            Fitted::FlowIvae(f) => f.env_priors(),
            _ => Vec::new(),
        }
    }
    /// Environment labels seen in training (the iVAE family with labels), else empty.
    pub fn envs(&self) -> &[i64] {
        match self {
            Fitted::Vae(v) => &v.config.envs,
            Fitted::FlowIvae(f) => &f.config.envs,
            _ => &[],
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
enum FileConfig {
    Flow { flow: FlowConfig, standardize: Standardize, train: TrainConfig },
    Vae { vae: VaeConfig, train: TrainConfig },
    FlowIvae { ivae: FlowIvaeConfig, train: TrainConfig },
    Fa { fa: FactorAnalysis, train: TrainConfig },
}

#[derive(Clone, Debug)]
pub struct Model {
    pub kind: ModelKind,
    pub fitted: Fitted,
    pub train: TrainConfig,
    pub report: TrainReport,
    /// Agreement of the best two restarts (`certificate`), when more than one was fitted.
    pub certificate: Option<Certificate>,
    /// What `--generator auto` did beyond one fit: the noisy refit of a rejected flow, or the lift (`noisy_refit`).
    pub auto_refit: Option<crate::noisy_refit::AutoRefit>,
}

impl Model {
    pub fn obs_dim(&self) -> usize {
        match &self.fitted {
            Fitted::Flow(f) => f.config.dim,
            Fitted::Vae(v) => v.config.obs_dim,
            Fitted::FlowIvae(f) => f.config.dim,
            Fitted::Fa(fa) => fa.loading.rows,
        }
    }

    pub fn latent_dim(&self) -> usize {
        match &self.fitted {
            Fitted::Flow(f) => f.config.dim,
            Fitted::Vae(v) => v.config.latent_dim,
            Fitted::FlowIvae(f) => f.config.dim,
            Fitted::Fa(fa) => fa.loading.cols,
        }
    }

    /// Whether encoding needs u (environment labels or a real-valued u).
    pub fn needs_labels(&self) -> bool {
        matches!(&self.fitted, Fitted::Vae(v) if v.config.u_width() > 0)
    }

    /// Error naming `path` if its data has the wrong number of columns for this model.
    pub fn check_columns(&self, path: &Path, cols: usize) -> Result<()> {
        if cols != self.obs_dim() {
            return Err(Error::input(path, format!("has {cols} columns but the model expects {}", self.obs_dim())));
        }
        Ok(())
    }

    /// The code of each row of x: T(x) for flows, the posterior mean E[z | x, u] otherwise (or
    /// a posterior sample with `sample_seed`, for the iVAE family). `u_path` names the labels.
    pub fn encode(&self, x: &Matrix, u: Option<&Aux>, u_path: &Path, sample_seed: Option<u64>) -> Result<Matrix> {
        self.encode_rows(x, u, u_path, sample_seed.map(|s| stream(s, STREAM_ENCODE_SAMPLE)).as_mut())
    }

    /// `encode` for a chunk of rows; posterior samples continue the stream `sample`.
    pub fn encode_rows(&self, x: &Matrix, u: Option<&Aux>, u_path: &Path, sample: Option<&mut ChaCha8Rng>) -> Result<Matrix> {
        match &self.fitted {
            Fitted::Flow(f) => Ok(f.encode(x)),
            Fitted::FlowIvae(f) => {
                if let Some(u) = u {
                    u.check_rows(u_path, x.rows)?;
                    self.check_aux(u, u_path)?;
                }
                Ok(f.encode(x))
            }
            Fitted::Fa(fa) => Ok(fa.encode(x)),
            Fitted::Vae(v) => {
                let onehot = v.u_features(u, x.rows, u_path)?;
                Ok(v.encode(x, &onehot, sample))
            }
        }
    }

    /// The posterior mean E[z | x, u] by self-normalised importance sampling with `k` draws per
    /// row from the encoder (`Vae::encode_importance`; `first_row`: where this chunk starts, so
    /// chunked calls give the same codes as one). Refused as `check_importance` says.
    pub fn encode_importance(&self, x: &Matrix, u: Option<&Aux>, u_path: &Path, k: usize, seed: u64, first_row: usize) -> Result<Matrix> {
        self.check_importance()?;
        let Fitted::Vae(v) = &self.fitted else { unreachable!("check_importance admits only models with an encoder") };
        let onehot = v.u_features(u, x.rows, u_path)?;
        Ok(v.encode_importance(x, &onehot, k, seed, first_row))
    }

    /// Only a model with an encoder has a posterior to importance-sample: flows' and the flow
    /// generator's codes are exact, factor analysis's posterior mean is closed-form.
    pub fn check_importance(&self) -> Result<()> {
        match &self.fitted {
            Fitted::Vae(_) => Ok(()),
            _ => Err(Error::usage(format!(
                "--importance-samples needs a model with an encoder (vae, or the iVAE family's MLP generator); this {} model's code is {}",
                self.kind.name(),
                if matches!(self.fitted, Fitted::Fa(_)) { "the closed-form posterior mean already" } else { "exact (an invertible map), with no posterior to sample" }
            ))),
        }
    }

    /// Error naming `u_path` (and the row of the first label the model never saw in training, or
    /// the column count of a real-valued u) unless u fits the model.
    pub fn check_aux(&self, u: &Aux, u_path: &Path) -> Result<()> {
        match &self.fitted {
            Fitted::Vae(v) => v.check_u(u, u_path),
            Fitted::FlowIvae(f) => match u {
                Aux::Labels(l) => f.env_indices(l, u_path).map(|_| ()),
                Aux::Continuous(m) => Err(Error::input(u_path, format!(
                    "is a real-valued u ({} columns) but this model was trained with environment labels (integers, one column)", m.cols
                ))),
            },
            _ => Ok(()),
        }
    }

    /// Exact log-density of each row: log p(x) for flows and factor analysis, log p(x | u) for
    /// the iVAE family's flow generator (u: its environment labels, `u_path` names them in
    /// errors). The MLP generator's ELBO only bounds it, so it is refused.
    pub fn log_prob(&self, x: &Matrix, u: Option<&Aux>, u_path: &Path) -> Result<Vec<f64>> {
        match &self.fitted {
            Fitted::Flow(f) => Ok(f.log_prob(x)),
            Fitted::Fa(fa) => Ok(fa.log_prob(x)),
            Fitted::FlowIvae(f) => match u {
                Some(Aux::Labels(l)) if l.len() == x.rows => Ok(f.log_prob(x, &f.env_indices(l, u_path)?)),
                Some(u) => {
                    self.check_aux(u, u_path)?;
                    Err(Error::input(u_path, format!("has {} rows of u but the data have {} rows", u.rows(), x.rows)))
                }
                None => Err(Error::usage(format!(
                    "{} with the flow generator has the exact density p(x | u): give its environment labels (--aux, or a dataset directory with u.npy)",
                    self.kind.name()
                ))),
            },
            Fitted::Vae(_) => Err(Error::usage(format!(
                "{} with the MLP generator has no closed-form log-density (it is trained on the ELBO, a lower bound); use a flow, fa, or the flow generator (--generator flow) for exact log-densities",
                self.kind.name()
            ))),
        }
    }

    /// How this model reads u: as it was trained (labels or a real-valued matrix).
    pub fn aux_kind(&self) -> crate::io::AuxKind {
        match &self.fitted {
            Fitted::Vae(v) if v.config.aux_dim > 0 => crate::io::AuxKind::Continuous,
            Fitted::Vae(v) if !v.config.envs.is_empty() => crate::io::AuxKind::Labels,
            Fitted::FlowIvae(_) => crate::io::AuxKind::Labels,
            _ => crate::io::AuxKind::Auto,
        }
    }

    /// One draw per row of u, from p(z | u) then the decoder (iVAE family). `path` names u.
    pub fn sample_given_u(&self, u: &Aux, path: &Path, seed: u64) -> Result<Matrix> {
        match &self.fitted {
            Fitted::Vae(v) => {
                self.check_aux(u, path)?;
                Ok(v.sample(&v.u_features(Some(u), u.rows(), path)?, seed))
            }
            Fitted::FlowIvae(f) => match u {
                Aux::Labels(l) => Ok(f.sample(&f.env_indices(l, path)?, seed)),
                Aux::Continuous(_) => self.check_aux(u, path).map(|_| unreachable!("a real-valued u is refused")),
            },
            _ => Err(Error::usage(format!("{} has no u: sample with --n only", self.kind.name()))),
        }
    }

    /// n draws from the model. For the iVAE family `env` picks the environment's prior; without
    /// it, environments are drawn uniformly from those seen in training.
    pub fn sample(&self, n: usize, seed: u64, env: Option<i64>) -> Result<Matrix> {
        if env.is_some() && self.fitted.envs().is_empty() {
            return Err(Error::usage(format!("--env applies to models with environment priors (the iVAE family), not to {}", self.kind.name())));
        }
        crate::error::check_values(&format!("--n {n} × {} columns", self.obs_dim()), n as u128 * self.obs_dim().max(self.latent_dim()) as u128)?;
        match &self.fitted {
            Fitted::Flow(f) => Ok(f.generate(&crate::simulate::standard_normal(n, f.config.dim, &mut stream(seed, 30)))),
            Fitted::Fa(fa) => Ok(fa.sample(n, &mut stream(seed, 30))),
            Fitted::Vae(v) if v.config.aux_dim > 0 => Err(Error::usage(format!(
                "this {}'s prior depends on a real-valued u ({} column(s)): pass --aux U.npy with one row of u per sample",
                self.kind.name(),
                v.config.aux_dim
            ))),
            Fitted::Vae(v) => {
                let envs = &v.config.envs;
                let labels: Vec<i64> = match env {
                    Some(e) => vec![e; n],
                    None if envs.is_empty() => Vec::new(),
                    None => uniform_envs(n, envs.len(), seed).into_iter().map(|i| envs[i]).collect(),
                };
                let onehot = if envs.is_empty() { Matrix::zeros(n, 0) } else { v.one_hot(&labels, Path::new("--env"))? };
                Ok(v.sample(&onehot, seed))
            }
            Fitted::FlowIvae(f) => {
                let envs = &f.config.envs;
                let idx = match env {
                    Some(e) => vec![f.env_indices(&[e], Path::new("--env"))?[0]; n],
                    None => uniform_envs(n, envs.len(), seed),
                };
                Ok(f.sample(&idx, seed))
            }
        }
    }

    fn tensors(&self) -> Vec<(String, Matrix)> {
        match &self.fitted {
            Fitted::Flow(f) => f.params.to_matrices(),
            Fitted::Vae(v) => v.params.to_matrices(),
            Fitted::FlowIvae(f) => f.params().to_matrices(),
            Fitted::Fa(_) => Vec::new(), // all in the (f64-exact) JSON header
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let (header, tensors) = self.file_parts();
        model_file::save(path, &header, &tensors)
    }

    /// The model file's bytes (as `save` writes them).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let (header, tensors) = self.file_parts();
        model_file::to_bytes(&header, &tensors).map_err(|msg| Error::model(Path::new("(in memory)"), msg))
    }

    /// A model from a model file's bytes; `name` identifies them in errors.
    pub fn from_bytes(bytes: &[u8], name: &Path) -> Result<Model> {
        Self::from_file_parts(model_file::from_bytes(bytes, name)?, name)
    }

    fn file_parts(&self) -> (Header, Vec<(String, Matrix)>) {
        let train = self.train.clone();
        let config = match &self.fitted {
            Fitted::Flow(f) => FileConfig::Flow { flow: f.config.clone(), standardize: f.standardize.clone(), train },
            Fitted::Vae(v) => FileConfig::Vae { vae: v.config.clone(), train },
            Fitted::FlowIvae(f) => FileConfig::FlowIvae { ivae: f.config.clone(), train },
            Fitted::Fa(fa) => FileConfig::Fa { fa: fa.clone(), train },
        };
        let mut header = Header::new(
            self.kind.name(),
            serde_json::to_value(&config).expect("config serializes"),
            serde_json::to_value(&self.report).expect("report serializes"),
        );
        header.certificate = self.certificate.as_ref().map(|c| serde_json::to_value(c).expect("certificate serializes"));
        header.auto_refit = self.auto_refit.as_ref().map(|c| serde_json::to_value(c).expect("auto refit serializes"));
        (header, self.tensors())
    }

    pub fn load(path: &Path) -> Result<Model> {
        Self::from_file_parts(model_file::load(path)?, path)
    }

    fn from_file_parts((header, mut tensors): (Header, HashMap<String, Matrix>), path: &Path) -> Result<Model> {
        let bad = |msg: String| Error::model(path, msg);
        let kind = ModelKind::parse(&header.kind).ok_or_else(|| bad(format!("unknown model kind '{}'", header.kind)))?;
        let config: FileConfig = serde_json::from_value(header.config).map_err(|e| bad(format!("invalid configuration: {e}")))?;
        let report: TrainReport = serde_json::from_value(header.training).map_err(|e| bad(format!("invalid training summary: {e}")))?;
        // The sizes are checked first (building the template allocates them), then a template of
        // the architecture says which tensors must be present, with which shapes.
        let stored: u128 = tensors.values().map(|m| m.data.len() as u128).sum();
        let (fitted, train) = match config {
            FileConfig::Flow { flow, standardize, train } => {
                flow.check(&standardize, stored).map_err(|m| bad(format!("invalid configuration: {m}")))?;
                let template = Flow::new(flow.clone(), standardize.clone(), &mut stream(0, 0));
                let params = take_params(&template.params, &mut tensors).map_err(bad)?;
                (Fitted::Flow(Flow::from_parts(flow, standardize, params)), train)
            }
            FileConfig::Vae { vae, train } => {
                vae.check(stored).map_err(|m| bad(format!("invalid configuration: {m}")))?;
                let template = Vae::new(vae.clone(), &mut stream(0, 0));
                let params = take_params(&template.params, &mut tensors).map_err(bad)?;
                (Fitted::Vae(Vae::from_parts(vae, params)), train)
            }
            FileConfig::FlowIvae { ivae, train } => {
                ivae.check(stored).map_err(|m| bad(format!("invalid configuration: {m}")))?;
                let template = FlowIvae::template(ivae.clone());
                let params = take_params(&template.params(), &mut tensors).map_err(bad)?;
                (Fitted::FlowIvae(FlowIvae::from_parts(ivae, params)), train)
            }
            FileConfig::Fa { fa, train } => {
                fa.check().map_err(|m| bad(format!("invalid configuration: {m}")))?;
                (Fitted::Fa(fa), train)
            }
        };
        let matches = match &fitted {
            Fitted::Flow(f) => f.config.triangular == (kind == ModelKind::TmiFlow) && matches!(kind, ModelKind::TmiFlow | ModelKind::Flow),
            Fitted::Vae(v) => kind.ivae_variant() == Some(v.config.variant),
            // The flow generator has no VAE variant (its prior is per environment).
            Fitted::FlowIvae(f) => f.config.variant != Variant::Vae && kind.ivae_variant() == Some(f.config.variant),
            Fitted::Fa(fa) => fa.triangular == (kind == ModelKind::FaTri) && matches!(kind, ModelKind::Fa | ModelKind::FaTri),
        };
        if !matches {
            return Err(bad(format!("kind {} does not match its configuration", kind.name())));
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(bad(format!("unexpected tensor {extra}")));
        }
        let certificate = match header.certificate {
            Some(c) => Some(serde_json::from_value(c).map_err(|e| bad(format!("invalid certificate: {e}")))?),
            None => None,
        };
        let auto_refit = match header.auto_refit {
            Some(c) => Some(serde_json::from_value(c).map_err(|e| bad(format!("invalid auto refit: {e}")))?),
            None => None,
        };
        Ok(Model { kind, fitted, train, report, certificate, auto_refit })
    }
}

/// n environment indices in 0..m drawn uniformly for `sample` without `--env` (its own stream).
fn uniform_envs(n: usize, m: usize, seed: u64) -> Vec<usize> {
    use rand::Rng;
    let mut rng = stream(seed, 33);
    (0..n).map(|_| rng.random_range(0..m)).collect()
}

/// Move the tensors named by `template` out of `tensors`, checking their shapes.
fn take_params(template: &ParamSet, tensors: &mut HashMap<String, Matrix>) -> std::result::Result<ParamSet, String> {
    let mut params = ParamSet::new();
    for (name, expected) in template.names.iter().zip(&template.values) {
        let m = tensors.remove(name).ok_or_else(|| format!("missing tensor {name}"))?;
        if [m.rows, m.cols] != expected.dims() {
            return Err(format!("tensor {name} has shape {}×{}, expected {:?}", m.rows, m.cols, expected.dims()));
        }
        params.names.push(name.clone());
        params.values.push(tensor::from_matrix(&m, DType::F32));
    }
    Ok(params)
}
