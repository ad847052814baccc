//! The auxiliary variable u of the iVAE family: integer environment labels (one per row, the
//! official iVAE's segments), or a real-valued matrix with one row per observation (continuous or
//! multi-dimensional u, as the theory allows: the prior is then a network λ(u)).
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub enum Aux {
    Labels(Vec<i64>),
    Continuous(Matrix),
}

impl Aux {
    pub fn rows(&self) -> usize {
        match self {
            Aux::Labels(l) => l.len(),
            Aux::Continuous(m) => m.rows,
        }
    }

    pub fn labels(&self) -> Option<&[i64]> {
        match self {
            Aux::Labels(l) => Some(l),
            Aux::Continuous(_) => None,
        }
    }

    /// The rows `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Aux {
        match self {
            Aux::Labels(l) => Aux::Labels(idx.iter().map(|&i| l[i]).collect()),
            Aux::Continuous(m) => Aux::Continuous(m.select_rows(idx)),
        }
    }

    /// Rows `start..start + n` (for streaming over a file in chunks).
    pub fn slice_rows(&self, start: usize, n: usize) -> Aux {
        match self {
            Aux::Labels(l) => Aux::Labels(l[start..start + n].to_vec()),
            Aux::Continuous(m) => Aux::Continuous(m.select_rows(&(start..start + n).collect::<Vec<_>>())),
        }
    }

    /// Error naming `path` unless there is one row of u per row of the data.
    pub fn check_rows(&self, path: &Path, rows: usize) -> Result<()> {
        if self.rows() != rows {
            let what = if matches!(self, Aux::Labels(_)) { "labels" } else { "rows of u" };
            return Err(Error::input(path, format!("has {} {what} but the data has {rows} rows", self.rows())));
        }
        Ok(())
    }
}

/// How to read a u file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AuxKind {
    /// Labels if the file is one column of integers (any integer dtype, or floats that are all
    /// integers), otherwise a real-valued matrix.
    #[default]
    Auto,
    Labels,
    Continuous,
}

/// Read u from `.npy` or `.csv` as `kind` says. Continuous values must be finite (the error
/// names the row and column of the first that is not).
pub fn read_aux(path: &Path, kind: AuxKind) -> Result<Aux> {
    match kind {
        AuxKind::Labels => Ok(Aux::Labels(super::read_labels(path)?)),
        AuxKind::Continuous => Ok(Aux::Continuous(super::read_matrix(path)?)),
        AuxKind::Auto => {
            if let Ok(labels) = super::read_labels(path) {
                return Ok(Aux::Labels(labels));
            }
            // Not labels: a real matrix, whose reader gives the precise error if it is not one either.
            Ok(Aux::Continuous(super::read_matrix(path)?))
        }
    }
}
