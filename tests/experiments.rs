//! The quick experiment suite end to end (what `strongid demo` runs): every theorem's row comes
//! out as the theory says, and the report has every table and figure.
mod common;
use common::*;

#[test]
fn quick_suite_confirms_the_theory_and_writes_the_report() {
    let dir = scratch("experiments_quick");
    let out = dir.join("run");
    let res = strongid(&["experiments", "--quick", "--out", p(&out)]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let exps = v["experiments"].as_array().unwrap();
    assert_eq!(exps.iter().map(|e| e["id"].as_str().unwrap()).collect::<Vec<_>>(), ["E1", "E2", "E3", "E4", "E5", "E6"]);
    let rows = |id: &str| exps.iter().find(|e| e["id"] == id).unwrap()["rows"].as_array().unwrap().clone();
    let row = |id: &str, setting: &str, model: &str| {
        rows(id).into_iter().find(|r| r["setting"].as_str().unwrap().contains(setting) && r["model"] == model).unwrap_or_else(|| panic!("{id} {setting} {model}"))
    };
    // No silent disagreement with the theory outside the deliberately misspecified rows.
    for e in exps {
        for r in e["rows"].as_array().unwrap() {
            assert!(r["consistent"] == true || r["misspecified"] == true, "{}: {} / {} exceeds the theory", e["id"], r["setting"], r["model"]);
        }
    }
    let strong = |r: &serde_json::Value| r["strong_mcc"]["mean"].as_f64().unwrap();
    assert!(strong(&row("E1", "3 environments", "ivae-frozen")) > 0.95);
    assert!(strong(&row("E3", "d = 4", "tmi-flow (spline)")) > 0.95);
    // Issue #21's rows: observation noise, and more coordinates than latents.
    for setting in ["noise σ = 0.1", "D = 6 coordinates"] {
        let r = row("E2", setting, "ivae-frozen");
        assert!(strong(&r) > 0.9 && r["probe"] == "strongly-identifiable", "E2 {setting}: {r}");
    }
    assert!(strong(&row("E3", "d = 4", "flow (permuting)")) < strong(&row("E3", "d = 4", "tmi-flow (spline)")) - 0.05);
    assert!(strong(&row("E6", "reversed", "tmi-flow (spline)")) < 0.5);
    assert_eq!(row("E6", "reversed", "tmi-flow (spline)")["probe"], "strongly-identifiable");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for id in ["E1", "E2", "E3", "E4", "E5", "E6"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "report lacks {id}");
    }
    assert!(html.matches("<svg").count() >= 8, "report has {} figures", html.matches("<svg").count());
    assert!(std::fs::read_to_string(out.join("results.md")).unwrap().contains("| d = 4, n = 4000 | tmi-flow (spline) |"));
}

/// A suite killed midway and rerun with --resume keeps the tasks it had finished (not refitted)
/// and ends with the same results as a run that went through: its fits are study tasks, each
/// written atomically once done.
#[test]
fn a_killed_suite_resumes_keeping_its_finished_tasks() {
    let dir = scratch("experiments_resume");
    let (through, killed) = (dir.join("through"), dir.join("killed"));
    assert!(strongid(&["experiments", "--quick", "--only", "E3", "--out", p(&through)]).status.success());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_strongid"))
        .args(["experiments", "--quick", "--only", "E3", "--out", p(&killed)])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let results = killed.join("studies").join("E3").join("results");
    let finished = || std::fs::read_dir(&results).map_or(0, |d| d.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".json")).count());
    while finished() < 3 {
        assert!(start.elapsed().as_secs() < 120, "no tasks finished");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait_with_output().unwrap();
    assert!(!killed.join("results.json").exists());
    let kept_before = finished();
    assert!(kept_before < 16, "the run finished before it was killed");
    let res = strongid(&["experiments", "--quick", "--only", "E3", "--out", p(&killed), "--resume"]);
    assert!(res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains(&format!("{kept_before} of 16 tasks kept from an earlier run")), "{err}");
    let rows = |dir: &std::path::Path| {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
        v["experiments"][0]["rows"].clone()
    };
    assert_eq!(rows(&killed), rows(&through));
    // Without --resume every task is fitted again.
    let again = strongid(&["experiments", "--quick", "--only", "E4", "--out", p(&killed)]);
    assert!(again.status.success() && !String::from_utf8_lossy(&again.stderr).contains("kept from an earlier run"));
}
