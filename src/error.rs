//! One error type for the crate. Input errors name the file and, where it applies, the row and
//! column, so a user can find the bad cell; `exit_code` maps them to the CLI's exit status.
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A malformed cell or line in an input file (1-based row and column, as an editor shows them).
    #[error("{path}: row {row}, column {col}: {msg}")]
    Cell { path: PathBuf, row: usize, col: usize, msg: String },
    /// A whole-file problem: wrong dtype, rank, shape, missing data.
    #[error("{path}: {msg}")]
    Input { path: PathBuf, msg: String },
    /// Arguments that cannot work together (dimensions, options).
    #[error("{0}")]
    Usage(String),
    /// A saved model that is corrupted, truncated or of another format version.
    #[error("model {path}: {msg}")]
    Model { path: PathBuf, msg: String },
    /// Training produced a non-finite loss: nothing is saved.
    #[error("fit diverged at epoch {epoch}: {msg}")]
    Diverged { epoch: usize, msg: String },
    /// Stopped by a signal after saving a checkpoint to resume from.
    #[error("interrupted; the fit so far is saved in {}: {resume}", checkpoint.display())]
    Interrupted { checkpoint: PathBuf, resume: String },
    /// Cancelled by the caller (`train::CANCEL`, e.g. Ctrl-C in Python): nothing is returned.
    #[error("cancelled")]
    Cancelled,
    /// The reader of standard output went away (`strongid … | head`): stop quietly.
    #[error("standard output was closed")]
    ClosedStdout,
}

pub type Result<T> = std::result::Result<T, Error>;

/// The most f64 values one array built from user options may hold: 2³² (32 GiB), beyond any
/// machine strongid runs on; a request above it is refused by name instead of aborting.
pub const MAX_VALUES: u128 = 1 << 32;

/// Error naming `what` (the options that set the size) when `count` values exceed `MAX_VALUES`.
pub fn check_values(what: &str, count: u128) -> Result<()> {
    if count > MAX_VALUES {
        return Err(Error::usage(format!(
            "{what} asks for {count} values ({:.3e} bytes as f64); the limit is {MAX_VALUES} values ({:.0} GiB)",
            count as f64 * 8.0,
            MAX_VALUES as f64 * 8.0 / f64::from(1u32 << 30)
        )));
    }
    Ok(())
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), source }
    }
    pub fn input(path: &Path, msg: impl Into<String>) -> Self {
        Error::Input { path: path.to_path_buf(), msg: msg.into() }
    }
    pub fn cell(path: &Path, row: usize, col: usize, msg: impl Into<String>) -> Self {
        Error::Cell { path: path.to_path_buf(), row, col, msg: msg.into() }
    }
    pub fn model(path: &Path, msg: impl Into<String>) -> Self {
        Error::Model { path: path.to_path_buf(), msg: msg.into() }
    }
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    /// A failed write to standard output: a closed pipe ends quietly, anything else (a full
    /// device) is an error naming standard output.
    pub fn stdout(source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::BrokenPipe => Error::ClosedStdout,
            _ => Error::Io { path: PathBuf::from("standard output"), source },
        }
    }

    /// 2 for anything the user handed us (files, arguments, models); 1 for failures of the fit
    /// and of writing the output; 141 (128 + SIGPIPE, what a shell reports for other tools) for a
    /// closed pipe; 130 (128 + SIGINT) for an interrupted fit.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Diverged { .. } => 1,
            Error::Io { path, .. } if path.as_os_str() == "standard output" => 1,
            Error::ClosedStdout => 141,
            Error::Interrupted { .. } | Error::Cancelled => 130,
            _ => 2,
        }
    }
}
