//! strongid: strongly identifiable generative models (Xi & Bloem-Reddy, AISTATS 2023).
//!
//! Layout mirrors the paper: `flows` + `transforms` (Thm 5.1, TMI generators), `metrics`
//! (alignment levels of the indeterminacy set), `simulate` (data recipes), `io`, `nn`/`tensor`
//! (the thin layer over burn), `train` (the shared loop), `models` (saved, self-describing fits).
//!
//! The command line is a thin layer over this library; a fit from Rust:
//!
//! ```
//! use strongid::{fit::{fit_model, FitOptions}, metrics, models::ModelKind, simulate};
//! // TMI data: x = G(z), G triangular and monotone, so z is the Knothe–Rosenblatt code of x.
//! let (ds, _) = simulate::tmi::simulate(2, 2000, 0)?;
//! let opts = FitOptions::from_args(&["--epochs".into(), "15".into()]).expect("valid options");
//! let model = fit_model(ModelKind::TmiFlow, &opts, &ds, None, std::path::Path::new("u"), 0)?;
//! let code = model.encode(&ds.x, None, std::path::Path::new("u"), None)?;
//! // Thm 5.1: the code is the true latent itself, no permutation or sign to match.
//! assert!(metrics::strong_mcc(ds.z.as_ref().unwrap(), &code) > 0.9);
//! # Ok::<(), strongid::Error>(())
//! ```
/// `println!` that returns `Err` from the enclosing function (a closed pipe, a full device)
/// instead of panicking.
#[macro_export]
macro_rules! outln {
    () => { $crate::io::write_stdout(format_args!("\n"))? };
    ($($arg:tt)*) => { $crate::io::write_stdout(format_args!("{}\n", format_args!($($arg)*)))? };
}

/// `print!`, fallible like `outln!`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::io::write_stdout(format_args!($($arg)*))? };
}

pub mod certificate;
pub mod cli;
pub mod datasets;
pub mod demo;
pub mod determination;
pub mod error;
pub mod experiments;
pub mod fa;
pub mod fastmath;
pub mod fit;
pub mod flows;
pub mod io;
pub mod ivae;
pub mod matrix;
pub mod metrics;
pub mod misspecification;
pub mod model_file;
pub mod models;
pub mod nn;
pub mod noisy_refit;
pub mod ot;
pub mod plot;
pub mod priors;
pub mod probe;
pub mod simulate;
pub mod standardize;
pub mod study;
pub mod tensor;
pub mod theory;
pub mod train;
pub mod transforms;

pub use error::{Error, Result};
pub use matrix::Matrix;
