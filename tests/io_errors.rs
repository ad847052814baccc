//! Bad input is a clear error naming the file (and row/column), with exit code 2.
mod common;
use common::*;
use strongid::io::{self, read_labels, read_matrix};

#[test]
fn csv_with_header_and_values_is_read() {
    let dir = scratch("csv_ok");
    let f = dir.join("x.csv");
    std::fs::write(&f, "a,b\n1,2.5\n-3e-1, 4\n\n").unwrap();
    let m = read_matrix(&f).unwrap();
    assert_eq!((m.rows, m.cols), (2, 2));
    assert_eq!(m.data, vec![1.0, 2.5, -0.3, 4.0]);
    std::fs::write(&f, "1,2\n3,4\n").unwrap();
    assert_eq!(read_matrix(&f).unwrap().rows, 2);
}

#[test]
fn npy_round_trip_f64_and_f32_input() {
    let dir = scratch("npy_ok");
    let m = strongid::Matrix::new(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
    io::write_npy(&dir.join("m.npy"), &m).unwrap();
    assert_eq!(read_matrix(&dir.join("m.npy")).unwrap(), m);
    let data: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    write_raw_npy(&dir.join("f.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", &data);
    assert_eq!(read_matrix(&dir.join("f.npy")).unwrap().data, vec![1.5, -2.0]);
    let labels: Vec<u8> = [3i32, 1, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
    write_raw_npy(&dir.join("u.npy"), "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", &labels);
    assert_eq!(read_labels(&dir.join("u.npy")).unwrap(), vec![3, 1, 3]);
}

#[test]
fn bad_files_name_the_file_row_and_column() {
    let dir = scratch("bad_files");
    let truth = dir.join("z.csv");
    std::fs::write(&truth, "1,2\n3,4\n5,7\n").unwrap();
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("ragged.csv", "1,2\n3\n4,5\n", vec!["ragged.csv", "row 2", "expected 2"]),
        ("text.csv", "1,2\n3,abc\n", vec!["text.csv", "row 2, column 2", "'abc' is not a number"]),
        ("nan.csv", "1,2\n3,4\nNaN,1\n", vec!["nan.csv", "row 3, column 1", "not finite"]),
        ("inf.csv", "1,2\n3,inf\n", vec!["inf.csv", "row 2, column 2", "not finite"]),
    ];
    for (name, text, needles) in cases {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        expect_input_error(&["eval", "--true", p(&f), "--learned", p(&truth)], &needles);
    }
    expect_input_error(&["eval", "--true", p(&dir.join("missing.npy")), "--learned", p(&truth)], &["missing.npy"]);
    let wrong_ext = dir.join("x.txt");
    std::fs::write(&wrong_ext, "1").unwrap();
    expect_input_error(&["eval", "--true", p(&wrong_ext), "--learned", p(&truth)], &["x.txt", "expected .npy or .csv"]);
}

#[test]
fn bad_npy_dtype_rank_and_order_are_explained() {
    let dir = scratch("bad_npy");
    let truth = dir.join("z.csv");
    std::fs::write(&truth, "1,2\n3,4\n").unwrap();
    let f8: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let cases = [
        ("fortran.npy", "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", f8.clone(), "Fortran order"),
        ("rank3.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 2), }", f8.clone(), "rank-1 or rank-2"),
        ("ints.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", f8.clone(), "float32 or float64"),
        ("short.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), }", f8.clone(), "truncated"),
    ];
    for (name, dict, data, needle) in cases {
        let f = dir.join(name);
        write_raw_npy(&f, dict, &data);
        expect_input_error(&["eval", "--true", p(&f), "--learned", p(&truth)], &[name, needle]);
    }
    let garbage = dir.join("garbage.npy");
    std::fs::write(&garbage, b"not numpy at all").unwrap();
    expect_input_error(&["eval", "--true", p(&garbage), "--learned", p(&truth)], &["garbage.npy", "not a valid .npy"]);
}

#[test]
fn eval_shape_mismatch_and_json_output() {
    let dir = scratch("eval_json");
    let a = dir.join("a.csv");
    let b = dir.join("b.csv");
    std::fs::write(&a, "1,2\n3,5\n5,4\n2,2\n").unwrap();
    std::fs::write(&b, "1\n2\n3\n4\n").unwrap();
    expect_input_error(&["eval", "--true", p(&a), "--learned", p(&b)], &["b.csv", "4 × 1", "4 × 2"]);
    let out = strongid(&["eval", "--true", p(&a), "--learned", p(&a), "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("exactly one JSON object");
    for key in ["strong_mcc", "mcc", "mcc_spearman", "affine_r2", "identity_rmse", "n", "dim"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["n"], 4);
    assert!((v["strong_mcc"].as_f64().unwrap() - 1.0).abs() < 1e-12);
}

/// Writing to standard output fails cleanly: a closed pipe (`strongid … | head`) ends quietly
/// with 141 (what a shell reports for a tool killed by SIGPIPE), a full device is an error
/// naming standard output with exit 1; never a panic or backtrace.
#[test]
fn stdout_failures_are_not_panics() {
    use std::process::{Command, Stdio};
    // A pipe whose reader is gone before the child starts (dropping our end after spawning
    // would race with the child writing its small output into the pipe buffer).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_strongid")).args(["theory"]).stdout(Stdio::from(writer)).stderr(Stdio::piped()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "stderr: {err}");
    assert!(err.is_empty(), "a closed pipe should end quietly: {err}");
    if std::path::Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_strongid")).args(["theory"]).stdout(full).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "stderr: {err}");
        assert!(err.contains("standard output") && err.contains("No space left") && !err.contains("panicked"), "{err}");
    }
}

/// `--val-fraction 0` used to validate on a single row without a word (#12, defect 11).
#[test]
fn a_validation_fraction_outside_the_open_interval_is_refused() {
    let dir = scratch("val_fraction");
    let data = dir.join("data");
    assert!(strongid(&["simulate", "tmi", "--dim", "2", "--n", "200", "--out", p(&data)]).status.success());
    let model = dir.join("m.safetensors");
    for bad in ["0", "-0.1", "0.9", "nan"] {
        let arg = format!("--val-fraction={bad}");
        expect_input_error(&["fit", "tmi-flow", "--data", p(&data), &arg, "--epochs", "1", "--out", p(&model), "--quiet"], &["--val-fraction must be in (0, 0.9)"]);
        assert!(!model.exists());
    }
}

/// Float options are checked before anything runs (#12, defect 8): NaN, infinite or negative
/// values are refused with the option's name instead of writing NaN datasets or "diverging".
#[test]
fn non_finite_float_options_are_refused() {
    let dir = scratch("float_options");
    let data = dir.join("data");
    for v in ["nan", "inf", "-1"] {
        let noise = format!("--noise={v}");
        expect_input_error(&["simulate", "linear-env", "--envs", "3", &noise, "--out", p(&dir.join("lin"))], &["--noise must be a finite standard deviation"]);
        expect_input_error(&["simulate", "ivae", &noise, "--out", p(&dir.join("iv"))], &["--noise must be a finite standard deviation"]);
    }
    assert!(!dir.join("lin").join("x.npy").exists() && !dir.join("iv").join("x.npy").exists());
    assert!(strongid(&["simulate", "tmi", "--dim", "2", "--n", "200", "--out", p(&data)]).status.success());
    let model = dir.join("m.safetensors");
    for (opt, name) in [("--lr=inf", "--lr"), ("--lr=nan", "--lr"), ("--tail-bound=inf", "--tail-bound"), ("--decoder-var=inf", "--decoder-var"), ("--objective-weights=100,1,nan,10", "--objective-weights must be finite")] {
        expect_input_error(&["fit", "tmi-flow", "--data", p(&data), opt, "--epochs", "1", "--out", p(&model), "--quiet"], &[name]);
        assert!(!model.exists());
    }
    expect_input_error(&["probe", "tmi-flow", "--data", p(&data), "--threshold=nan", "--epochs", "1"], &["--threshold must be in (0, 1]"]);
}

/// A `.npy` header whose shape overflows or exceeds the file (#12, defect 1) is refused before
/// any allocation: `fit` used to panic with "capacity overflow", `eval` and `encode` to accept a
/// wrapped-around size.
#[test]
fn npy_headers_with_impossible_shapes_are_refused() {
    let dir = scratch("npy_shapes");
    let data: Vec<u8> = (0..6).flat_map(|i| f64::from(i).to_le_bytes()).collect();
    let good = dir.join("good.npy");
    write_raw_npy(&good, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", &data);
    let model = dir.join("m.safetensors");
    for (name, shape) in [("wrap", "(6148914691236517206, 3)"), ("huge", "(9223372036854775808, 2)"), ("long", "(1000, 3)")] {
        let f = dir.join(format!("{name}.npy"));
        write_raw_npy(&f, &format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}"), &data);
        let needles = [p(&f), "header declares shape"];
        expect_input_error(&["fit", "fa", "--data", p(&f), "--out", p(&model), "--quiet"], &needles);
        expect_input_error(&["eval", "--true", p(&f), "--learned", p(&good)], &needles);
        assert!(!model.exists());
    }
    // encode streams its input: the same check applies before the first chunk.
    let x = dir.join("x.csv");
    std::fs::write(&x, (0..50).map(|i| format!("{}.0,{}.5,{}.25\n", i, i % 7, i % 3)).collect::<String>()).unwrap();
    assert!(strongid(&["fit", "fa", "--data", p(&x), "--latent-dim", "2", "--out", p(&model), "--quiet"]).status.success());
    let wrap = dir.join("wrap.npy");
    expect_input_error(&["encode", "--model", p(&model), "--data", p(&wrap), "--out", p(&dir.join("z.npy"))], &[p(&wrap), "header declares shape"]);
    assert!(!dir.join("z.npy").exists());
}

/// Absurd sizes are refused by name before any allocation (#12, defect 2): each of these used to
/// abort with SIGABRT (or panic) and a backtrace.
#[test]
fn absurd_sizes_are_refused_by_name() {
    let dir = scratch("absurd_sizes");
    let data = dir.join("data");
    assert!(strongid(&["simulate", "tmi", "--dim", "2", "--n", "200", "--out", p(&data)]).status.success());
    let model = dir.join("m.safetensors");
    assert!(strongid(&["fit", "fa", "--data", p(&data), "--out", p(&model), "--quiet"]).status.success());
    let o = p(&dir.join("out")).to_string();
    let o = o.as_str();
    let o_npy = p(&dir.join("out.npy")).to_string();
    let o_npy = o_npy.as_str();
    let cases: [(&[&str], &[&str]); 7] = [
        (&["simulate", "tmi", "--dim", "2", "--n", "10000000000000", "--out", o], &["--n × --dim", "the limit is"]),
        (&["simulate", "gaussian", "--dim", "1000000", "--n", "2", "--out", o], &["--n × --dim", "1000000 × 1000000 matrix"]),
        (&["simulate", "ivae", "--segments", "18446744073709551615", "--per-segment", "2", "--out", o], &["--segments × --per-segment", "overflows"]),
        (&["theory", "fa", "--dim", "100000"], &["--dim must be between 2 and 1000"]),
        (&["fit", "tmi-flow", "--data", p(&data), "--hidden", "1000000000", "--out", o], &["--hidden 1000000000", "the limit is"]),
        (&["fit", "tmi-flow", "--data", p(&data), "--bins", "100000", "--out", o], &["--bins must be between 2 and 63"]),
        (&["sample", "--model", p(&model), "--n", "10000000000000", "--out", o_npy], &["--n 10000000000000", "the limit is"]),
    ];
    for (args, needles) in cases {
        expect_input_error(args, needles);
    }
}

/// Interrupted writes leave no hidden temporary files (#12, defect 5): SIGTERM during a streaming
/// `encode` removes its `.NAME.PID.tmp` (exit 130), and a later write of NAME removes the
/// leftovers of processes that no longer exist (e.g. killed with SIGKILL).
#[test]
fn interrupted_writes_leave_no_temporary_files() {
    let dir = scratch("signals");
    let data = dir.join("data");
    assert!(strongid(&["simulate", "tmi", "--dim", "3", "--n", "1000000", "--out", p(&data)]).status.success());
    let small_data = dir.join("small_data");
    assert!(strongid(&["simulate", "tmi", "--dim", "3", "--n", "2000", "--out", p(&small_data)]).status.success());
    let model = dir.join("m.safetensors");
    assert!(strongid(&["fit", "tmi-flow", "--data", p(&small_data), "--epochs", "1", "--out", p(&model), "--quiet"]).status.success());
    let out = dir.join("z.npy");
    let hidden = |d: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(d).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with('.')).collect()
    };
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_strongid"))
        .args(["encode", "--model", p(&model), "--data", p(&data.join("x.npy")), "--out", p(&out)])
        .env("RAYON_NUM_THREADS", "1")
        .spawn()
        .unwrap();
    // Wait until the streamed temporary file exists, then stop the process.
    let start = std::time::Instant::now();
    while hidden(&dir).is_empty() && start.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(!hidden(&dir).is_empty(), "encode never started writing");
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(130));
    assert!(hidden(&dir).is_empty(), "left behind: {:?}", hidden(&dir));
    assert!(!out.exists());
    // A leftover of a dead process is cleaned up by the next write of the same output.
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let stale = dir.join(format!(".z.npy.{pid}.tmp"));
    std::fs::write(&stale, b"partial").unwrap();
    let small = dir.join("small.csv");
    std::fs::write(&small, "0.1,0.2,0.3\n0.4,0.5,0.6\n").unwrap();
    assert!(strongid(&["encode", "--model", p(&model), "--data", p(&small), "--out", p(&out)]).status.success());
    assert!(!stale.exists() && hidden(&dir).is_empty(), "left behind: {:?}", hidden(&dir));
}

/// A dataset directory whose files come from different runs (#12, defect 6: an interrupted
/// `simulate --force` left x.npy of the new seed beside z.npy and meta.json of the old one, and
/// `fit` scored against the wrong latents) is refused: meta.json records each file's content hash.
#[test]
fn a_partly_overwritten_dataset_is_refused() {
    let dir = scratch("mixed_dataset");
    let (a, b) = (dir.join("a"), dir.join("b"));
    for (d, seed) in [(&a, "1"), (&b, "2")] {
        assert!(strongid(&["simulate", "linear-env", "--envs", "3", "--per-env", "100", "--seed", seed, "--out", p(d)]).status.success());
    }
    assert!(strongid::io::Dataset::load(&a).is_ok());
    // What an interruption between files leaves: the new x.npy next to the old rest.
    std::fs::copy(b.join("x.npy"), a.join("x.npy")).unwrap();
    let model = dir.join("m.safetensors");
    expect_input_error(&["fit", "fa", "--data", p(&a), "--latent-dim", "2", "--out", p(&model), "--quiet"], &["x.npy does not belong", "--force"]);
    std::fs::copy(b.join("priors.json"), a.join("priors.json")).unwrap();
    std::fs::copy(b.join("x.npy"), a.join("x.npy")).unwrap();
    assert!(strongid::io::Dataset::load(&a).is_err());
    // Re-simulating with --force makes it whole again, and drops files the new recipe lacks.
    assert!(strongid(&["simulate", "tmi", "--dim", "2", "--n", "300", "--out", p(&a), "--force"]).status.success());
    assert!(!a.join("u.npy").exists() && !a.join("priors.json").exists());
    assert!(strongid::io::Dataset::load(&a).is_ok());
}

/// Options that do not apply to a kind are refused instead of silently ignored (#12, tidy).
#[test]
fn options_that_do_not_apply_are_refused() {
    let dir = scratch("inapplicable");
    let data = dir.join("data");
    assert!(strongid(&["simulate", "linear-env", "--envs", "3", "--per-env", "100", "--out", p(&data)]).status.success());
    let priors = data.join("priors.json");
    let m = dir.join("m.safetensors");
    expect_input_error(&["fit", "vae", "--data", p(&data), "--anchors", p(&priors), "--out", p(&m), "--quiet"], &["--anchors applies to ivae-frozen only", "vae"]);
    expect_input_error(&["fit", "ivae", "--data", p(&data), "--freeze-after", "3", "--out", p(&m), "--quiet"], &["--freeze-after applies to ivae-frozen only"]);
    expect_input_error(&["fit", "ivae", "--data", p(&data), "--latent-dim", "11", "--out", p(&m), "--quiet"], &["--latent-dim 11", "10 columns"]);
    expect_input_error(&["fit", "tmi-flow", "--data", p(&data), "--latent-dim", "2", "--out", p(&m), "--quiet"], &["a flow's latent dimension"]);
    assert!(!m.exists());
    assert!(strongid(&["fit", "tmi-flow", "--data", p(&data), "--epochs", "1", "--out", p(&m), "--quiet"]).status.success());
    expect_input_error(&["sample", "--model", p(&m), "--n", "5", "--env", "1", "--out", p(&dir.join("s.npy"))], &["--env applies to models with environment priors", "tmi-flow"]);
}

/// Found by the fuzzer: a variance so small that 1/σ² overflows passed validation and made the
/// anchor check's SVD panic on non-finite contrasts.
#[test]
fn a_subnormal_prior_variance_is_refused_by_name() {
    let dir = scratch("priors_subnormal");
    let path = dir.join("priors.json");
    std::fs::write(&path, r#"[{"env":0,"mean":[0.7,-0.2],"var":[1,1]},{"env":1,"mean":[1.7,-1.8],"var":[1e-320,1]},{"env":2,"mean":[-0.4,0.1],"var":[1,1]}]"#).unwrap();
    let err = strongid::priors::read_anchors(&path).unwrap_err().to_string();
    assert!(err.contains("entry 2 (env 1)") && err.contains("overflow"), "{err}");
    let bad = [strongid::priors::EnvPrior { env: 0, mean: vec![1.0], var: vec![1.0] }, strongid::priors::EnvPrior { env: 1, mean: vec![2.0], var: vec![1e-320] }];
    assert!(!strongid::priors::check_anchors(&bad).strongly_identifiable);
}

/// Found by the 10⁶-case fuzz run: a `.npy` header of 0 rows and 2³² columns holds no values, so
/// it fits any file, but the streaming reader sized its chunk buffer by the columns and aborted
/// on a 240 GB allocation (2⁶⁴ − 1 columns: a capacity-overflow panic).
#[test]
fn an_empty_npy_with_absurd_columns_is_refused_before_any_allocation() {
    let dir = scratch("npy_zero_rows");
    let x = dir.join("x.csv");
    std::fs::write(&x, (0..50).map(|i| format!("{}.0,{}.5\n", i, i % 7)).collect::<String>()).unwrap();
    let model = dir.join("m.safetensors");
    assert!(strongid(&["fit", "fa", "--data", p(&x), "--latent-dim", "1", "--out", p(&model), "--quiet"]).status.success());
    for cols in ["4294967296", "18446744073709551615"] {
        let f = dir.join(format!("empty-{cols}.npy"));
        write_raw_npy(&f, &format!("{{'descr': '<f8', 'fortran_order': False, 'shape': (0, {cols}), }}"), &[]);
        expect_input_error(&["encode", "--model", p(&model), "--data", p(&f), "--out", p(&dir.join("z.npy"))], &[p(&f), "empty matrix"]);
        expect_input_error(&["logprob", "--model", p(&model), "--data", p(&f), "--out", p(&dir.join("l.npy"))], &[p(&f), "empty matrix"]);
    }
}
