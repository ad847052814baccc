//! `simulate --force` replaces a dataset directory as a whole (#12, defect 6): killed at any
//! moment, the directory holds the old dataset or the new one, never a mix; the user's other
//! files in it survive; a directory holding subdirectories besides a dataset is refused.
mod common;
use common::{expect_input_error, p, scratch, strongid};
use std::path::Path;
use std::time::Duration;

fn hash(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn a_replaced_dataset_keeps_the_users_other_files() {
    let dir = scratch("swap_keep");
    let d = dir.join("d");
    assert!(strongid(&["simulate", "linear-env", "--envs", "3", "--per-env", "50", "--seed", "1", "--out", p(&d)]).status.success());
    std::fs::write(d.join("notes.txt"), "my notes").unwrap();
    std::fs::write(d.join(".hidden"), "mine too").unwrap();
    assert!(strongid(&["simulate", "tmi", "--dim", "2", "--n", "80", "--seed", "2", "--out", p(&d), "--force"]).status.success());
    assert_eq!(std::fs::read_to_string(d.join("notes.txt")).unwrap(), "my notes");
    assert_eq!(std::fs::read_to_string(d.join(".hidden")).unwrap(), "mine too");
    assert!(!d.join("u.npy").exists() && !d.join("priors.json").exists(), "files of the old recipe are gone");
    assert_eq!(strongid::io::Dataset::load(&d).unwrap().x.rows, 80);
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).filter(|n| n != "d").collect();
    assert!(leftovers.is_empty(), "no staging directory left: {leftovers:?}");
    // Subdirectories are neither moved nor deleted: the replacement is refused.
    std::fs::create_dir(d.join("results")).unwrap();
    expect_input_error(&["simulate", "tmi", "--dim", "2", "--n", "90", "--out", p(&d), "--force"], &["holds directories besides the dataset (results)"]);
    assert_eq!(strongid::io::Dataset::load(&d).unwrap().x.rows, 80);
}

#[test]
fn a_dataset_replacement_killed_at_any_moment_leaves_the_old_or_the_new_one() {
    let dir = scratch("swap_kill");
    let (old, new, d) = (dir.join("old"), dir.join("new"), dir.join("d"));
    let sim = |seed: &str, out: &Path, force: bool| {
        let mut args = vec!["simulate", "tmi", "--dim", "4", "--n", "300000", "--seed", seed, "--out", p(out)];
        if force {
            args.push("--force");
        }
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    assert!(strongid(&sim("1", &old, false).iter().map(String::as_str).collect::<Vec<_>>()).status.success());
    assert!(strongid(&sim("2", &new, false).iter().map(String::as_str).collect::<Vec<_>>()).status.success());
    let (x_old, x_new) = (hash(&old.join("x.npy")), hash(&new.join("x.npy")));
    let mut outcomes = (0, 0);
    for delay_ms in (0..400).step_by(25) {
        let _ = std::fs::remove_dir_all(&d);
        assert!(strongid(&sim("1", &d, false).iter().map(String::as_str).collect::<Vec<_>>()).status.success());
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_strongid")).args(sim("2", &d, true)).stdout(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let ds = strongid::io::Dataset::load(&d).unwrap_or_else(|e| panic!("killed after {delay_ms} ms: {e}"));
        let x = hash(&d.join("x.npy"));
        assert!(x == x_old || x == x_new, "killed after {delay_ms} ms: x.npy is neither dataset");
        assert!(ds.z.is_some());
        if x == x_old { outcomes.0 += 1 } else { outcomes.1 += 1 }
    }
    // The next write cleans up whatever the killed processes left beside it.
    assert!(strongid(&sim("3", &d, true).iter().map(String::as_str).collect::<Vec<_>>()).status.success());
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with('.')).collect();
    assert!(leftovers.is_empty(), "stale staging directories removed: {leftovers:?}");
    eprintln!("old dataset after {} kills, new after {}", outcomes.0, outcomes.1);
}
