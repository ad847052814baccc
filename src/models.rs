//! Fitted models as values: what every kind can do (encode, sample, log-density), and how it
//! is saved and loaded. The CLI only talks to this type.
use crate::error::{Error, Result};
use crate::flows::{Flow, FlowConfig, Standardize};
use crate::matrix::Matrix;
use crate::model_file::{self, Header};
use crate::nn::ParamSet;
use crate::tensor::{self, DType};
use crate::train::{TrainConfig, TrainReport, stream};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The model kinds strongid fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Triangular monotone flow, one fixed ordering, fixed N(0, I) prior (Thm 5.1): strongly identifiable.
    TmiFlow,
    /// Same layers with the ordering reversed between steps: not triangular, weakly identifiable.
    Flow,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::TmiFlow => "tmi-flow",
            ModelKind::Flow => "flow",
        }
    }
    fn parse(name: &str) -> Option<ModelKind> {
        [ModelKind::TmiFlow, ModelKind::Flow].into_iter().find(|k| k.name() == name)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct FlowFileConfig {
    flow: FlowConfig,
    standardize: Standardize,
    train: TrainConfig,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub kind: ModelKind,
    pub flow: Flow,
    pub train: TrainConfig,
    pub report: TrainReport,
}

impl Model {
    pub fn dim(&self) -> usize {
        self.flow.config.dim
    }

    /// Error naming `path` if its data has the wrong number of columns for this model.
    pub fn check_columns(&self, path: &Path, cols: usize) -> Result<()> {
        if cols != self.dim() {
            return Err(Error::input(path, format!("has {cols} columns but the model expects {}", self.dim())));
        }
        Ok(())
    }

    /// The code z of each row of x.
    pub fn encode(&self, x: &Matrix) -> Matrix {
        self.flow.encode(x)
    }

    /// Exact log-density of each row of x.
    pub fn log_prob(&self, x: &Matrix) -> Vec<f64> {
        self.flow.log_prob(x)
    }

    /// n draws: z ~ N(0, I) from the seed, then x = T⁻¹(z).
    pub fn sample(&self, n: usize, seed: u64) -> Matrix {
        let z = crate::simulate::standard_normal(n, self.dim(), &mut stream(seed, 30));
        self.flow.generate(&z)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let config = FlowFileConfig { flow: self.flow.config.clone(), standardize: self.flow.standardize.clone(), train: self.train.clone() };
        let header = Header::new(
            self.kind.name(),
            serde_json::to_value(&config).expect("config serializes"),
            serde_json::to_value(&self.report).expect("report serializes"),
        );
        model_file::save(path, &header, &self.flow.params.to_matrices())
    }

    pub fn load(path: &Path) -> Result<Model> {
        let (header, mut tensors) = model_file::load(path)?;
        let bad = |msg: String| Error::model(path, msg);
        let kind = ModelKind::parse(&header.kind).ok_or_else(|| bad(format!("unknown model kind '{}'", header.kind)))?;
        let config: FlowFileConfig = serde_json::from_value(header.config).map_err(|e| bad(format!("invalid configuration: {e}")))?;
        let report: TrainReport = serde_json::from_value(header.training).map_err(|e| bad(format!("invalid training summary: {e}")))?;
        // The architecture defines which tensors must be present, with which shapes.
        let template = Flow::new(config.flow.clone(), config.standardize.clone(), &mut stream(0, 0));
        let mut params = ParamSet::new();
        for (name, expected) in template.params.names.iter().zip(&template.params.values) {
            let m = tensors.remove(name).ok_or_else(|| bad(format!("missing tensor {name}")))?;
            if [m.rows, m.cols] != expected.dims() {
                return Err(bad(format!("tensor {name} has shape {}×{}, expected {:?}", m.rows, m.cols, expected.dims())));
            }
            params.names.push(name.clone());
            params.values.push(tensor::from_matrix(&m, DType::F32));
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(bad(format!("unexpected tensor {extra}")));
        }
        let flow = Flow::from_parts(config.flow, config.standardize, params);
        Ok(Model { kind, flow, train: config.train, report })
    }
}
