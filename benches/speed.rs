//! Speed benchmark: median milliseconds per training step (the exact step `strongid fit` runs:
//! loss, gradient, clipped Adam) and inference throughput, on a dataset directory written by
//! `strongid simulate`. One JSON line per run, the same fields as bench/torch/*.py print, so
//! bench/speed.sh can put strongid and PyTorch side by side.
//!
//!   cargo bench --bench speed -- ivae --data DIR --batch 64 --hidden 100
//!   cargo bench --bench speed -- flow --data DIR --layers 5 --hidden 64 --batch 256
//!
//! Threads: RAYON_NUM_THREADS (set by bench/speed.sh).
use clap::{Parser, ValueEnum};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::time::Instant;
use strongid::flows::fit::FlowNll;
use strongid::flows::{Flow, FlowConfig, Standardize};
use strongid::io::Dataset;
use strongid::ivae::fit::NegElbo;
use strongid::ivae::{Vae, VaeConfig, Variant};
use strongid::matrix::Matrix;
use strongid::nn::Activation;
use strongid::tensor;
use strongid::train::{Objective, TrainConfig, Trainer, stream};
use strongid::transforms::TransformKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// iVAE (mean-variance priors), the official architecture's sizes.
    Ivae,
    /// tmi-flow: MADE conditioners + rational-quadratic splines (or affine, --transform).
    Flow,
    /// Inference: tmi-flow log-density of every row (after --warmup training steps).
    FlowLogprob,
    /// Inference: tmi-flow encoding z = T(x) of every row.
    FlowEncode,
    /// Inference: iVAE posterior means of every row.
    IvaeEncode,
}

#[derive(Parser, Debug)]
struct Args {
    workload: Workload,
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 100)]
    hidden: usize,
    /// Hidden layers per network (2 = the official "3 layers": in → h → h → out).
    #[arg(long, default_value_t = 2)]
    hidden_layers: usize,
    /// Flow steps.
    #[arg(long, default_value_t = 5)]
    layers: usize,
    #[arg(long, default_value_t = 8)]
    bins: usize,
    /// Flow transform: spline or affine.
    #[arg(long, default_value = "spline")]
    transform: String,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Timed steps (after the warm-up).
    #[arg(long, default_value_t = 500)]
    steps: usize,
    #[arg(long, default_value_t = 50)]
    warmup: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cargo bench passes --bench; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Every 10th row validates, the rest train (the same rule in bench/torch).
fn split(n: usize) -> (Vec<usize>, Vec<usize>) {
    ((0..n).filter(|i| i % 10 != 0).collect(), (0..n).filter(|i| i % 10 == 0).collect())
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok()).map_or(f64::NAN, |kb| kb / 1024.0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run(obj: &impl Objective, params: &[tensor::Tensor<2>], n: usize, a: &Args) -> serde_json::Value {
    let cfg = TrainConfig { lr: a.lr, seed: a.seed, ..TrainConfig::default() };
    let (mut train, val) = split(n);
    let mut trainer = Trainer::new(obj, params, &cfg);
    let mut order = ChaCha8Rng::seed_from_u64(a.seed);
    let mut times = Vec::with_capacity(a.steps);
    let mut last_loss = Vec::new();
    let total = a.warmup + a.steps;
    let wall = Instant::now();
    'outer: loop {
        train.shuffle(&mut order);
        for batch in train.chunks_exact(a.batch) {
            let t = Instant::now();
            last_loss.push(trainer.step(batch).expect("finite loss"));
            if trainer.steps > a.warmup {
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            if trainer.steps == total {
                break 'outer;
            }
        }
    }
    let wall = wall.elapsed().as_secs_f64();
    let val_loss = tensor::scalar(obj.loss(&trainer.params.tensors(), &val, &mut stream(a.seed, 99)));
    let (p10, p90) = {
        let mut s = times.clone();
        s.sort_by(f64::total_cmp);
        (s[s.len() / 10], s[s.len() * 9 / 10])
    };
    let med = median(&mut times);
    serde_json::json!({
        "impl": "strongid", "workload": format!("{:?}", a.workload).to_lowercase(), "batch": a.batch, "hidden": a.hidden,
        "threads": std::env::var("RAYON_NUM_THREADS").ok(), "steps": total, "median_ms": med, "p10_ms": p10, "p90_ms": p90,
        "samples_per_s": a.batch as f64 / med * 1e3, "wall_s": wall, "peak_rss_mb": peak_rss_mb(),
        "final_train_loss": last_loss.last(), "val_loss": val_loss,
    })
}

/// Time one inference pass over all rows (after `warmup` training steps so the map is not the
/// identity); reports points per second.
fn infer(a: &Args, n: usize, pass: impl Fn() -> usize) -> serde_json::Value {
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let rows = pass();
        assert_eq!(rows, n);
        times.push(t.elapsed().as_secs_f64());
    }
    let med = median(&mut times);
    serde_json::json!({
        "impl": "strongid", "workload": format!("{:?}", a.workload).to_lowercase(), "rows": n, "hidden": a.hidden,
        "threads": std::env::var("RAYON_NUM_THREADS").ok(), "median_s": med, "points_per_s": n as f64 / med, "peak_rss_mb": peak_rss_mb(),
    })
}

