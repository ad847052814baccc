//! The `strongid` command line: argument parsing and printing only; the work is in the library.
use crate::error::{Error, Result};
use crate::flows::FlowConfig;
use crate::io::{self, Dataset};
use crate::matrix::Matrix;
use crate::metrics::{self, Scores};
use crate::models::{Model, ModelKind};
use crate::simulate;
use crate::train::TrainConfig;
use crate::transforms::TransformKind;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "strongid", version, about = "Strongly identifiable generative models: fit, encode, sample, evaluate.")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a dataset with known latents (writes x.npy, z.npy, meta.json).
    Simulate {
        recipe: Recipe,
        #[arg(long)]
        dim: usize,
        #[arg(long)]
        n: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing dataset in --out.
        #[arg(long)]
        force: bool,
    },
    /// Fit a model by maximum likelihood and save it.
    Fit(FitArgs),
    /// Encode observations: z = T(x).
    Encode {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Draw samples from a fitted model.
    Sample {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        n: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Exact log-density of each row.
    Logprob {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Identifiability metrics between true and learned latents.
    Eval {
        #[arg(long = "true")]
        truth: PathBuf,
        #[arg(long)]
        learned: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a saved model's kind, dimensions, configuration and training summary.
    Inspect { model: PathBuf },
    /// Simulate TMI data, fit tmi-flow and the permuting flow, print their metrics side by side.
    Demo {
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Recipe {
    /// x = G(z), G a random triangular monotone increasing map (Thm 5.1 setting).
    Tmi,
    /// x = L z, L lower-triangular: the exact KR map is L⁻¹.
    Gaussian,
}

#[derive(Clone, Copy, ValueEnum)]
enum TransformArg {
    Affine,
    Spline,
}

#[derive(Args)]
struct FitArgs {
    kind: ModelKind,
    /// A dataset directory (x.npy) or an .npy / .csv file of observations.
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "spline")]
    transform: TransformArg,
    #[arg(long, default_value_t = 8)]
    bins: usize,
    /// Splines act on [−B, B] (standardised units) and are the identity outside.
    #[arg(long, default_value_t = 4.0)]
    tail_bound: f64,
    #[arg(long, default_value_t = 3)]
    layers: usize,
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    #[arg(long, default_value_t = 2)]
    hidden_layers: usize,
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    #[arg(long, default_value_t = 256)]
    batch: usize,
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Early stopping: epochs without a better validation loss.
    #[arg(long, default_value_t = 10)]
    patience: usize,
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Replace an existing file at --out.
    #[arg(long)]
    force: bool,
}

impl FitArgs {
    fn flow_config(&self, dim: usize) -> FlowConfig {
        let transform = match self.transform {
            TransformArg::Affine => TransformKind::Affine,
            TransformArg::Spline => TransformKind::Spline { bins: self.bins, tail_bound: self.tail_bound },
        };
        FlowConfig { dim, layers: self.layers, hidden: self.hidden, hidden_layers: self.hidden_layers, transform, triangular: self.kind == ModelKind::TmiFlow }
    }
    fn train_config(&self) -> TrainConfig {
        TrainConfig { epochs: self.epochs, batch: self.batch, lr: self.lr, seed: self.seed, val_fraction: self.val_fraction, patience: self.patience, ..TrainConfig::default() }
    }
}

/// Refuse to replace an existing output unless asked to: nothing the user had is lost by a typo.
fn check_out(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        return Err(Error::input(path, "already exists; choose another --out or pass --force to replace it"));
    }
    Ok(())
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate { recipe, dim, n, seed, out, force } => {
            let ds = match recipe {
                Recipe::Tmi => simulate::tmi::simulate(dim, n, seed)?.0,
                Recipe::Gaussian => simulate::gaussian::simulate(dim, n, seed)?.dataset,
            };
            ds.save(&out, force)?;
            println!("wrote {} rows × {} columns to {}", ds.x.rows, ds.x.cols, out.display());
        }
        Command::Fit(args) => fit(&args)?,
        Command::Encode { model, data, out, force } => {
            check_out(&out, force)?;
            let m = Model::load(&model)?;
            let x = io::read_matrix(&data)?;
            m.check_columns(&data, x.cols)?;
            io::write_npy(&out, &m.encode(&x))?;
        }
        Command::Sample { model, n, seed, out, force } => {
            check_out(&out, force)?;
            io::write_npy(&out, &Model::load(&model)?.sample(n, seed))?;
        }
        Command::Logprob { model, data, out, force } => {
            check_out(&out, force)?;
            let m = Model::load(&model)?;
            let x = io::read_matrix(&data)?;
            m.check_columns(&data, x.cols)?;
            let lp = m.log_prob(&x);
            let mean = lp.iter().sum::<f64>() / lp.len() as f64;
            io::write_npy(&out, &Matrix::new(lp.len(), 1, lp))?;
            println!("mean log-density {mean:.4} nats over {} rows", x.rows);
        }
        Command::Eval { truth, learned, json } => {
            let z = io::read_matrix(&truth)?;
            let zhat = io::read_matrix(&learned)?;
            if (z.rows, z.cols) != (zhat.rows, zhat.cols) {
                return Err(Error::input(&learned, format!("is {} × {} but {} is {} × {}", zhat.rows, zhat.cols, truth.display(), z.rows, z.cols)));
            }
            let scores = metrics::evaluate(&z, &zhat)?;
            if json {
                println!("{}", serde_json::to_string(&scores).expect("scores serialize"));
            } else {
                print_scores(&[("learned", &scores)]);
            }
        }
        Command::Inspect { model } => {
            let m = Model::load(&model)?;
            println!("kind          {}", m.kind.name());
            println!("dim           {}", m.dim());
            println!("parameters    {}", m.flow.params.count());
            println!("architecture  {}", serde_json::to_string(&m.flow.config).expect("serializes"));
            println!("training      {}", serde_json::to_string(&m.train).expect("serializes"));
            let r = &m.report;
            println!(
                "fit           {} epochs ({} steps, {:.1} s), best validation NLL {:.4} at epoch {}, {} train / {} validation rows",
                r.epochs_run, r.steps, r.seconds, r.best_val_loss, r.best_epoch, r.n_train, r.n_val
            );
        }
        Command::Demo { seed } => crate::demo::run(seed)?,
    }
    Ok(())
}

fn fit(args: &FitArgs) -> Result<()> {
    check_out(&args.out, args.force)?;
    let ds = Dataset::load(&args.data)?;
    let (flow, report) = crate::flows::fit::fit(args.flow_config(ds.x.cols), &ds.x, &args.train_config(), !args.quiet)?;
    let model = Model { kind: args.kind, flow, train: args.train_config(), report };
    model.save(&args.out)?;
    let r = &model.report;
    println!(
        "{}: {} epochs in {:.1} s, best validation NLL {:.4} nats (epoch {}); saved {}",
        args.kind.name(), r.epochs_run, r.seconds, r.best_val_loss, r.best_epoch, args.out.display()
    );
    if let Some(z) = &ds.z {
        print_scores(&[(args.kind.name(), &metrics::evaluate(z, &model.encode(&ds.x))?)]);
    }
    Ok(())
}

/// Metrics of several fits side by side, one column each.
pub fn print_scores(cols: &[(&str, &Scores)]) {
    print!("{:<16}", "metric");
    for (name, _) in cols {
        print!("{name:>14}");
    }
    println!();
    let rows: [(&str, fn(&Scores) -> f64); 5] = [
        ("strong_mcc", |s| s.strong_mcc),
        ("mcc", |s| s.mcc),
        ("mcc_spearman", |s| s.mcc_spearman),
        ("affine_r2", |s| s.affine_r2),
        ("identity_rmse", |s| s.identity_rmse),
    ];
    for (label, get) in rows {
        print!("{label:<16}");
        for (_, s) in cols {
            print!("{:>14.4}", get(s));
        }
        println!();
    }
}
