//! Hidden temporary files (`.NAME.PID.tmp`, `.NAME.PID.staging`) are never left behind: the ones
//! being written are registered, so a signal handler (`remove_live`) can delete them on Ctrl-C or
//! SIGTERM, and before writing NAME the leftovers of processes that no longer exist (killed with
//! SIGKILL, a power cut) are removed (`remove_stale`).
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A registered temporary file, unregistered (not deleted: the owner renames or removes it) on drop.
pub struct Live(PathBuf);

impl Live {
    pub fn register(path: &Path) -> Live {
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(path.to_path_buf());
        Live(path.to_path_buf())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = live.iter().position(|p| *p == self.0) {
            live.swap_remove(i);
        }
    }
}

/// Delete every temporary file (or staging directory) being written (called from the signal
/// handler's thread).
pub fn remove_live() {
    for p in LIVE.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        remove(&p);
    }
}

fn remove(p: &Path) {
    let _ = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
}

/// A name of our hidden temporaries (`.NAME.PID.tmp|staging|old`).
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && [".tmp", ".staging", ".old"].iter().any(|k| name.ends_with(k))
}

/// Whether process `pid` exists (Linux: /proc; elsewhere assume it does, so nothing is removed).
fn alive(pid: u32) -> bool {
    !Path::new("/proc/self").exists() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Remove `.NAME.PID.tmp` / `.NAME.PID.staging` files (or staging directories) in `dir` whose
/// process is gone, and `.NAME.PID.old` (a dataset directory being replaced) once NAME exists.
pub fn remove_stale(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else { continue };
        let Some((pid, kind)) = rest.split_once('.') else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        let stale = pid != std::process::id() && !alive(pid);
        match kind {
            "tmp" | "staging" if stale => remove(&entry.path()),
            "old" if stale && dir.join(name).exists() => remove(&entry.path()),
            _ => {}
        }
    }
}
