//! `fit --checkpoint` / `--resume` through the binary: a fit stopped by Ctrl-C (SIGINT) or killed
//! outright (SIGKILL) and resumed gives the same model file, byte for byte, as a fit that ran
//! through; the checkpoint is refused when it belongs to another fit, and removed once the
//! model is saved.
mod common;
use common::{expect_input_error, p, scratch, strongid};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn fit_args<'a>(case: &'a [&'a str], out: &'a str) -> Vec<&'a str> {
    let mut args = vec!["fit"];
    args.extend_from_slice(case);
    args.extend_from_slice(&["--quiet", "--out", out]);
    args
}

/// Start the fit with a checkpoint every 25 steps, send `signal` once the first checkpoint has
/// been written (and a little more training has happened), then resume it.
fn interrupt_and_resume(case: &[&str], dir: &Path, signal: i32) -> Vec<u8> {
    let out = dir.join(format!("resumed-{signal}.safetensors"));
    let ckpt = dir.join(format!("fit-{signal}.ckpt"));
    let mut args = fit_args(case, p(&out));
    args.extend_from_slice(&["--checkpoint", p(&ckpt), "--checkpoint-every", "25"]);
    let child = Command::new(env!("CARGO_BIN_EXE_strongid")).args(&args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    wait_for(&ckpt);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, signal) };
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    if signal == libc::SIGINT {
        assert_eq!(done.status.code(), Some(130), "interrupted fit exits 130: {err}");
        assert!(err.contains("--resume"), "says how to continue: {err}");
    } else {
        assert_eq!(done.status.code(), None, "killed by the signal");
    }
    assert!(!out.exists() && ckpt.exists(), "an interrupted fit saves its checkpoint, not a model");
    let mut args = fit_args(case, p(&out));
    args.extend_from_slice(&["--resume", p(&ckpt)]);
    let resumed = strongid(&args);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert!(!ckpt.exists(), "the checkpoint is removed once the model is saved");
    let leftovers: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with('.')).collect();
    assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");
    std::fs::read(&out).unwrap()
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "no checkpoint written");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn uninterrupted(case: &[&str], dir: &Path) -> Vec<u8> {
    let out = dir.join("through.safetensors");
    let run = strongid(&fit_args(case, p(&out)));
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    std::fs::read(&out).unwrap()
}

#[test]
fn a_flow_fit_stopped_by_ctrl_c_resumes_to_the_same_model_bytes() {
    let dir = scratch("ckpt-flow");
    let data = dir.join("d");
    assert!(strongid(&["simulate", "tmi", "--dim", "3", "--n", "20000", "--seed", "1", "--out", p(&data)]).status.success());
    let case = ["tmi-flow", "--data", p(&data), "--epochs", "40"];
    assert_eq!(interrupt_and_resume(&case, &dir, libc::SIGINT), uninterrupted(&case, &dir));
}

/// The iVAE fits two restarts in parallel by default: both runs' states are saved and resumed.
#[test]
fn an_ivae_fit_with_parallel_restarts_resumes_to_the_same_model_bytes_after_sigint_or_sigkill() {
    let dir = scratch("ckpt-ivae");
    let data = dir.join("d");
    assert!(strongid(&["simulate", "ivae", "--per-segment", "500", "--seed", "3", "--out", p(&data)]).status.success());
    let case = ["ivae", "--data", p(&data), "--epochs", "60", "--patience", "60"];
    let want = uninterrupted(&case, &dir);
    assert_eq!(interrupt_and_resume(&case, &dir, libc::SIGINT), want, "after SIGINT");
    assert_eq!(interrupt_and_resume(&case, &dir, libc::SIGKILL), want, "after SIGKILL (from the last periodic checkpoint)");
}

#[test]
fn a_checkpoint_is_never_overwritten_nor_resumed_under_another_command() {
    let dir = scratch("ckpt-checks");
    let data = dir.join("d");
    assert!(strongid(&["simulate", "tmi", "--dim", "2", "--n", "2000", "--seed", "1", "--out", p(&data)]).status.success());
    let ckpt = dir.join("c.ckpt");
    let out = dir.join("m.safetensors");
    let ok = strongid(&["fit", "tmi-flow", "--data", p(&data), "--epochs", "3", "--quiet", "--out", p(&out), "--checkpoint", p(&ckpt), "--checkpoint-every", "5"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(!ckpt.exists(), "removed once the model is saved");
    std::fs::write(&ckpt, "mine").unwrap();
    let out2 = dir.join("m2.safetensors");
    expect_input_error(&["fit", "tmi-flow", "--data", p(&data), "--out", p(&out2), "--checkpoint", p(&ckpt)], &["c.ckpt", "already exists", "--resume"]);
    assert_eq!(std::fs::read(&ckpt).unwrap(), b"mine");
    expect_input_error(&["fit", "tmi-flow", "--data", p(&data), "--out", p(&out2), "--resume", p(&ckpt)], &["c.ckpt", "not a strongid checkpoint"]);
    // A real checkpoint, of a fit with another --lr.
    std::fs::remove_file(&ckpt).unwrap();
    let big = dir.join("big");
    assert!(strongid(&["simulate", "tmi", "--dim", "3", "--n", "20000", "--seed", "1", "--out", p(&big)]).status.success());
    let case = ["tmi-flow", "--data", p(&big), "--epochs", "40", "--lr", "0.003"];
    let mut args = fit_args(&case, p(&out2));
    args.extend_from_slice(&["--checkpoint", p(&ckpt), "--checkpoint-every", "25"]);
    let child = Command::new(env!("CARGO_BIN_EXE_strongid")).args(&args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    wait_for(&ckpt);
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(130));
    let other = ["tmi-flow", "--data", p(&big), "--epochs", "40", "--lr", "0.01"];
    let mut args = fit_args(&other, p(&out2));
    args.extend_from_slice(&["--resume", p(&ckpt)]);
    expect_input_error(&args, &["c.ckpt", "another fit", "lr: 0.003 in the checkpoint, 0.01 now"]);
    let other_data = ["tmi-flow", "--data", p(&data), "--epochs", "40", "--lr", "0.003"];
    let mut args = fit_args(&other_data, p(&out2));
    args.extend_from_slice(&["--resume", p(&ckpt)]);
    expect_input_error(&args, &["c.ckpt", "another fit", "data: content hash"]);
    expect_input_error(&["fit", "fa", "--data", p(&data), "--out", p(&out2), "--checkpoint", p(&dir.join("fa.ckpt"))], &["nothing to checkpoint"]);
    assert!(!out2.exists());
}
