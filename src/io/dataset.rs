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

    /// `save`, plus `extras` (file name, bytes) written with the data, as a whole: the files go
    /// to a hidden staging directory beside `dir`, which then takes its place in one step (a new
    /// name that must not exist, or an exchange with the dataset it replaces), so an interruption
    /// leaves the old dataset or the new one, never a mix. Other regular files in a replaced
    /// directory are kept (hard-linked into the new one); a directory holding subdirectories
    /// besides a dataset is refused rather than moved. `.` or a directory holding no dataset but
    /// subdirectories are filled in place (meta.json's content hashes still detect a mix).
    pub fn save_with(&self, dir: &Path, force: bool, extras: &[(&str, &[u8])]) -> Result<()> {
        if dir.join("x.npy").exists() && !force {
            return Err(Error::input(dir, "already holds a dataset (x.npy); choose another --out or pass --force"));
        }
        let existing = dir.exists();
        if existing && !dir.is_dir() {
            return Err(Error::input(dir, "exists and is not a directory"));
        }
        let subdirs: Vec<String> = if existing { entries(dir)?.into_iter().filter(|(_, is_dir)| *is_dir).map(|(n, _)| n).collect() } else { Vec::new() };
        if !subdirs.is_empty() && dir.join("x.npy").exists() {
            return Err(Error::input(dir, format!(
                "holds directories besides the dataset ({}): a dataset is replaced as a whole, and strongid does not move or delete what it did not write; move them out or choose another --out",
                subdirs.join(", ")
            )));
        }
        if dir.file_name().is_none() || !subdirs.is_empty() {
            return self.write_files(dir, extras);
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let staging = super::hidden_sibling(dir, "staging")?;
        let _live = super::temps::Live::register(&staging);
        let result = (|| {
            std::fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
            self.write_files(&staging, extras)?;
            if !existing {
                return super::swap::rename_noreplace(&staging, dir).map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => Error::input(dir, "appeared while this command ran (another process wrote it) and was not replaced; choose another --out or pass --force"),
                    _ => Error::io(dir, e),
                });
            }
            // The user's own files stay: linked into the new directory before the swap.
            for (name, _) in entries(dir)? {
                let ours = CONTENT_FILES.contains(&name.as_str()) || name == "meta.json" || super::temps::is_temporary(&name);
                if !ours {
                    std::fs::hard_link(dir.join(&name), staging.join(&name)).map_err(|e| Error::io(&dir.join(&name), e))?;
                }
            }
            if !super::swap::exchange(&staging, dir).map_err(|e| Error::io(dir, e))? {
                // No atomic exchange here: two renames, the old one kept until the new is in place.
                let old = super::hidden_sibling(dir, "old")?;
                std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
                std::fs::rename(&staging, dir).map_err(|e| Error::io(dir, e))?;
                std::fs::rename(&old, &staging).map_err(|e| Error::io(&old, e))?;
            }
            // `staging` now holds the replaced dataset.
            std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        result
    }

    /// Write the files into `dir` (created if missing): the arrays, `extras`, no stale file of a
    /// dataset this one replaces, and meta.json last with every file's content hash.
    fn write_files(&self, dir: &Path, extras: &[(&str, &[u8])]) -> Result<()> {
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

/// (name, is a directory) of every entry of `dir`.
fn entries(dir: &Path) -> Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let is_dir = e.file_type().map_err(|err| Error::io(&e.path(), err))?.is_dir();
        out.push((e.file_name().to_string_lossy().into_owned(), is_dir));
    }
    Ok(out)
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
