//! A dataset: observations `x`, and when simulated, the true latents `z`, environment labels `u`
//! and the recipe in `meta.json`. On disk a simulated dataset is a directory holding
//! `x.npy`, `z.npy`, `u.npy` (when it has environments) and `meta.json`.
use super::{Aux, AuxKind, read_aux, read_matrix, write_labels_npy, write_npy};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Dataset {
    pub x: Matrix,
    pub z: Option<Matrix>,
    /// Environment labels or a real-valued u (u.npy).
    pub u: Option<Aux>,
    pub meta: Option<serde_json::Value>,
}

impl Dataset {
    /// Load a dataset directory, or a single `.npy` / `.csv` observation file.
    pub fn load(path: &Path) -> Result<Dataset> {
        if !path.exists() {
            return Err(Error::input(path, "no such file or directory"));
        }
        if !path.is_dir() {
            return Ok(Dataset { x: read_matrix(path)?, z: None, u: None, meta: None });
        }
        let x_path = path.join("x.npy");
        if !x_path.exists() {
            return Err(Error::input(path, "dataset directory has no x.npy"));
        }
        let x = read_matrix(&x_path)?;
        let optional = |name: &str| -> Option<PathBuf> { Some(path.join(name)).filter(|p| p.exists()) };
        let z = optional("z.npy").map(|p| read_matrix(&p)).transpose()?;
        let u = optional("u.npy").map(|p| read_aux(&p, AuxKind::Auto)).transpose()?;
        let meta = optional("meta.json")
            .map(|p| {
                let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
                serde_json::from_str(&text).map_err(|e| Error::input(&p, format!("invalid JSON: {e}")))
            })
            .transpose()?;
        if let Some(z) = &z {
            check_rows(&path.join("z.npy"), z.rows, x.rows)?;
        }
        if let Some(u) = &u {
            check_rows(&path.join("u.npy"), u.rows(), x.rows)?;
        }
        if let Some(meta) = &meta {
            check_content(path, meta)?;
        }
        Ok(Dataset { x, z, u, meta })
    }

    /// Write the dataset directory (created if missing). Refuses to overwrite an existing
    /// dataset unless `force` is set, so a mistyped `--out` never destroys data.
    pub fn save(&self, dir: &Path, force: bool) -> Result<()> {
        self.save_with(dir, force, &[])
    }

    /// `save`, plus `extras` (file name, bytes) written with the data. meta.json is written last
    /// and records a content hash of every file, so a directory whose files come from different
    /// runs (an overwrite interrupted between files) is detected by `load`.
    pub fn save_with(&self, dir: &Path, force: bool, extras: &[(&str, &[u8])]) -> Result<()> {
        if dir.join("x.npy").exists() && !force {
            return Err(Error::input(dir, "already holds a dataset (x.npy); choose another --out or pass --force"));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        write_npy(&dir.join("x.npy"), &self.x)?;
        if let Some(z) = &self.z {
            write_npy(&dir.join("z.npy"), z)?;
        }
        match &self.u {
            Some(Aux::Labels(u)) => write_labels_npy(&dir.join("u.npy"), u)?,
            Some(Aux::Continuous(u)) => write_npy(&dir.join("u.npy"), u)?,
            None => {}
        }
        for (name, bytes) in extras {
            super::atomic_write(&dir.join(name), |w| w.write_all(bytes))?;
        }
        // Files of a dataset this one replaces that it does not have itself (e.g. u.npy).
        let written = |name: &str| match name {
            "x.npy" => true,
            "z.npy" => self.z.is_some(),
            "u.npy" => self.u.is_some(),
            _ => extras.iter().any(|(n, _)| *n == name),
        };
        for name in CONTENT_FILES.iter().filter(|n| !written(n)) {
            let p = dir.join(name);
            if p.exists() {
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        if let Some(meta) = &self.meta {
            let mut meta = meta.clone();
            let mut content = serde_json::Map::new();
            for name in CONTENT_FILES {
                let p = dir.join(name);
                if p.exists() {
                    content.insert((*name).into(), serde_json::Value::String(file_hash(&p)?));
                }
            }
            if let Some(obj) = meta.as_object_mut() {
                obj.insert("content".into(), serde_json::Value::Object(content));
            }
            let text = serde_json::to_string_pretty(&meta).expect("JSON values always serialize");
            super::atomic_write(&dir.join("meta.json"), |w| w.write_all(text.as_bytes()))?;
        }
        Ok(())
    }
}

/// The files of a dataset directory whose content meta.json records.
const CONTENT_FILES: &[&str] = &["x.npy", "z.npy", "u.npy", "priors.json"];

/// FNV-1a (64-bit) of a file's bytes.
fn file_hash(path: &Path) -> Result<String> {
    let mut h = super::Fnv1a::new();
    h.eat(&std::fs::read(path).map_err(|e| Error::io(path, e))?);
    Ok(h.hex())
}

/// Every file meta.json's "content" lists must be there with that hash, and no listed-kind file
/// may be there unlisted (datasets written before meta.json recorded content are not checked).
fn check_content(dir: &Path, meta: &serde_json::Value) -> Result<()> {
    let Some(content) = meta.get("content").and_then(|c| c.as_object()) else { return Ok(()) };
    for name in CONTENT_FILES {
        let p = dir.join(name);
        let mismatch = match (content.get(*name).and_then(|v| v.as_str()), p.exists()) {
            (Some(h), true) => file_hash(&p)? != h,
            (None, false) => false,
            _ => true,
        };
        if mismatch {
            return Err(Error::input(dir, format!(
                "{name} does not belong with this directory's meta.json (its content hash differs, or it is missing or extra): the dataset was partly overwritten, e.g. an interrupted `simulate --force`. Simulate it again with --force"
            )));
        }
    }
    Ok(())
}

fn check_rows(path: &Path, found: usize, expected: usize) -> Result<()> {
    if found != expected {
        return Err(Error::input(path, format!("has {found} rows but x.npy has {expected}")));
    }
    Ok(())
}
