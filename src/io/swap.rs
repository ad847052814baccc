//! Putting a directory in place as a whole: `rename_noreplace` (a new directory that must not
//! replace one that appeared meanwhile) and `exchange` (swap two directories in one step), with
//! Linux's renameat2 where available and a two-rename fallback elsewhere.
use std::io;
use std::path::Path;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: two NUL-terminated paths relative to the working directory.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), flags) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn renameat2(_: &Path, _: &Path, _: u32) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// The kernel or filesystem has no renameat2 flags (the fallback applies).
fn unsupported(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported || matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
const NOREPLACE: u32 = libc::RENAME_NOREPLACE;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const EXCHANGE: u32 = libc::RENAME_EXCHANGE;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const NOREPLACE: u32 = 1;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const EXCHANGE: u32 = 2;

/// Rename `from` to `to`, failing with `AlreadyExists` if `to` exists (atomically with
/// renameat2; check-then-rename otherwise).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    match renameat2(from, to, NOREPLACE) {
        Err(e) if unsupported(&e) => {
            if to.exists() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            std::fs::rename(from, to)
        }
        r => r,
    }
}

/// Swap `a` and `b` in one step; `Ok(false)` where that is not supported.
pub fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    match renameat2(a, b, EXCHANGE) {
        Ok(()) => Ok(true),
        Err(e) if unsupported(&e) => Ok(false),
        Err(e) => Err(e),
    }
}
