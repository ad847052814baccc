//! Real datasets that install with the project (no network needed): measurements without a
//! ground-truth latent, with the environments that make the iVAE family identifiable. Each is
//! vendored compressed in `data/` with its provenance and licence (`data/*/README.md`), and
//! exported as a dataset directory (x.npy, u.npy, meta.json, and the source file as shipped).
pub mod sachs;

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
    /// Environment (condition) index of each row, 0-based, into `conditions`.
    pub u: Vec<i64>,
    pub conditions: Vec<String>,
    pub columns: Vec<String>,
    /// The source file, byte for byte as its publisher ships it, and its file name.
    pub source: Vec<u8>,
    pub source_file: &'static str,
    /// Provenance, licence, preprocessing and the source's SHA-256.
    pub meta: serde_json::Value,
}

/// The built-in datasets: name, one line for `strongid datasets list`, loader.
const REGISTRY: &[(&str, &str, fn() -> Result<RealDataset>)] = &[("sachs", sachs::DESCRIPTION, sachs::load)];

/// The names `load` knows.
pub fn names() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|d| d.0)
}

fn entry(name: &str) -> Result<&'static (&'static str, &'static str, fn() -> Result<RealDataset>)> {
    REGISTRY
        .iter()
        .find(|d| d.0 == name)
        .ok_or_else(|| Error::usage(format!("no built-in dataset '{name}': the built-in datasets are {}", names().collect::<Vec<_>>().join(", "))))
}

/// One line describing the dataset, for `strongid datasets list`.
pub fn describe(name: &str) -> Result<&'static str> {
    Ok(entry(name)?.1)
}

pub fn load(name: &str) -> Result<RealDataset> {
    (entry(name)?.2)()
}

impl RealDataset {
    /// Write the dataset directory `dir`: x.npy, u.npy, meta.json (conditions, columns,
    /// provenance; no z.npy: the truth is unknown) and the source file under its own name.
    pub fn export(&self, dir: &Path, force: bool) -> Result<()> {
        let mut meta = self.meta.clone();
        meta["dataset"] = serde_json::json!(self.name);
        meta["source_file"] = serde_json::json!(self.source_file);
        meta["conditions"] = serde_json::json!(self.conditions);
        meta["columns"] = serde_json::json!(self.columns);
        let ds = Dataset { x: self.x.clone(), z: None, u: Some(Aux::Labels(self.u.clone())), meta: Some(meta) };
        ds.save_with(dir, force, &[(self.source_file, &self.source)])
    }
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
