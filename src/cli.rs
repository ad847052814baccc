//! The `strongid` command line: argument parsing and printing only; the work is in the library.
use crate::error::{Error, Result};
use crate::io::{self, AuxKind, Dataset};
use crate::metrics::{self, Scores};
use crate::fit::{FitOptions, labels};
use crate::models::{Fitted, Model, ModelKind};
use crate::nn::Activation;
use crate::simulate::ivae::{Mixing, Modulation, SourcePrior};
use crate::simulate;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "strongid", version, about = "Strongly identifiable generative models: fit, encode, sample, evaluate.")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a dataset with known latents (writes x.npy, z.npy, [u.npy, priors.json], meta.json).
    #[command(subcommand)]
    Simulate(SimulateCmd),
    /// Real datasets that install with strongid (no ground-truth latent): list them, or export one as a dataset directory.
    #[command(subcommand)]
    Datasets(DatasetsCmd),
    /// Fit a model by maximum likelihood and save it.
    Fit(FitArgs),
    /// Encode observations: z = T(x) for flows, the posterior mean for the others.
    Encode {
        /// A model file written by `strongid fit`.
        #[arg(long)]
        model: PathBuf,
        /// Observations: an .npy / .csv file (n × D), or a dataset directory (its x.npy, and its u.npy for the iVAE family).
        #[arg(long)]
        data: PathBuf,
        /// u for the iVAE family: environment labels or a real-valued matrix (overrides the
        /// dataset's u.npy).
        #[arg(long)]
        aux: Option<PathBuf>,
        /// How to read u (default: as the model was trained).
        #[arg(long, value_enum)]
        aux_kind: Option<AuxKind>,
        /// A posterior sample instead of the posterior mean (iVAE family), seeded by --seed.
        #[arg(long)]
        sample: bool,
        /// The posterior mean by self-normalised importance sampling with this many draws per row
        /// from the encoder (vae and the iVAE family's MLP generator; 0: the encoder's mean).
        /// Removes the encoder's amortisation gap: on noisy data 512 draws raised strong_mcc by
        /// 0.002–0.004 toward the Bayes-optimal code's (data seeds 201–210). Seeded by --seed
        #[arg(long, default_value_t = 0, conflicts_with = "sample", value_parser = clap::value_parser!(u64).range(0..=100_000))]
        importance_samples: u64,
        /// Seeds the posterior draws of --sample and --importance-samples.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to write the codes (.npy, n × d).
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file at --out.
        #[arg(long)]
        force: bool,
    },
    /// Draw samples from a fitted model.
    Sample {
        /// A model file written by `strongid fit`.
        #[arg(long)]
        model: PathBuf,
        /// How many samples.
        #[arg(long)]
        n: usize,
        /// Seeds the draws.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// iVAE family: sample from this environment's prior (default: environments drawn uniformly).
        #[arg(long, conflicts_with = "aux")]
        env: Option<i64>,
        /// ivae with a real-valued u: one row of u per sample (then --n must match its rows).
        #[arg(long)]
        aux: Option<PathBuf>,
        /// Where to write the samples (.npy, n × D).
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file at --out.
        #[arg(long)]
        force: bool,
    },
    /// Exact log-density of each row (log p(x | u) for the iVAE family's flow generator).
    Logprob {
        /// A model file written by `strongid fit` (a flow, factor analysis, or ivae / ivae-frozen with the flow generator).
        #[arg(long)]
        model: PathBuf,
        /// Observations: an .npy / .csv file (n × D), or a dataset directory (its x.npy, and its u.npy for the iVAE family).
        #[arg(long)]
        data: PathBuf,
        /// Environment labels for the iVAE family's flow generator (overrides the dataset's u.npy).
        #[arg(long)]
        aux: Option<PathBuf>,
        /// Where to write the log-densities (.npy, n × 1, nats).
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file at --out.
        #[arg(long)]
        force: bool,
    },
    /// Identifiability metrics between true and learned latents.
    Eval {
        /// The true latents (.npy / .csv, n × d), e.g. a simulated dataset's z.npy.
        #[arg(long = "true")]
        truth: PathBuf,
        /// The learned codes (.npy / .csv, n × d), e.g. written by `strongid encode`.
        #[arg(long)]
        learned: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a saved model's kind, dimensions, configuration and training summary.
    Inspect {
        /// A model file written by `strongid fit`.
        model: PathBuf,
    },
    /// Studies: seed × data × model sweeps as independent, resumable tasks (any scheduler).
    #[command(subcommand)]
    Study(StudyCmd),
    /// Run the experiment suite (E1–E6) and write results.json, results.md and report.html.
    Experiments {
        /// Small settings, a few minutes (the default).
        #[arg(long, conflicts_with = "full")]
        quick: bool,
        /// Paper-scale settings (M = 40, L = 1000, 5 seeds).
        #[arg(long)]
        full: bool,
        /// Output directory (results.json, results.md, report.html, the figures).
        #[arg(long, default_value = "strongid-experiments")]
        out: PathBuf,
        /// Only these experiments, comma-separated (e.g. E1,E5).
        #[arg(long, value_delimiter = ',')]
        only: Option<Vec<String>>,
        /// Keep the rows an earlier (e.g. interrupted) run finished into --out, refitting only
        /// the rest.
        #[arg(long)]
        resume: bool,
    },
    /// Fit several restarts and measure the empirical indeterminacy between their codes.
    Probe {
        /// The model kind whose restarts are compared.
        kind: ModelKind,
        /// A dataset directory (x.npy, and u.npy for the iVAE family) or an .npy / .csv file.
        #[arg(long)]
        data: PathBuf,
        /// u: environment labels or a real-valued matrix (overrides the dataset's u.npy).
        #[arg(long)]
        aux: Option<PathBuf>,
        /// How to read u: labels if it is one column of integers, else real-valued.
        #[arg(long, value_enum, default_value = "auto")]
        aux_kind: AuxKind,
        /// How many restarts to fit (seeds seed, seed+1, …) and compare pairwise.
        #[arg(long, default_value_t = 4)]
        restarts: usize,
        /// Agreement needed at a level for every pair.
        #[arg(long, default_value_t = 0.95)]
        threshold: f64,
        /// Also run the null controls: the same restarts with u shuffled across rows and with the environments merged.
        #[arg(long)]
        controls: bool,
        /// Write DIR/report.html (verdict, per-coordinate heat maps beside the controls, peer scores, scatter, environment means) and DIR/probe.json.
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
        /// Write each restart's code of the data as DIR/code_seed<S>.npy (DIR is created; existing codes are never overwritten).
        #[arg(long, value_name = "DIR")]
        save_codes: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        opts: FitOptions,
    },
    /// The indeterminacy set of a model kind (or the whole catalogue) and which tasks it allows.
    Theory {
        /// A model kind; omit for the whole catalogue.
        kind: Option<ModelKind>,
        /// Latent dimension of the model class.
        #[arg(long, default_value_t = 3)]
        dim: usize,
        /// ivae-frozen: the anchor priors (their check decides the set).
        #[arg(long)]
        anchors: Option<PathBuf>,
        /// ivae: variance-only priors (the official code).
        #[arg(long)]
        variance_only: bool,
        /// A fitted model: its kind, dimension and anchors are used, and the random member of
        /// A(M) is applied to its codes of --data.
        #[arg(long, requires = "data")]
        model: Option<PathBuf>,
        /// Observations that --model encodes.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Seeds the random member of A(M) and the probe codes.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// OT → KR limit (§5.2): closed-form and empirical error of c_t-optimal maps against KR.
    OtKr {
        /// Dimension of the two Gaussians.
        #[arg(long, default_value_t = 2)]
        dim: usize,
        /// Largest sample size of the empirical grid (also n/2, n/4, n/8).
        #[arg(long, default_value_t = 2000)]
        n: usize,
        /// Seeds the pair of Gaussians and the samples.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to write the SVG plot.
        #[arg(long, default_value = "ot-kr.svg")]
        plot: PathBuf,
        /// Replace an existing file at --plot.
        #[arg(long)]
        force: bool,
    },
    /// The main job on built-in data: the quick experiment suite (E1–E6), a few minutes.
    Demo {
        /// Output directory (results.md, results.json, report.html).
        #[arg(long, default_value = "strongid-demo")]
        out: PathBuf,
    },
}

#[derive(Args)]
struct SimOut {
    /// Seeds every random draw of the recipe: the same seed gives the same bytes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory (created).
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing dataset in --out.
    #[arg(long)]
    force: bool,
}

#[derive(Subcommand)]
enum StudyCmd {
    /// Expand a study file (JSON) into tasks: DIR/study.json and DIR/manifest.json.
    Plan {
        /// The study file (JSON: datasets, models, seeds).
        file: PathBuf,
        /// The study directory to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run one task (--index I or --task ID), or every unfinished one in order (--all).
    Run {
        /// The study directory (written by `study plan`).
        dir: PathBuf,
        /// Run the task at this index of manifest.json (what a Slurm array job runs).
        #[arg(long)]
        index: Option<usize>,
        /// Run the task with this id.
        #[arg(long)]
        task: Option<String>,
        /// Run every unfinished task, in order.
        #[arg(long, conflicts_with_all = ["index", "task"])]
        all: bool,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Tasks done, running, failed and pending.
    Status {
        /// The study directory.
        dir: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Merge the finished tasks into results.json, results.md and report.html.
    Collect {
        /// The study directory.
        dir: PathBuf,
        /// Where to write them (default: DIR).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a Slurm array script running every task once.
    Slurm {
        /// The study directory (on a filesystem the nodes share).
        dir: PathBuf,
        /// At most this many tasks at once (%P).
        #[arg(long, default_value_t = 16)]
        parallel: usize,
        /// Cores per task (its RAYON_NUM_THREADS).
        #[arg(long, default_value_t = 1)]
        cpus: usize,
        /// Default: DIR/slurm.sh.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DatasetsCmd {
    /// One line per built-in dataset: what it holds and where it comes from.
    List,
    /// Write a built-in dataset as a directory: x.npy, u.npy (the environments, if any), meta.json (conditions, columns, provenance, preprocessing) and the source file as published.
    Export {
        /// The dataset (see `strongid datasets list`).
        name: String,
        /// For a collection (tuebingen): which member, 1-based.
        #[arg(long)]
        pair: Option<usize>,
        /// Output directory (created).
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing dataset in --out.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum SimulateCmd {
    /// x = G(z), G a random triangular monotone increasing map (Thm 5.1 setting).
    Tmi {
        /// Latent dimension (= observed dimension).
        #[arg(long)]
        dim: usize,
        /// Rows.
        #[arg(long)]
        n: usize,
        #[command(flatten)]
        out: SimOut,
    },
    /// x = L z, L lower-triangular: the exact KR map is L⁻¹.
    Gaussian {
        /// Latent dimension (= observed dimension).
        #[arg(long)]
        dim: usize,
        /// Rows.
        #[arg(long)]
        n: usize,
        #[command(flatten)]
        out: SimOut,
    },
    /// The official iVAE recipe: segment-modulated sources, MLP mixing (THEORY §4).
    Ivae {
        /// Latent dimension d.
        #[arg(long, default_value_t = 5)]
        latent_dim: usize,
        /// Observed dimension D (at least d).
        #[arg(long, default_value_t = 5)]
        obs_dim: usize,
        /// Segments (environments, the labels u).
        #[arg(long, default_value_t = 40)]
        segments: usize,
        /// Rows per segment.
        #[arg(long, default_value_t = 1000)]
        per_segment: usize,
        /// Layers of the mixing MLP (1: linear mixing).
        #[arg(long, default_value_t = 3)]
        mixing_layers: usize,
        /// The sources' distribution within a segment.
        #[arg(long, value_enum, default_value = "gauss")]
        prior: SourcePrior,
        /// What the segments modulate: the sources' variance (the official recipe) or their mean and variance.
        #[arg(long, value_enum, default_value = "variance")]
        modulation: Modulation,
        /// Activation after every mixing layer but the last.
        #[arg(long, value_enum, default_value = "xtanh")]
        activation: Activation,
        /// shared: one mixing matrix in every layer, as the official dataset class generates;
        /// fresh: a new matrix per layer.
        #[arg(long, value_enum, default_value = "shared")]
        mixing: Mixing,
        /// Standard deviation of Gaussian observation noise.
        #[arg(long, default_value_t = 0.0)]
        noise: f64,
        /// A real-valued u with this many columns (U(−1, 1) per row) on which the prior's scales
        /// (and means) depend smoothly, instead of segment labels; rows = segments × per-segment.
        #[arg(long, default_value_t = 0)]
        u_dim: usize,
        #[command(flatten)]
        out: SimOut,
    },
    /// App. F.1: x = α + F z + ε, z ~ N(μ_e, I) in environment e.
    LinearEnv {
        /// Environments (the labels u).
        #[arg(long)]
        envs: usize,
        /// Latent dimension d.
        #[arg(long, default_value_t = 2)]
        latent_dim: usize,
        /// Observed dimension D.
        #[arg(long, default_value_t = 10)]
        obs_dim: usize,
        /// Rows per environment.
        #[arg(long, default_value_t = 2000)]
        per_env: usize,
        /// Standard deviation of the observation noise ε.
        #[arg(long, default_value_t = 0.1)]
        noise: f64,
        #[command(flatten)]
        out: SimOut,
    },
}


#[derive(Args)]
struct FitArgs {
    /// The model kind (what each is identifiable up to: `strongid theory KIND`).
    kind: ModelKind,
    /// A dataset directory (x.npy, and u.npy for the iVAE family) or an .npy / .csv file.
    #[arg(long)]
    data: PathBuf,
    /// Where to write the model (a .safetensors file).
    #[arg(long)]
    out: PathBuf,
    /// u: environment labels (one integer per row) or a real-valued n × k matrix (the prior is
    /// then a network λ(u); ivae only). Overrides the dataset's u.npy.
    #[arg(long)]
    aux: Option<PathBuf>,
    /// How to read u: labels if it is one column of integers, else real-valued (auto).
    #[arg(long, value_enum, default_value = "auto")]
    aux_kind: AuxKind,
    #[command(flatten)]
    opts: FitOptions,
    /// Fit this many restarts (seeds seed, seed+1, …, in parallel), keep the best validation
    /// loss and certify that the best two agree as the theory predicts (default: 2 for ivae and
    /// ivae-frozen, 1 otherwise).
    #[arg(long)]
    restarts: Option<usize>,
    /// Replace an existing file at --out.
    #[arg(long)]
    force: bool,
    /// Save the fit's state to this file (every --checkpoint-every steps, at least every
    /// --checkpoint-minutes, and on Ctrl-C / SIGTERM), so that --resume can continue it; deleted
    /// once the model is saved.
    #[arg(long, help_heading = "Checkpoints")]
    checkpoint: Option<PathBuf>,
    /// Continue the fit saved in this checkpoint (the same command and data), keeping it up to
    /// date (or writing --checkpoint): the model equals an uninterrupted fit's, bit for bit.
    #[arg(long, help_heading = "Checkpoints")]
    resume: Option<PathBuf>,
    /// Also save every this many optimiser steps.
    #[arg(long, help_heading = "Checkpoints")]
    checkpoint_every: Option<usize>,
    /// Save the checkpoint at least this often.
    #[arg(long, default_value_t = 5.0, help_heading = "Checkpoints")]
    checkpoint_minutes: f64,
}

/// Refuse to replace an existing output unless asked to: nothing the user had is lost by a typo.
fn check_out(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        return Err(Error::input(path, "already exists; choose another --out or pass --force to replace it"));
    }
    Ok(())
}

/// `check_out` for the array outputs of encode, sample and logprob, which are written as .npy:
/// another extension (z.csv) would hold .npy bytes under a misleading name.
fn check_npy_out(path: &Path, force: bool) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() != Some("npy") {
        return Err(Error::input(path, "arrays are written as .npy: give --out a .npy name (numpy.load reads it; pandas via numpy)"));
    }
    check_out(path, force)
}

/// Rows per chunk when `encode` / `logprob` stream over their input: memory stays O(chunk).
const STREAM_CHUNK: usize = 65_536;

/// Rows of a data file that `m` will stream over, after checking its columns.
fn stream_rows(m: &Model, path: &Path) -> Result<usize> {
    m.check_columns(path, io::RowReader::open(path)?.cols())?;
    io::count_rows(path)
}

/// The observations and u a streaming command (`encode`, `logprob`) reads: x and its row count,
/// and u from `--aux`, else from a dataset directory's u.npy when `wants_labels`.
struct Rows {
    x_path: PathBuf,
    u_path: PathBuf,
    u: Option<io::Aux>,
    rows: usize,
}

fn rows_and_u(m: &Model, data: &Path, aux: Option<PathBuf>, kind: io::AuxKind, wants_labels: bool) -> Result<Rows> {
    let (x_path, u_path) = if data.is_dir() { (data.join("x.npy"), data.join("u.npy")) } else { (data.to_path_buf(), PathBuf::from("--aux")) };
    let (u_path, u) = match aux {
        Some(p) => (p.clone(), Some(io::read_aux(&p, kind)?)),
        None if wants_labels && u_path.exists() => (u_path.clone(), Some(io::read_aux(&u_path, kind)?)),
        None => (u_path, None),
    };
    let rows = stream_rows(m, &x_path)?;
    if let Some(u) = &u {
        if u.rows() != rows {
            return Err(Error::input(&u_path, format!("has {} rows of u but {} has {rows} rows", u.rows(), x_path.display())));
        }
        m.check_aux(u, &u_path)?;
    }
    Ok(Rows { x_path, u_path, u, rows })
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate(cmd) => simulate_cmd(cmd)?,
        Command::Datasets(DatasetsCmd::List) => {
            for name in crate::datasets::names() {
                crate::outln!("{}", crate::datasets::describe(name)?);
            }
        }
        Command::Datasets(DatasetsCmd::Export { name, pair, out, force }) => {
            let d = crate::datasets::load(&name, pair)?;
            d.export(&out, force)?;
            let envs = if d.u.is_some() { format!("{} environments", d.conditions.len()) } else { "no environments".into() };
            crate::outln!("wrote {} rows × {} columns, {envs}, to {}", d.x.rows, d.x.cols, out.display());
        }
        Command::Fit(args) => fit(&args)?,
        Command::Encode { model, data, aux, aux_kind, sample, importance_samples, seed, out, force } => {
            check_npy_out(&out, force)?;
            let m = Model::load(&model)?;
            if importance_samples > 0 {
                m.check_importance()?; // before any row is read
            }
            let kind = aux_kind.unwrap_or_else(|| m.aux_kind());
            let Rows { x_path, u_path, u, rows } = rows_and_u(&m, &data, aux, kind, m.needs_labels())?;
            let mut rng = sample.then(|| crate::train::stream(seed, 31));
            io::write_output(&out, force, |staging| {
                io::write_npy_rows(staging, rows, m.latent_dim(), |emit| {
                    let mut reader = io::RowReader::open(&x_path)?;
                    let mut start = 0;
                    while let Some(x) = reader.next_chunk(STREAM_CHUNK)? {
                        let chunk = u.as_ref().map(|u| u.slice_rows(start, x.rows));
                        let codes = if importance_samples > 0 {
                            m.encode_importance(&x, chunk.as_ref(), &u_path, importance_samples as usize, seed, start)?
                        } else {
                            m.encode_rows(&x, chunk.as_ref(), &u_path, rng.as_mut())?
                        };
                        emit(&codes.data)?;
                        start += x.rows;
                    }
                    Ok(())
                })
            })?;
            crate::outln!("wrote {rows} codes of dimension {} to {}", m.latent_dim(), out.display());
        }
        Command::Sample { model, n, seed, env, aux, out, force } => {
            check_npy_out(&out, force)?;
            let m = Model::load(&model)?;
            let x = match aux {
                Some(p) => {
                    let u = io::read_aux(&p, m.aux_kind())?;
                    if u.rows() != n {
                        return Err(Error::input(&p, format!("has {} rows of u but --n is {n}: give one row of u per sample", u.rows())));
                    }
                    m.sample_given_u(&u, &p, seed)?
                }
                None => m.sample(n, seed, env)?,
            };
            io::write_output(&out, force, |staging| io::write_npy(staging, &x))?;
            crate::outln!("wrote {} samples to {}", x.rows, out.display());
        }
        Command::Logprob { model, data, aux, out, force } => {
            check_npy_out(&out, force)?;
            let m = Model::load(&model)?;
            // The flow generator's density p(x | u) needs the labels its encoder does not.
            let wants_labels = m.needs_labels() || matches!(m.fitted, Fitted::FlowIvae(_));
            let Rows { x_path, u_path, u, rows } = rows_and_u(&m, &data, aux, m.aux_kind(), wants_labels)?;
            let mut total = 0.0;
            io::write_output(&out, force, |staging| {
                io::write_npy_rows(staging, rows, 1, |emit| {
                    let mut reader = io::RowReader::open(&x_path)?;
                    let mut start = 0;
                    while let Some(x) = reader.next_chunk(STREAM_CHUNK)? {
                        let chunk = u.as_ref().map(|u| u.slice_rows(start, x.rows));
                        let lp = m.log_prob(&x, chunk.as_ref(), &u_path)?;
                        total += lp.iter().sum::<f64>();
                        emit(&lp)?;
                        start += x.rows;
                    }
                    Ok(())
                })
            })?;
            crate::outln!("mean log-density {:.4} nats over {rows} rows", total / rows as f64);
        }
        Command::Eval { truth, learned, json } => {
            let z = io::read_matrix(&truth)?;
            let zhat = io::read_matrix(&learned)?;
            if (z.rows, z.cols) != (zhat.rows, zhat.cols) {
                return Err(Error::input(&learned, format!("is {} × {} but {} is {} × {}", zhat.rows, zhat.cols, truth.display(), z.rows, z.cols)));
            }
            let scores = metrics::evaluate(&z, &zhat)?;
            if json {
                crate::outln!("{}", serde_json::to_string(&scores).expect("scores serialize"));
            } else {
                print_scores(&[("learned", &scores)])?;
            }
        }
        Command::Inspect { model } => inspect(&Model::load(&model)?)?,
        Command::Study(cmd) => study_cmd(cmd)?,
        Command::Experiments { quick: _, full, out, only, resume } => {
            let mode = if full { crate::experiments::Mode::Full } else { crate::experiments::Mode::Quick };
            crate::experiments::run(mode, &out, only.as_deref(), resume)?;
        }
        Command::Probe { kind, data, aux, aux_kind, restarts, threshold, controls, report: report_dir, save_codes, json, opts } => {
            let ds = Dataset::load(&data)?;
            let (u, u_path) = labels(&ds, &data, aux.as_deref(), aux_kind)?;
            let code_paths: Vec<PathBuf> = (0..restarts as u64).filter_map(|r| save_codes.as_ref().map(|d| d.join(format!("code_seed{}.npy", opts.seed + r)))).collect();
            if let Some(p) = code_paths.iter().find(|p| p.exists()) {
                return Err(Error::input(p, "already exists: --save-codes never overwrites codes; choose another directory or remove them"));
            }
            let settings = crate::probe::ProbeSettings { restarts, threshold, controls };
            if let Some(dir) = &report_dir {
                crate::probe::report::check_free(dir)?;
            }
            let probe = crate::probe::probe(kind, &opts, &ds, u.as_ref(), &u_path, &settings)?;
            if let Some(dir) = &report_dir {
                let conditions: Option<Vec<String>> = ds.meta.as_ref().and_then(|m| serde_json::from_value(m["conditions"].clone()).ok());
                crate::probe::report::write(dir, &probe, u.as_ref(), ds.z.as_ref(), conditions.as_deref())?;
            }
            let crate::probe::Probe { report, codes } = probe;
            if let Some(dir) = &save_codes {
                std::fs::create_dir_all(dir).map_err(|e| Error::usage(format!("--save-codes {}: {e}", dir.display())))?;
                for (p, c) in code_paths.iter().zip(&codes) {
                    io::write_npy(p, c)?;
                }
            }
            if json {
                crate::outln!("{}", serde_json::to_string(&report).expect("report serializes"));
            } else {
                crate::out!("{}", report.to_text());
            }
        }
        Command::Theory { kind, dim, anchors, variance_only, model, data, seed } => {
            if let (Some(model), Some(data)) = (&model, &data) {
                let m = Model::load(model)?;
                let ds = Dataset::load(data)?;
                m.check_columns(data, ds.x.cols)?;
                let (u, u_path) = labels(&ds, data, None, AuxKind::Auto)?;
                let codes = m.encode(&ds.x, u.as_ref(), &u_path, None)?;
                let (check, var_only) = (m.fitted.anchor_check().cloned(), m.fitted.variance_only());
                if m.latent_dim() < 2 {
                    return Err(Error::usage("theory needs a latent dimension of at least 2"));
                }
                crate::out!("{}", crate::theory::explain(Some(m.kind), m.latent_dim(), check.as_ref(), var_only, seed, Some(&codes))?);
                return Ok(());
            }
            let check = match &anchors {
                Some(p) => {
                    let a = crate::priors::read_anchors(p)?;
                    if a[0].mean.len() != dim {
                        return Err(Error::input(p, format!("priors have dimension {} but --dim is {dim}", a[0].mean.len())));
                    }
                    Some(crate::priors::check_anchors(&a))
                }
                None => None,
            };
            crate::out!("{}", crate::theory::explain(kind, dim, check.as_ref(), variance_only, seed, None)?);
        }
        Command::OtKr { dim, n, seed, plot, force } => {
            check_out(&plot, force)?;
            crate::ot::limit::report(dim, n, seed, &plot)?;
        }
        Command::Demo { out } => crate::demo::run(&out)?,
    }
    Ok(())
}

fn fit(args: &FitArgs) -> Result<()> {
    check_out(&args.out, args.force)?;
    let restarts = args.restarts.unwrap_or_else(|| crate::certificate::default_restarts(args.kind));
    let ds = Dataset::load(&args.data)?;
    let (u, u_path) = labels(&ds, &args.data, args.aux.as_deref(), args.aux_kind)?;
    let mut opts = args.opts.clone();
    opts.checkpoint = checkpointing(args, restarts, &ds, u.as_ref())?;
    let model = crate::certificate::fit_certified(args.kind, &opts, &ds, u.as_ref(), &u_path, restarts)?;
    if let Some(c) = &model.certificate {
        for (seed, loss) in c.seeds.iter().zip(&c.validation_losses) {
            match loss {
                Some(l) => crate::outln!("restart seed {seed}: validation loss {l:.4}"),
                None => crate::outln!("restart seed {seed}: failed"),
            }
        }
    }
    io::write_output(&args.out, args.force, |staging| model.save(staging))?;
    if let Some(c) = &opts.checkpoint {
        // The model holds everything now; a checkpoint left behind would only mislead.
        let _ = std::fs::remove_file(c.path());
    }
    let r = &model.report;
    for rec in &r.recoveries {
        eprintln!(
            "warning: recovered from a divergence ({} at epoch {}, step {}): rolled back to the start of the epoch, learning rate {:.1e} → {:.1e}",
            rec.cause, rec.epoch, rec.step, rec.lr_from, rec.lr_to
        );
    }
    crate::outln!(
        "{}: {} epochs in {:.1} s, best validation loss {:.4} nats (epoch {}, seed {}); saved {}",
        args.kind.name(), r.epochs_run, r.seconds, r.best_val_loss, r.best_epoch, model.train.seed, args.out.display()
    );
    if let Some(check) = model_anchor_check(&model) {
        crate::outln!("anchors: {}", check.message);
    }
    match &model.auto_refit {
        Some(r) => crate::outln!("generator: {}", r.message()),
        None => {
            if let Some(why) = crate::fit::generator_reason(args.kind, &opts, ds.x.cols, u.as_ref())? {
                crate::outln!("generator: {why}");
            }
        }
    }
    if let Some(c) = &model.certificate {
        if let Some(p) = c.prior_fit.as_ref().filter(|p| p.fits()) {
            crate::outln!("model fit: {}", p.message());
        }
        if c.agrees {
            crate::outln!("certificate: {}", c.message());
        } else {
            eprintln!("warning: certificate: {}", c.message());
        }
    }
    if let Some(z) = &ds.z {
        if z.cols == model.latent_dim() {
            let zhat = model.encode(&ds.x, u.as_ref(), &u_path, None)?;
            print_scores(&[(args.kind.name(), &metrics::evaluate(z, &zhat)?)])?;
        }
    }
    Ok(())
}

/// The checkpoint `fit` saves to (--checkpoint, or the --resume file), with the state read back
/// from --resume; `None` without either option.
fn checkpointing(args: &FitArgs, restarts: usize, ds: &Dataset, u: Option<&io::Aux>) -> Result<Option<std::sync::Arc<crate::train::checkpoint::Checkpointing>>> {
    use crate::train::checkpoint::{Checkpointing, Fingerprint, INTERRUPTED};
    let Some(path) = args.checkpoint.as_ref().or(args.resume.as_ref()) else {
        if args.checkpoint_every.is_some() {
            return Err(Error::usage("--checkpoint-every needs --checkpoint FILE (or --resume FILE)"));
        }
        return Ok(None);
    };
    if !(args.checkpoint_minutes > 0.0 && args.checkpoint_minutes.is_finite()) {
        return Err(Error::usage(format!("--checkpoint-minutes must be a finite number > 0, got {}", args.checkpoint_minutes)));
    }
    if args.checkpoint_every == Some(0) {
        return Err(Error::usage("--checkpoint-every must be at least 1 step"));
    }
    if args.resume.as_ref() != Some(path) && path.exists() {
        return Err(Error::input(path, "already exists: pass --resume with it to continue that fit, or remove it to start over"));
    }
    if matches!(args.kind, ModelKind::Fa | ModelKind::FaTri) {
        return Err(Error::usage("factor analysis is fitted in one closed-form pass (EM to convergence): there is nothing to checkpoint"));
    }
    let mut command: std::collections::BTreeMap<String, serde_json::Value> = match serde_json::to_value(&args.opts) {
        Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
        _ => unreachable!("options serialise to an object"),
    };
    command.insert("kind".into(), args.kind.name().into());
    command.insert("restarts".into(), restarts.into());
    let mut h = io::Fnv1a::new();
    h.eat_matrix(&ds.x);
    if let Some(u) = u {
        h.eat_aux(u);
    }
    let fingerprint = Fingerprint { command, data: h.hex() };
    let every = std::time::Duration::from_secs_f64(args.checkpoint_minutes * 60.0);
    let c = Checkpointing::new(path, fingerprint, args.checkpoint_every, every, &INTERRUPTED);
    let c = match &args.resume {
        Some(from) => c.resume_from(from)?,
        None => c,
    };
    Ok(Some(std::sync::Arc::new(c)))
}

fn study_cmd(cmd: StudyCmd) -> Result<()> {
    use crate::study;
    match cmd {
        StudyCmd::Plan { file, out } => {
            let m = study::plan(&file, &out)?;
            crate::outln!("study '{}': {} tasks; wrote {}", m.name, m.tasks.len(), out.join("manifest.json").display());
        }
        StudyCmd::Run { dir, index, task, all, quiet } => {
            if all {
                // Every unfinished task, several at once; a failed one is recorded (failed/ID.txt)
                // and the run goes on.
                let r = study::run_all(&dir, quiet, |e| eprintln!("task {} ({}): done", e.index, e.id))?;
                for (i, err) in &r.failed {
                    eprintln!("task {i} failed: {err}");
                }
                let (ran, failed) = (r.ran.len(), r.failed.len());
                crate::outln!("{ran} tasks run, {failed} failed, {} already done", r.total - ran - failed);
                if failed > 0 {
                    return Err(Error::usage(format!("{failed} of {} tasks failed (strongid study status {} lists them)", r.total, dir.display())));
                }
            } else {
                let what = index.map_or_else(|| format!("task {}", task.clone().unwrap_or_default()), |i| format!("task {i}"));
                let ran = study::run_task(&dir, index, task.as_deref(), quiet)?;
                crate::outln!("{what}: {}", if ran { "done" } else { "already done (skipped)" });
            }
        }
        StudyCmd::Status { dir, json } => {
            let s = study::status(&dir)?;
            if json {
                crate::outln!("{}", serde_json::to_string(&s).expect("status serializes"));
            } else {
                crate::outln!("{} tasks: {} done, {} running, {} failed, {} pending", s.total, s.done.len(), s.running.len(), s.failed.len(), s.pending.len());
                for (i, msg) in &s.failed {
                    crate::outln!("  task {i} failed: {}", msg.lines().next().unwrap_or(""));
                }
            }
        }
        StudyCmd::Collect { dir, out } => {
            let out = out.unwrap_or_else(|| dir.clone());
            let (rows, missing) = study::collect(&dir, &out)?;
            crate::outln!("{rows} rows; wrote {}, results.md and report.html{}", out.join("results.json").display(), if missing > 0 { format!(" ({missing} tasks not done yet: their rows are left out)") } else { String::new() });
        }
        StudyCmd::Slurm { dir, parallel, cpus, out } => {
            let script = study::slurm_script(&dir, parallel, cpus)?;
            let out = out.unwrap_or_else(|| dir.join("slurm.sh"));
            io::atomic_write(&out, |w| w.write_all(script.as_bytes()))?;
            crate::outln!("wrote {} (sbatch {})", out.display(), out.display());
        }
    }
    Ok(())
}

fn model_anchor_check(m: &Model) -> Option<&crate::priors::AnchorCheck> {
    m.fitted.anchor_check()
}

fn simulate_cmd(cmd: SimulateCmd) -> Result<()> {
    let (ds, priors, out) = match cmd {
        SimulateCmd::Tmi { dim, n, out } => (simulate::tmi::simulate(dim, n, out.seed)?.0, None, out),
        SimulateCmd::Gaussian { dim, n, out } => (simulate::gaussian::simulate(dim, n, out.seed)?.dataset, None, out),
        SimulateCmd::Ivae { latent_dim, obs_dim, segments, per_segment, mixing_layers, prior, modulation, activation, mixing, noise, u_dim, out } => {
            let recipe = simulate::ivae::IvaeRecipe { latent_dim, obs_dim, segments, per_segment, mixing_layers, prior, modulation, activation, mixing, noise, seed: out.seed, u_dim };
            let sim = simulate::ivae::simulate(&recipe)?;
            // A real-valued u has no environments, so no per-environment priors to write.
            let priors = (u_dim == 0).then_some(sim.priors);
            (sim.dataset, priors, out)
        }
        SimulateCmd::LinearEnv { envs, latent_dim, obs_dim, per_env, noise, out } => {
            let sim = simulate::linear_env::simulate(envs, latent_dim, obs_dim, per_env, noise, out.seed)?;
            (sim.dataset, Some(sim.priors), out)
        }
    };
    let priors_json = priors.map(|p| serde_json::to_string_pretty(&p).expect("priors serialize"));
    let extras: Vec<(&str, &[u8])> = priors_json.iter().map(|t| ("priors.json", t.as_bytes())).collect();
    ds.save_with(&out.out, out.force, &extras)?;
    crate::outln!("wrote {} rows × {} columns to {}", ds.x.rows, ds.x.cols, out.out.display());
    Ok(())
}

fn inspect(m: &Model) -> Result<()> {
    crate::outln!("kind          {}", m.kind.name());
    crate::outln!("dimensions    observed {}, latent {}", m.obs_dim(), m.latent_dim());
    match &m.fitted {
        Fitted::Flow(f) => {
            crate::outln!("parameters    {}", f.params.count());
            crate::outln!("architecture  {}", serde_json::to_string(&f.config).expect("serializes"));
        }
        Fitted::Vae(v) => {
            crate::outln!("parameters    {}", v.params.count());
            if v.config.variant != crate::ivae::Variant::Vae {
                let noise = v.noise_sd().iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>().join(" ");
                let how = if v.config.learn_decoder_var { "learned" } else { "fixed" };
                crate::outln!("generator     mlp (decoder and encoder on the ELBO), observation noise sd {noise} ({how}, data units)");
            }
            let mut c = v.config.clone();
            c.anchors.clear();
            c.anchor_check = None;
            crate::outln!("architecture  {}", serde_json::to_string(&c).expect("serializes"));
            if let Some(check) = &v.config.anchor_check {
                crate::outln!("anchor check  {}", check.message);
            }
            for a in &v.config.anchors {
                crate::outln!("frozen prior  env {:>4}  mean {:?}  var {:?}", a.env, a.mean, a.var);
            }
        }
        Fitted::FlowIvae(f) => {
            crate::outln!("parameters    {}", f.params().count());
            crate::outln!("generator     flow (exact likelihood), {}", serde_json::to_string(&f.config.flow).expect("serializes"));
            crate::outln!("environments  {} ({} priors)", f.config.envs.len(), if f.config.prior_mean { "mean-variance" } else { "variance-only" });
            if let Some(check) = &f.config.anchor_check {
                crate::outln!("anchor check  {}", check.message);
            }
            for a in &f.config.anchors {
                crate::outln!("frozen prior  env {:>4}  mean {:?}  var {:?}", a.env, a.mean, a.var);
            }
        }
        Fitted::Fa(fa) => {
            crate::outln!("loading       {:?}", (0..fa.loading.rows).map(|i| fa.loading.row(i).to_vec()).collect::<Vec<_>>());
            crate::outln!("noise var     {:?}", fa.noise_var);
        }
    }
    if let Some(r) = &m.auto_refit {
        crate::outln!("auto          {}", r.message());
    }
    crate::outln!("training      {}", serde_json::to_string(&m.train).expect("serializes"));
    match &m.certificate {
        Some(c) => crate::outln!("certificate   {}", c.message()),
        None => crate::outln!("certificate   none (a single fit: nothing to compare it with)"),
    }
    if let Some(p) = m.certificate.as_ref().and_then(|c| c.prior_fit.as_ref()) {
        crate::outln!("model fit     {}", p.message());
    }
    let r = &m.report;
    crate::outln!(
        "fit           {} epochs ({} steps), best validation loss {:.4} at epoch {}, {} train / {} validation rows",
        r.epochs_run, r.steps, r.best_val_loss, r.best_epoch, r.n_train, r.n_val
    );
    Ok(())
}

/// Metrics of several fits side by side, one column each.
pub fn print_scores(cols: &[(&str, &Scores)]) -> Result<()> {
    crate::out!("{:<16}", "metric");
    for (name, _) in cols {
        crate::out!("{name:>14}");
    }
    crate::outln!();
    let rows: [(&str, fn(&Scores) -> f64); 5] = [
        ("strong_mcc", |s| s.strong_mcc),
        ("mcc", |s| s.mcc),
        ("mcc_spearman", |s| s.mcc_spearman),
        ("affine_r2", |s| s.affine_r2),
        ("identity_rmse", |s| s.identity_rmse),
    ];
    for (label, get) in rows {
        crate::out!("{label:<16}");
        for (_, s) in cols {
            crate::out!("{:>14.4}", get(s));
        }
        crate::outln!();
    }
    Ok(())
}
