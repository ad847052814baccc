//! Data I/O: float matrices and integer labels from `.npy` / `.csv`, `.npy` output, simulated
//! dataset directories, and atomic file writes (temp file + rename) so an interrupted write never
//! destroys what was there before.
mod aux;
mod csv_file;
mod dataset;
mod npy;
mod stream;
mod swap;
pub mod temps;

pub use aux::{Aux, AuxKind, read_aux};
pub use dataset::Dataset;
pub use npy::{write_labels_npy, write_npy};
pub use stream::{RowReader, count_rows, write_npy_rows};

use crate::error::{Error, Result};
use crate::matrix::Matrix;
use std::path::Path;

fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase()
}

/// Read an n × d float matrix (`.npy` f32/f64 C-order rank 1 or 2, or `.csv` with an optional
/// header row). Every value must be finite.
pub fn read_matrix(path: &Path) -> Result<Matrix> {
    let m = match extension(path).as_str() {
        "npy" => npy::read_matrix(path)?,
        "csv" => csv_file::read_matrix(path)?,
        other => {
            return Err(Error::input(path, format!("unsupported extension '.{other}': expected .npy or .csv")));
        }
    };
    if m.rows == 0 || m.cols == 0 {
        return Err(Error::input(path, format!("empty matrix ({} × {})", m.rows, m.cols)));
    }
    if let Some(k) = m.data.iter().position(|v| !v.is_finite()) {
        let (row, col) = (k / m.cols + 1, k % m.cols + 1);
        return Err(Error::cell(path, row, col, format!("value {} is not finite", m.data[k])));
    }
    Ok(m)
}

/// Read integer environment labels (one per row) from `.npy` (any integer dtype, or floats
/// holding integers) or a one-column `.csv`.
pub fn read_labels(path: &Path) -> Result<Vec<i64>> {
    match extension(path).as_str() {
        "npy" => npy::read_labels(path),
        "csv" => csv_file::read_labels(path),
        other => Err(Error::input(path, format!("unsupported extension '.{other}': expected .npy or .csv"))),
    }
}

/// FNV-1a (64-bit), fed in pieces: the checksum of model files and the content hash of dataset
/// directories.
pub struct Fnv1a(u64);

impl Fnv1a {
    pub fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
    pub fn eat(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    /// A matrix's shape and values (as f64 bits).
    pub fn eat_matrix(&mut self, m: &Matrix) {
        self.eat(&(m.rows as u64).to_le_bytes());
        self.eat(&(m.cols as u64).to_le_bytes());
        m.data.iter().for_each(|v| self.eat(&v.to_le_bytes()));
    }
    /// u's labels or values.
    pub fn eat_aux(&mut self, u: &Aux) {
        match u {
            Aux::Labels(l) => l.iter().for_each(|v| self.eat(&v.to_le_bytes())),
            Aux::Continuous(m) => self.eat_matrix(m),
        }
    }
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a::new()
    }
}

/// Write to standard output, mapping failures with `Error::stdout` (`outln!`, `out!`).
pub fn write_stdout(args: std::fmt::Arguments) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args).and_then(|()| out.flush()).map_err(Error::stdout)
}

/// Write a command's output `out`: `write` fills a hidden staging file beside it, which then
/// becomes `out` in one step. With `force` that step replaces whatever is there; without it the
/// step is a hard link, which refuses to replace a file that appeared while the command ran
/// (another process writing the same `--out`), so nothing anyone else wrote is ever clobbered.
pub fn write_output(out: &Path, force: bool, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let staging = hidden_sibling(out, "staging")?;
    let _live = temps::Live::register(&staging);
    let result = write(&staging).and_then(|()| commit(&staging, out, force));
    let _ = std::fs::remove_file(&staging);
    result
}

/// `.NAME.PID.KIND` beside `path` (its directory must exist), after removing such files left
/// by processes that no longer exist.
fn hidden_sibling(path: &Path, kind: &str) -> Result<std::path::PathBuf> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(Error::input(path, format!("directory {} does not exist", dir.display())));
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    temps::remove_stale(dir, name);
    Ok(dir.join(format!(".{name}.{}.{kind}", std::process::id())))
}

fn commit(staging: &Path, out: &Path, force: bool) -> Result<()> {
    if force {
        return std::fs::rename(staging, out).map_err(|e| Error::io(out, e));
    }
    match std::fs::hard_link(staging, out) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::input(
            out,
            "appeared while this command ran (another process wrote it) and was not replaced; choose another --out or pass --force",
        )),
        // A filesystem without hard links: check, then rename (a narrower race than before).
        Err(_) if !out.exists() => std::fs::rename(staging, out).map_err(|e| Error::io(out, e)),
        Err(e) => Err(Error::io(out, e)),
    }
}

/// Write `path` atomically: the bytes go to a temporary file in the same directory, which is
/// renamed over `path` only once complete.
pub fn atomic_write(path: &Path, write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> Result<()> {
    use std::io::Write;
    let tmp = hidden_sibling(path, "tmp")?;
    let _live = temps::Live::register(&tmp);
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        write(&mut w)?;
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}