/// Seconds the encoder's dense GEMMs alone take for n rows on one thread, in the chunks the
/// encoder uses (input `dense` columns → `hidden_layers` × `hidden` → `out`): a floor for the
/// iVAE encoding time that no fusing of the element-wise work can go below.
fn gemm_floor(n: usize, dense: usize, hidden: usize, hidden_layers: usize, out: usize) -> f64 {
    const CHUNK: usize = 1024;
    let mut sizes = vec![dense];
    sizes.extend(std::iter::repeat_n(hidden, hidden_layers));
    sizes.push(out);
    let weights: Vec<Vec<f32>> = sizes.windows(2).map(|w| vec![0.01; w[0] * w[1]]).collect();
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        for start in (0..n).step_by(CHUNK) {
            let m = CHUNK.min(n - start);
            let mut h = vec![0.5f32; m * dense];
            for (w, s) in weights.iter().zip(sizes.windows(2)) {
                let mut o = vec![0.0f32; m * s[1]];
                strongid::nn::cpu::matmul(&mut o, &h, w, m, s[0], s[1], false, false, true);
                h = o;
            }
            std::hint::black_box(&h);
        }
        times.push(t.elapsed().as_secs_f64());
    }
    median(&mut times)
}

/// Train `steps` steps of `obj` from `params`; the trained parameters.
fn warm_params(obj: &impl Objective, params: &[tensor::Tensor<2>], a: &Args) -> Vec<tensor::Tensor<2>> {
    let cfg = TrainConfig { lr: a.lr, seed: a.seed, ..TrainConfig::default() };
    let mut trainer = Trainer::new(obj, params, &cfg);
    let (train, _) = split(obj.n_rows());
    for batch in train.chunks_exact(a.batch).take(a.warmup) {
        trainer.step(batch).expect("finite loss");
    }
    trainer.params.tensors()
}

fn main() {
    let a = Args::parse();
    let ds = Dataset::load(&a.data).unwrap_or_else(|e| panic!("{e}"));
    let x = &ds.x;
    let ivae = || {
        let u = ds.u.as_ref().and_then(strongid::io::Aux::labels).expect("the ivae workloads need labels in u.npy");
        let mut envs = u.to_vec();
        envs.sort_unstable();
        envs.dedup();
        let config = VaeConfig {
            variant: Variant::Ivae, obs_dim: x.cols, latent_dim: x.cols, envs, hidden: a.hidden, hidden_layers: a.hidden_layers,
            activation: Activation::Xtanh, decoder_var: 0.01, prior_mean: true, anchors: Vec::new(), anchor_check: None, learn_decoder_var: false, standardize: None,
            posterior: strongid::ivae::PosteriorKind::Diagonal, aux_dim: 0, weighted: None, anchors_learned: false,
        };
        let vae = Vae::new(config, &mut stream(a.seed, 1));
        let onehot: Matrix = vae.one_hot(u, &a.data.join("u.npy")).expect("labels");
        (vae, onehot)
    };
    let flow = || {
        let transform = match a.transform.as_str() {
            "affine" => TransformKind::Affine,
            _ => TransformKind::Spline { bins: a.bins, tail_bound: 4.0 },
        };
        let config = FlowConfig { dim: x.cols, layers: a.layers, hidden: a.hidden, hidden_layers: a.hidden_layers, transform, triangular: true, linear: false };
        let standardize = Standardize::fit(&x.select_rows(&split(x.rows).0));
        Flow::new(config, standardize, &mut stream(a.seed, 1))
    };
    let out = match a.workload {
        Workload::Ivae => {
            let (vae, onehot) = ivae();
            run(&NegElbo::new(&vae, x, &onehot), &vae.params.values, x.rows, &a)
        }
        Workload::Flow => {
            let flow = flow();
            let mut out = run(&FlowNll { flow: &flow, x }, &flow.params.values, x.rows, &a);
            out["transform"] = a.transform.clone().into();
            out
        }
        Workload::FlowLogprob | Workload::FlowEncode => {
            let mut flow = flow();
            let trained = warm_params(&FlowNll { flow: &flow, x }, &flow.params.values, &a);
            flow.params.values = trained;
            let encode = a.workload == Workload::FlowEncode;
            infer(&a, x.rows, || if encode { flow.encode(x).rows } else { flow.log_prob(x).len() })
        }
        Workload::IvaeEncode => {
            let (mut vae, onehot) = ivae();
            let trained = warm_params(&NegElbo::new(&vae, x, &onehot), &vae.params.values, &a);
            vae.params.values = trained;
            let mut out = infer(&a, x.rows, || vae.encode(x, &onehot, None).rows);
            out["gemm_only_1t_s"] = gemm_floor(x.rows, x.cols, a.hidden, a.hidden_layers, 2 * x.cols).into();
            out
        }
    };
    println!("{out}");
}
