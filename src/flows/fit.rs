//! Exact maximum-likelihood fitting of a flow: minimise the mean negative log-density.
use super::{Flow, FlowConfig, Standardize};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::nn::HostParams;
use crate::tensor::{self, DType, Tensor};
use crate::train::{self, Objective, TrainConfig, TrainReport};
use rand_chacha::ChaCha8Rng;

/// The training objective: mean negative log-density of rows of `x`.
pub struct FlowNll<'a> {
    pub flow: &'a Flow,
    pub x: &'a Matrix,
}

impl Objective for FlowNll<'_> {
    fn loss(&self, params: &[Tensor<2>], rows: &[usize], _rng: &mut ChaCha8Rng) -> Tensor<1> {
        let batch = tensor::from_matrix(&self.x.select_rows(rows), DType::F32);
        self.flow.log_prob_with(params, batch).mean().neg()
    }
    /// The hand-written gradient (`Flow::nll_grad`).
    fn loss_and_grad(&self, params: &HostParams, rows: &[usize], _rng: &mut ChaCha8Rng) -> (f64, Vec<Vec<f32>>) {
        let x: Vec<f32> = rows.iter().flat_map(|&r| self.x.row(r).iter().map(|&v| v as f32)).collect();
        let d = self.x.cols;
        train::data_parallel(rows.len(), |r| self.flow.nll_grad(params, &x[r.start * d..r.end * d], r.len()))
    }
    fn loss_value(&self, params: &HostParams, rows: &[usize], _rng: &mut ChaCha8Rng) -> f64 {
        let x: Vec<f32> = rows.iter().flat_map(|&r| self.x.row(r).iter().map(|&v| v as f32)).collect();
        let lp = self.flow.log_prob_cpu(&params.values, &x, rows.len());
        -lp.iter().sum::<f64>() / rows.len() as f64
    }
    fn n_rows(&self) -> usize {
        self.x.rows
    }
    /// The zero-initialised last layers make every step the identity.
    fn start_is_a_model(&self) -> bool {
        true
    }
}

/// Fit a flow to the rows of `x` (n × dim). Standardisation is fitted on the training rows.
pub fn fit(config: FlowConfig, x: &Matrix, train_cfg: &TrainConfig, show_progress: bool) -> Result<(Flow, TrainReport)> {
    if x.cols != config.dim {
        return Err(Error::usage(format!("data has {} columns but the flow has dim {}", x.cols, config.dim)));
    }
    if config.layers == 0 || config.hidden == 0 {
        return Err(Error::usage("a flow needs at least one layer and one hidden unit"));
    }
    if let crate::transforms::TransformKind::Spline { bins, tail_bound } = config.transform {
        if bins < 2 || !(tail_bound > 0.0) {
            return Err(Error::usage("a spline needs at least 2 bins and a positive tail bound"));
        }
    }
    let standardize = Standardize::fit_training_rows(x, train_cfg)?;
    let mut flow = Flow::new(config, standardize, &mut train::stream(train_cfg.seed, train::STREAM_INIT));
    let (best, report) = train::fit(&FlowNll { flow: &flow, x }, flow.params.values.clone(), train_cfg, show_progress)?;
    flow.params.values = best;
    Ok((flow, report))
}
