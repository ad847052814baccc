//! Studies through the binary: planning is stable (ids are content hashes), tasks run in any
//! order, are skipped once done and give byte-identical collected results; a killed task leaves
//! no result and resumes from its checkpoint; the Slurm script is valid bash naming every index.
mod common;
use common::{expect_input_error, p, scratch, strongid};
use std::path::Path;

const STUDY: &str = r#"{
  "name": "tiny",
  "datasets": [
    {"name": "tmi2", "simulate": "tmi", "recipe": {"dim": 2, "n": 1500}, "data_seeds": [1]},
    {"name": "lin", "simulate": "linear-env", "recipe": {"envs": 3, "per_env": 300, "latent_dim": 2, "obs_dim": 4}, "data_seeds": [2]}
  ],
  "models": [
    {"name": "tmi-flow", "kind": "tmi-flow", "options": ["--epochs", "5", "--hidden", "16"]},
    {"name": "ivae-frozen", "kind": "ivae-frozen", "options": ["--epochs", "5", "--hidden", "16", "--latent-dim", "2"], "anchors": "true"}
  ],
  "seeds": [0, 1]
}"#;

fn ok(args: &[&str]) -> String {
    let out = strongid(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn manifest_ids(dir: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    v["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn tasks_run_in_any_order_are_skipped_when_done_and_collect_to_the_same_bytes() {
    let dir = scratch("study_order");
    let file = dir.join("study.json");
    // ivae-frozen with "anchors": "true" on tmi data (no environments) is a task error, recorded.
    std::fs::write(&file, STUDY).unwrap();
    let (a, b) = (dir.join("a"), dir.join("b"));
    ok(&["study", "plan", p(&file), "--out", p(&a)]);
    ok(&["study", "plan", p(&file), "--out", p(&b)]);
    assert_eq!(std::fs::read(a.join("manifest.json")).unwrap(), std::fs::read(b.join("manifest.json")).unwrap(), "planning is stable");
    let ids = manifest_ids(&a);
    assert_eq!(ids.len(), 8);
    // In order with --all (the tmi2 × ivae-frozen tasks fail: no true priors; the rest run), and
    // one index at a time in reverse.
    let all = strongid(&["study", "run", p(&a), "--all", "--quiet"]);
    let err = String::from_utf8_lossy(&all.stderr);
    assert!(!all.status.success() && err.contains("needs simulated data with environments") && err.contains("2 of 8 tasks failed"), "{err}");
    for i in (0..8).rev() {
        let _ = strongid(&["study", "run", p(&b), "--index", &i.to_string(), "--quiet"]);
    }
    let status = ok(&["study", "status", p(&a)]);
    assert!(status.starts_with("8 tasks: 6 done, 0 running, 2 failed, 0 pending"), "{status}");
    assert!(ok(&["study", "run", p(&a), "--index", "0"]).contains("already done (skipped)"));
    ok(&["study", "collect", p(&a)]);
    ok(&["study", "collect", p(&b)]);
    for f in ["results.json", "results.md", "report.html"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f}");
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(a.join("results.json")).unwrap()).unwrap();
    let rows: Vec<&serde_json::Value> = v["experiments"].as_array().unwrap().iter().flat_map(|e| e["rows"].as_array().unwrap()).collect();
    assert_eq!(rows.len(), 3, "the failed group is left out");
    let frozen = rows.iter().find(|r| r["model"] == "ivae-frozen").unwrap();
    assert_eq!(frozen["predicted"], "strongly-identifiable");
    // A new seed adds tasks; the others keep their ids (and so their results).
    std::fs::write(&file, STUDY.replace("\"seeds\": [0, 1]", "\"seeds\": [0, 1, 2]")).unwrap();
    ok(&["study", "plan", p(&file), "--out", p(&a)]);
    let more = manifest_ids(&a);
    assert_eq!(more.len(), 12);
    assert!(ids.iter().all(|id| more.contains(id)));
    assert!(ok(&["study", "status", p(&a)]).starts_with("12 tasks: 6 done"));
}

#[test]
fn a_killed_task_leaves_no_result_and_resumes_to_the_same_bytes() {
    let dir = scratch("study_kill");
    let file = dir.join("study.json");
    std::fs::write(&file, r#"{"name": "k", "datasets": [{"name": "t", "simulate": "tmi", "recipe": {"dim": 3, "n": 20000}}],
        "models": [{"name": "f", "kind": "tmi-flow", "options": ["--epochs", "30"]}], "seeds": [0]}"#).unwrap();
    let (a, b) = (dir.join("a"), dir.join("b"));
    ok(&["study", "plan", p(&file), "--out", p(&a)]);
    ok(&["study", "plan", p(&file), "--out", p(&b)]);
    ok(&["study", "run", p(&a), "--index", "0", "--quiet"]);
    let id = &manifest_ids(&b)[0];
    let ckpt = b.join("work").join(id).join("fit.ckpt");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_strongid")).args(["study", "run", p(&b), "--index", "0", "--quiet"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    // The task checkpoints every minute and on signals: SIGINT it once it runs, then SIGKILL a
    // rerun; each rerun continues from the checkpoint.
    let start = std::time::Instant::now();
    while !b.join("running").join(id).exists() {
        assert!(start.elapsed().as_secs() < 60);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(ckpt.exists() && !b.join("results").join(format!("{id}.json")).exists());
    assert!(ok(&["study", "status", p(&b)]).contains("1 pending"));
    ok(&["study", "run", p(&b), "--index", "0", "--quiet"]);
    assert!(!ckpt.exists(), "the checkpoint is removed with the work directory");
    for f in [format!("results/{id}.json"), format!("codes/{id}.npy")] {
        assert_eq!(std::fs::read(a.join(&f)).unwrap(), std::fs::read(b.join(&f)).unwrap(), "{f}");
    }
}

#[test]
fn the_slurm_script_is_valid_bash_and_covers_every_index_once() {
    let dir = scratch("study_slurm");
    let file = dir.join("study.json");
    std::fs::write(&file, STUDY).unwrap();
    let s = dir.join("s");
    ok(&["study", "plan", p(&file), "--out", p(&s)]);
    ok(&["study", "slurm", p(&s), "--parallel", "3"]);
    let script = s.join("slurm.sh");
    let check = std::process::Command::new("bash").args(["-n", p(&script)]).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("#SBATCH --array=0-7%3") && text.contains("--index \"$SLURM_ARRAY_TASK_ID\""), "{text}");
    assert!(s.join("logs").is_dir(), "Slurm needs the log directory before the job starts");
    // Each array index runs exactly one task: the script with a fake array id runs that task.
    let run = std::process::Command::new("bash")
        .arg(&script)
        .env("STRONGID", env!("CARGO_BIN_EXE_strongid"))
        .env("SLURM_ARRAY_TASK_ID", "1")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(ok(&["study", "status", p(&s)]).starts_with("8 tasks: 1 done"));
    // Bad study files and indices are refused.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"name": "x", "datasets": [{"name": "t", "simulate": "tmi", "recipe": {"dim": 2, "n": 100}}], "models": [{"name": "m", "kind": "nope"}], "seeds": [0]}"#).unwrap();
    expect_input_error(&["study", "plan", p(&bad), "--out", p(&dir.join("x"))], &["unknown kind 'nope'"]);
    std::fs::write(&bad, r#"{"name": "x", "datasets": [], "models": [], "seeds": [0], "extra": 1}"#).unwrap();
    expect_input_error(&["study", "plan", p(&bad), "--out", p(&dir.join("x"))], &["bad.json", "not a study file", "unknown field `extra`"]);
    expect_input_error(&["study", "run", p(&s), "--index", "99"], &["--index 99: the study has 8 tasks"]);
}

/// The experiment suite's fits as study files (`studies/`): each plans, with the suite's
/// settings as row labels, and the misspecified settings marked.
#[test]
fn the_shipped_suite_studies_plan_with_the_suites_rows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies");
    let dir = scratch("suite_studies");
    let mut counts = Vec::new();
    for (file, tasks) in [("e1.json", 20), ("e2.json", 50), ("e3.json", 60), ("e4.json", 5), ("e6.json", 15)] {
        let out = dir.join(file);
        ok(&["study", "plan", p(&root.join(file)), "--out", p(&out)]);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        let entries = v["tasks"].as_array().unwrap();
        assert_eq!(entries.len(), tasks, "{file}");
        counts.push(entries.len());
        for t in entries {
            let task = &t["task"];
            assert!(task["setting"].is_string(), "{file}: every row is labelled as in the suite");
            let misspecified = task["misspecified"].as_bool().unwrap_or(false);
            let setting = task["setting"].as_str().unwrap();
            assert_eq!(misspecified, setting.contains("reversed") || setting.contains("wrong anchors"), "{file}: {setting}");
        }
    }
    assert_eq!(counts.iter().sum::<usize>(), 150);
}

/// Study features the suite's files use: per-dataset model lists, per-model restarts, a reversed
/// variable order, deliberately wrong anchors, misspecified rows and a titled single table.
#[test]
fn dataset_transforms_wrong_anchors_and_titled_tables_collect() {
    let dir = scratch("study_features");
    let file = dir.join("study.json");
    std::fs::write(&file, r#"{
      "name": "EX", "title": "features", "claim": "a claim",
      "datasets": [
        {"name": "tmi", "setting": "right order", "simulate": "tmi", "recipe": {"dim": 2, "n": 1500}, "data_seeds": [3], "models": ["tmi-flow"]},
        {"name": "tmi-r", "setting": "reversed order", "simulate": "tmi", "recipe": {"dim": 2, "n": 1500}, "data_seeds": [3], "transform": "reverse-columns", "misspecified": true, "models": ["tmi-flow"]},
        {"name": "lin", "setting": "wrong anchors", "simulate": "linear-env", "recipe": {"envs": 3, "per_env": 300, "latent_dim": 2, "obs_dim": 4}, "misspecified": true, "models": ["frozen"]}
      ],
      "models": [
        {"name": "tmi-flow", "kind": "tmi-flow", "options": ["--epochs", "15", "--hidden", "16"]},
        {"name": "frozen", "kind": "ivae-frozen", "options": ["--epochs", "5", "--hidden", "16", "--latent-dim", "2"], "anchors": "true", "anchor_means": [0.5, 1.0], "restarts": 3}
      ],
      "seeds": [0]
    }"#).unwrap();
    let dir_s = dir.join("s");
    ok(&["study", "plan", p(&file), "--out", p(&dir_s)]);
    assert_eq!(manifest_ids(&dir_s).len(), 3);
    ok(&["study", "run", p(&dir_s), "--all", "--quiet"]);
    ok(&["study", "collect", p(&dir_s)]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir_s.join("results.json")).unwrap()).unwrap();
    let exps = v["experiments"].as_array().unwrap();
    assert_eq!(exps.len(), 1, "one titled table");
    assert_eq!((exps[0]["id"].as_str(), exps[0]["title"].as_str(), exps[0]["claim"].as_str()), (Some("EX"), Some("features"), Some("a claim")));
    let rows = exps[0]["rows"].as_array().unwrap();
    let get = |s: &str| rows.iter().find(|r| r["setting"] == s).unwrap_or_else(|| panic!("row {s}"));
    assert_eq!(get("right order")["misspecified"], false);
    assert_eq!(get("reversed order")["misspecified"], true);
    assert_eq!(get("wrong anchors")["best_of"], 3);
    // The reversed order's code is not the true latent; the right order's is.
    let strong = |s: &str| get(s)["strong_mcc"]["mean"].as_f64().unwrap();
    assert!(strong("right order") > 0.9 && strong("reversed order") < strong("right order") - 0.2, "{} vs {}", strong("right order"), strong("reversed order"));
    // Wrong anchors: restarts agree, but the code is an affine image of z shifted by the wrong means.
    let rmse = get("wrong anchors")["identity_rmse"]["mean"].as_f64().unwrap();
    assert!(rmse > 0.5, "identity_rmse {rmse}");
    let md = std::fs::read_to_string(dir_s.join("results.md")).unwrap();
    assert!(md.contains("misspecified: not checked"), "{md}");
    expect_input_error(&["study", "plan", p(&write(&dir, "bad1.json", r#"{"name": "b", "datasets": [{"name": "d", "simulate": "tmi", "recipe": {"dim": 2, "n": 10}, "transform": "shuffle"}], "models": [{"name": "m", "kind": "tmi-flow"}], "seeds": [0]}"#)), "--out", p(&dir.join("b1"))], &["unknown transform 'shuffle'"]);
    expect_input_error(&["study", "plan", p(&write(&dir, "bad2.json", r#"{"name": "b", "datasets": [{"name": "d", "simulate": "tmi", "recipe": {"dim": 2, "n": 10}, "models": ["nope"]}], "models": [{"name": "m", "kind": "tmi-flow"}], "seeds": [0]}"#)), "--out", p(&dir.join("b2"))], &["no model named 'nope'"]);
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let f = dir.join(name);
    std::fs::write(&f, text).unwrap();
    f
}
