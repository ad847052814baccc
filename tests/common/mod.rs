//! Helpers shared by the integration tests.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty scratch directory under target/ for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn strongid(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strongid")).args(args).output().expect("binary runs")
}

/// Run with RAYON_NUM_THREADS set (the threads training and inference may use).
pub fn strongid_threads(args: &[&str], threads: usize) -> Output {
    strongid_env(args, &[("RAYON_NUM_THREADS", &threads.to_string())])
}

/// Run the binary with extra environment variables.
pub fn strongid_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strongid"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

/// Run, expect failure with exit code 2 and a message containing every `needles`.
pub fn expect_input_error(args: &[&str], needles: &[&str]) {
    let out = strongid(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: expected exit 2, stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "args {args:?}: stderr lacks '{n}': {err}");
    }
}

/// A hand-made .npy file (format 1.0) with the given header dict and raw data.
pub fn write_raw_npy(path: &Path, dict: &str, data: &[u8]) {
    let mut header = dict.to_string();
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}
