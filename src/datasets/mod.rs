//! Real datasets that install with the project (no network needed): measurements without a
//! ground-truth latent, with the environments that make the iVAE family identifiable. Each is
//! vendored compressed in `data/` with its provenance and licence (`data/*/README.md`), and
//! exported as a dataset directory (x.npy, u.npy if it has environments, meta.json, and the source
//! file as shipped).
pub mod sachs;
pub mod tuebingen;

use crate::error::{Error, Result};
use crate::io::{Aux, Dataset};
use crate::matrix::Matrix;
use std::io::Read;
use std::path::Path;

/// A real dataset: the observations after the documented preprocessing, the environment of each
/// row, and what the environments and columns are.
#[derive(Clone, Debug)]
pub struct RealDataset {
    pub name: &'static str,
    pub x: Matrix,
    /// Environment (condition) index of each row, 0-based, into `conditions` (None: one environment).
    pub u: Option<Vec<i64>>,
    pub conditions: Vec<String>,
    pub columns: Vec<String>,
    /// The source file, byte for byte as its publisher ships it, and its file name.
    pub source: Vec<u8>,
    pub source_file: &'static str,
    /// Provenance, licence, preprocessing and the source's SHA-256.
    pub meta: serde_json::Value,
}

/// A loader: the dataset, or one member of a collection (`--pair` of tuebingen).
type Loader = fn(Option<usize>) -> Result<RealDataset>;

/// Sachs is one dataset: a member number is a mistake, not something to ignore.
fn sachs_loader(pair: Option<usize>) -> Result<RealDataset> {
    match pair {
        Some(_) => Err(Error::usage("sachs is a single dataset: --pair is for tuebingen")),
        None => sachs::load(),
    }
}

/// The built-in datasets: name, one line for `strongid datasets list`, loader.
const REGISTRY: &[(&str, &str, Loader)] = &[("sachs", sachs::DESCRIPTION, sachs_loader), ("tuebingen", tuebingen::DESCRIPTION, tuebingen::load)];

/// The names `load` knows.
pub fn names() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|d| d.0)
}

fn entry(name: &str) -> Result<&'static (&'static str, &'static str, Loader)> {
    REGISTRY
        .iter()
        .find(|d| d.0 == name)
        .ok_or_else(|| Error::usage(format!("no built-in dataset '{name}': the built-in datasets are {}", names().collect::<Vec<_>>().join(", "))))
}

/// One line describing the dataset, for `strongid datasets list`.
pub fn describe(name: &str) -> Result<&'static str> {
    Ok(entry(name)?.1)
}

/// Load a built-in dataset; `pair` picks a member of a collection (tuebingen's pairs).
pub fn load(name: &str, pair: Option<usize>) -> Result<RealDataset> {
    (entry(name)?.2)(pair)
}

impl RealDataset {
    /// `meta` with the dataset's name, source file, conditions and columns: meta.json's
    /// contents, and Python's `RealData.meta`.
    pub fn described_meta(&self) -> serde_json::Value {
        let mut meta = self.meta.clone();
        meta["dataset"] = serde_json::json!(self.name);
        meta["source_file"] = serde_json::json!(self.source_file);
        meta["conditions"] = serde_json::json!(self.conditions);
        meta["columns"] = serde_json::json!(self.columns);
        meta
    }

    /// Write the dataset directory `dir`: x.npy, u.npy, meta.json (conditions, columns,
    /// provenance; no z.npy: the truth is unknown) and the source file under its own name.
    pub fn export(&self, dir: &Path, force: bool) -> Result<()> {
        let ds = Dataset { x: self.x.clone(), z: None, u: self.u.clone().map(Aux::Labels), meta: Some(self.described_meta()) };
        ds.save_with(dir, force, &[(self.source_file, &self.source)])
    }
}

/// A vendored file, decompressed and checked against the publisher's SHA-256 (`sha`).
fn vendored(gz: &[u8], name: &str, sha: &str) -> Result<Vec<u8>> {
    let source = gunzip(gz, name)?;
    let got = sha256_hex(&source);
    if got != sha {
        return Err(Error::usage(format!("the built-in copy of {name} has SHA-256 {got}, not the published file's {sha}: reinstall strongid")));
    }
    std::str::from_utf8(&source).map_err(|e| Error::usage(format!("{name} is not UTF-8: {e}")))?;
    Ok(source)
}

/// Gunzip a vendored file (`name` for errors).
fn gunzip(bytes: &[u8], name: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).map_err(|e| Error::usage(format!("the built-in copy of {name} is corrupt ({e}): reinstall strongid")))?;
    Ok(out)
}

/// SHA-256 of `bytes`, hex: the checksum a vendored file is checked against (its README
/// records the publisher's file's).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-4's examples.
    #[test]
    fn sha256_matches_the_standards_examples() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
