//! Saved models: self-describing, bit-exact round trip, refusal of corrupted or foreign files,
//! atomic writes, no overwriting, divergence detection.
mod common;
use common::*;
use strongid::model_file::{self, Header};
use strongid::models::{Fitted, Model};
use std::path::Path;

/// A small fitted tmi-flow saved under `dir`; returns (model path, data dir).
fn small_fit(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = dir.join("data");
    let out = strongid(&["simulate", "gaussian", "--dim", "3", "--n", "2000", "--seed", "4", "--out", p(&data)]);
    assert!(out.status.success());
    let model = dir.join("m.safetensors");
    let out = strongid(&["fit", "tmi-flow", "--data", p(&data), "--out", p(&model), "--epochs", "3", "--hidden", "16", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (model, data)
}

#[test]
fn save_load_is_bit_exact_and_self_describing() {
    let dir = scratch("model_roundtrip");
    let (model, data) = small_fit(&dir);
    let m = Model::load(&model).unwrap();
    assert_eq!(m.kind.name(), "tmi-flow");
    assert!(matches!(&m.fitted, Fitted::Flow(f) if f.config.triangular));
    let copy = dir.join("copy.safetensors");
    m.save(&copy).unwrap();
    assert!(std::fs::read(&model).unwrap() == std::fs::read(&copy).unwrap(), "re-saving a loaded model changes bytes");
    let x = strongid::io::read_matrix(&data.join("x.npy")).unwrap();
    let enc = |m: &Model| m.encode(&x, None, Path::new(""), None).unwrap();
    assert_eq!(enc(&m), enc(&Model::load(&copy).unwrap()));
    let out = strongid(&["inspect", p(&model)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tmi-flow") && text.contains("\"triangular\":true") && text.contains("best validation loss"), "{text}");
}

#[test]
fn corrupted_truncated_and_foreign_files_are_refused() {
    let dir = scratch("model_corrupt");
    let (model, data) = small_fit(&dir);
    let x = data.join("x.npy");
    let bytes = std::fs::read(&model).unwrap();
    let flipped = dir.join("flipped.safetensors");
    let mut b = bytes.clone();
    let last = b.len() - 3;
    b[last] ^= 0x10;
    std::fs::write(&flipped, &b).unwrap();
    expect_input_error(&["encode", "--model", p(&flipped), "--data", p(&x), "--out", p(&dir.join("z1.npy"))], &["flipped.safetensors", "checksum mismatch"]);
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    expect_input_error(&["encode", "--model", p(&truncated), "--data", p(&x), "--out", p(&dir.join("z2.npy"))], &["truncated.safetensors"]);
    expect_input_error(&["encode", "--model", p(&x), "--data", p(&x), "--out", p(&dir.join("z3.npy"))], &["not a strongid model"]);
    // Another format version.
    let (header, tensors) = model_file::load(&model).unwrap();
    let future = Header { format_version: 99, ..header };
    let mut params: Vec<(String, strongid::Matrix)> = tensors.into_iter().collect();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let newer = dir.join("newer.safetensors");
    model_file::save(&newer, &future, &params).unwrap();
    expect_input_error(&["inspect", p(&newer)], &["format version 99 is not supported"]);
    assert!(!dir.join("z1.npy").exists() && !dir.join("z2.npy").exists());
}

#[test]
fn wrong_dimensions_and_existing_outputs_are_refused() {
    let dir = scratch("model_dims");
    let (model, _) = small_fit(&dir);
    let wide = dir.join("wide.csv");
    std::fs::write(&wide, "1,2,3,4\n5,6,7,8\n").unwrap();
    expect_input_error(&["encode", "--model", p(&model), "--data", p(&wide), "--out", p(&dir.join("z.npy"))], &["wide.csv", "4 columns", "expects 3"]);
    let before = std::fs::read(&model).unwrap();
    expect_input_error(&["fit", "flow", "--data", p(&dir.join("data")), "--out", p(&model), "--quiet"], &["already exists", "--force"]);
    assert!(before == std::fs::read(&model).unwrap(), "model was modified");
}

#[test]
fn a_failed_write_leaves_the_previous_file_intact() {
    let dir = scratch("atomic");
    let f = dir.join("keep.bin");
    std::fs::write(&f, b"previous model").unwrap();
    let err = strongid::io::atomic_write(&f, |w| {
        w.write_all(b"half of a new")?;
        Err(std::io::Error::other("interrupted"))
    });
    assert!(err.is_err());
    assert_eq!(std::fs::read(&f).unwrap(), b"previous model");
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "temporary file left behind: {leftovers:?}");
}

#[test]
fn a_diverging_fit_is_detected_and_not_saved() {
    let dir = scratch("diverge");
    let data = dir.join("data");
    assert!(strongid(&["simulate", "gaussian", "--dim", "2", "--n", "1000", "--out", p(&data)]).status.success());
    let model = dir.join("bad.safetensors");
    let out = strongid(&["fit", "tmi-flow", "--data", p(&data), "--out", p(&model), "--lr", "1e6", "--epochs", "3", "--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("diverged") && err.contains("try --lr 1e5"), "{err}");
    assert!(!model.exists());
}

/// The iVAE family standardises its input (#12, defect 10): data × 1000 fits; with
/// --no-standardize the divergence message names the likely cause.
#[test]
fn ivae_fits_data_on_any_scale_and_names_the_cause_when_told_not_to_standardise() {
    let dir = scratch("ivae_scale");
    let data = dir.join("data");
    assert!(strongid(&["simulate", "linear-env", "--envs", "3", "--per-env", "300", "--out", p(&data)]).status.success());
    let ds = strongid::io::Dataset::load(&data).unwrap();
    let big = dir.join("big");
    let scaled = strongid::io::Dataset { x: strongid::Matrix::from_fn(ds.x.rows, ds.x.cols, |i, j| 1000.0 * ds.x.get(i, j) + 1000.0), meta: None, ..ds };
    scaled.save(&big, false).unwrap();
    let model = dir.join("m.safetensors");
    let ok = strongid(&["fit", "ivae", "--data", p(&big), "--latent-dim", "2", "--epochs", "5", "--out", p(&model), "--quiet"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let raw = dir.join("raw.safetensors");
    // Without standardisation (and without the warm start, which whitens) the networks overflow.
    let out = strongid(&["fit", "ivae", "--data", p(&big), "--latent-dim", "2", "--epochs", "5", "--no-standardize", "--warm-start", "0", "--out", p(&raw), "--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("diverged") && err.contains("extreme scale") && err.contains("drop --no-standardize"), "{err}");
    assert!(!raw.exists());
}

#[test]
fn encode_and_logprob_stream_over_long_inputs_in_chunks() {
    let dir = scratch("model_stream");
    let (model, _) = small_fit(&dir);
    let m = Model::load(&model).unwrap();
    // Longer than one streaming chunk (65 536 rows), as CSV with a header.
    let n = 70_000;
    let x = strongid::simulate::standard_normal(n, 3, &mut strongid::train::stream(8, 0));
    let mut text = String::from("a,b,c\n");
    for i in 0..n {
        text.push_str(&format!("{},{},{}\n", x.get(i, 0), x.get(i, 1), x.get(i, 2)));
    }
    let csv = dir.join("long.csv");
    std::fs::write(&csv, &text).unwrap();
    let x = strongid::io::read_matrix(&csv).unwrap();
    let (z_path, lp_path) = (dir.join("z.npy"), dir.join("lp.npy"));
    assert!(strongid(&["encode", "--model", p(&model), "--data", p(&csv), "--out", p(&z_path)]).status.success());
    assert!(strongid(&["logprob", "--model", p(&model), "--data", p(&csv), "--out", p(&lp_path)]).status.success());
    assert_eq!(strongid::io::read_matrix(&z_path).unwrap(), m.encode(&x, None, Path::new(""), None).unwrap());
    assert_eq!(strongid::io::read_matrix(&lp_path).unwrap().data, m.log_prob(&x, None, Path::new("u")).unwrap());
    // A bad cell beyond the first chunk: named by line and column, nothing written.
    let mut lines: Vec<&str> = text.lines().collect();
    lines[68_001] = "0.5,oops,1";
    std::fs::write(&csv, lines.join("\n")).unwrap();
    let z2 = dir.join("z2.npy");
    expect_input_error(&["encode", "--model", p(&model), "--data", p(&csv), "--out", p(&z2)], &["long.csv", "row 68002, column 2", "'oops' is not a number"]);
    assert!(!z2.exists());
}

/// Corruption outside the weight tensors is detected (#12, defect 4): the checksum covers the
/// header JSON (kind, configuration, standardisation constants, factor-analysis parameters),
/// which used to change with exit 0 and different codes.
#[test]
fn header_corruption_is_detected() {
    let dir = scratch("model_header_corrupt");
    let (model, data) = small_fit(&dir);
    let x = data.join("x.npy");
    // One digit of the standardisation mean, same length, so the file stays well-formed.
    let flip_digit_after = |bytes: &[u8], key: &str| -> Vec<u8> {
        let at = bytes.windows(key.len()).position(|w| w == key.as_bytes()).unwrap_or_else(|| panic!("{key} not in header"));
        let mut b = bytes.to_vec();
        let k = (at + key.len()..b.len()).find(|&i| b[i].is_ascii_digit() && b[i] != b'0').unwrap();
        b[k] = if b[k] == b'9' { b'1' } else { b[k] + 1 };
        b
    };
    let edited = dir.join("edited.safetensors");
    std::fs::write(&edited, flip_digit_after(&std::fs::read(&model).unwrap(), "mean")).unwrap();
    expect_input_error(&["encode", "--model", p(&edited), "--data", p(&x), "--out", p(&dir.join("z.npy"))], &["edited.safetensors", "checksum mismatch"]);
    // Factor analysis keeps everything in the header (no tensors at all).
    let fa = dir.join("fa.safetensors");
    assert!(strongid(&["fit", "fa", "--data", p(&data), "--out", p(&fa), "--quiet"]).status.success());
    assert!(strongid(&["inspect", p(&fa)]).status.success());
    let fa_edited = dir.join("fa_edited.safetensors");
    std::fs::write(&fa_edited, flip_digit_after(&std::fs::read(&fa).unwrap(), "loading")).unwrap();
    expect_input_error(&["inspect", p(&fa_edited)], &["fa_edited.safetensors", "checksum mismatch"]);
    assert!(!dir.join("z.npy").exists());
}

/// Files of format version 1 (written before the checksum covered the header) still load.
#[test]
fn version_1_files_still_load() {
    let dir = scratch("model_v1");
    let (model, data) = small_fit(&dir);
    let (header, tensors) = model_file::load(&model).unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    // Version 1's checksum: FNV-1a over each tensor's name, shape and f32 bytes, in name order.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| bytes.iter().for_each(|b| h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    let mut views = Vec::new();
    for name in &names {
        let m = &tensors[*name];
        let bytes: Vec<u8> = m.data.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect();
        eat(name.as_bytes());
        eat(&(m.rows as u64).to_le_bytes());
        eat(&(m.cols as u64).to_le_bytes());
        eat(&bytes);
        views.push(((*name).clone(), vec![m.rows, m.cols], bytes));
    }
    let v1 = Header { format_version: 1, checksum: format!("{h:016x}"), ..header };
    let meta = std::collections::HashMap::from([("strongid".to_string(), serde_json::to_string(&v1).unwrap())]);
    let tv: Vec<(String, safetensors::tensor::TensorView)> = views.iter().map(|(n, s, d)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap())).collect();
    let old = dir.join("v1.safetensors");
    std::fs::write(&old, safetensors::serialize(tv, &Some(meta)).unwrap()).unwrap();
    let x = strongid::io::read_matrix(&data.join("x.npy")).unwrap();
    let enc = |m: &Model| m.encode(&x, None, Path::new(""), None).unwrap();
    assert_eq!(enc(&Model::load(&old).unwrap()), enc(&Model::load(&model).unwrap()));
}

/// "Never replace without --force" holds at the end too (#12, defect 7): a file that appears at
/// --out while a fit runs (another fit writing the same path) is not clobbered.
#[test]
fn an_output_that_appears_during_the_run_is_not_replaced() {
    let dir = scratch("no_replace_race");
    let data = dir.join("data");
    assert!(strongid(&["simulate", "tmi", "--dim", "3", "--n", "20000", "--out", p(&data)]).status.success());
    let out = dir.join("m.safetensors");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_strongid"))
        .args(["fit", "tmi-flow", "--data", p(&data), "--epochs", "40", "--patience", "100", "--out", p(&out), "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::write(&out, b"written by someone else").unwrap();
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains("appeared while this command ran") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"written by someone else");
    // No staging or temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).filter(|n| n.to_string_lossy().starts_with('.')).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // With --force the final step replaces it.
    assert!(strongid(&["fit", "tmi-flow", "--data", p(&data), "--epochs", "1", "--out", p(&out), "--force", "--quiet"]).status.success());
    assert!(Model::load(&out).is_ok());
}

/// Same seed ⇒ same model bytes (#12, defect 14: the header stored the wall-clock fit time), for
/// a flow and for the iVAE family with its parallel restarts; and array outputs refuse a name
/// that is not .npy (#12, defect 13: `--out z.csv` held .npy bytes).
#[test]
fn same_seed_same_model_bytes_and_npy_outputs_are_named_so() {
    let dir = scratch("model_bytes");
    let data = dir.join("data");
    assert!(strongid(&["simulate", "linear-env", "--envs", "3", "--per-env", "300", "--out", p(&data)]).status.success());
    for kind in ["tmi-flow", "ivae"] {
        let (a, b) = (dir.join(format!("{kind}_a.safetensors")), dir.join(format!("{kind}_b.safetensors")));
        for m in [&a, &b] {
            let out = strongid(&["fit", kind, "--data", p(&data), "--latent-dim", "10", "--epochs", "3", "--out", p(m), "--quiet"]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "{kind}: two fits with one seed differ in bytes");
    }
    let model = p(&dir.join("tmi-flow_a.safetensors")).to_string();
    let csv = dir.join("z.csv");
    expect_input_error(&["encode", "--model", &model, "--data", p(&data), "--out", p(&csv)], &["z.csv", "give --out a .npy name"]);
    expect_input_error(&["sample", "--model", &model, "--n", "5", "--out", p(&csv)], &["z.csv", ".npy"]);
    expect_input_error(&["logprob", "--model", &model, "--data", p(&data.join("x.npy")), "--out", p(&csv)], &["z.csv", ".npy"]);
    assert!(!csv.exists());
}

/// What the fuzzer (tests/fuzz.rs) found behind a valid checksum: a header edited to an absurd
/// size aborted on a multi-terabyte allocation; inconsistent factor-analysis shapes, a kind that
/// contradicts its configuration, a spline outside the kernels' bins panicked or loaded. Each is
/// now an error naming the problem (exit 2), never an abort.
#[test]
fn edited_configurations_behind_a_valid_checksum_are_refused() {
    let dir = scratch("model_edited_config");
    let (model, data) = small_fit(&dir);
    let (header, tensors) = model_file::load(&model).unwrap();
    let mut tensors: Vec<(String, strongid::matrix::Matrix)> = tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let edited = dir.join("edited.safetensors");
    let check = |edit: &dyn Fn(&mut Header), needle: &str| {
        let mut h = header.clone();
        edit(&mut h);
        model_file::save(&edited, &h, &tensors).unwrap();
        let err = Model::load(&edited).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
        expect_input_error(&["encode", "--model", p(&edited), "--data", p(&data), "--out", p(&dir.join("z.npy"))], &[needle]);
    };
    check(&|h| h.config["flow"]["hidden"] = serde_json::json!(1_000_000_000_000u64), "out of range");
    check(&|h| h.config["flow"]["hidden_layers"] = serde_json::json!(3), "parameters but the file stores");
    check(&|h| h.config["flow"]["transform"]["bins"] = serde_json::json!(100), "bins");
    check(&|h| h.config["standardize"]["sd"][0] = serde_json::json!(-1.0), "standardisation");
    check(&|h| h.kind = "flow".into(), "does not match its configuration");
    check(&|h| h.kind = "ivae".into(), "kind ivae does not match its configuration");
    // Factor analysis: everything is in the header.
    let fa = dir.join("fa.safetensors");
    assert!(strongid(&["fit", "fa", "--data", p(&data), "--latent-dim", "2", "--out", p(&fa)]).status.success());
    let (fa_header, _) = model_file::load(&fa).unwrap();
    for (edit, needle) in [
        (serde_json::json!({"rows": 3, "cols": 2, "data": [1.0, 2.0]}), "a 3 × 2 matrix with 2 values"),
        (serde_json::json!({"rows": 3, "cols": 0, "data": []}), "a 3 × 0 loading"),
    ] {
        let mut h = fa_header.clone();
        h.config["fa"]["loading"] = edit;
        model_file::save(&edited, &h, &[]).unwrap();
        let err = Model::load(&edited).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
    // Found by the 10⁶-case run: finite but extreme values that overflow the covariance made
    // encode and log_prob panic in a Cholesky factorisation.
    let mut h = fa_header.clone();
    h.config["fa"]["loading"]["data"][0] = serde_json::json!(1e300);
    model_file::save(&edited, &h, &[]).unwrap();
    assert!(Model::load(&edited).unwrap_err().to_string().contains("not numerically positive definite"));
    let mut h = fa_header.clone();
    h.config["fa"]["noise_var"][1] = serde_json::json!(-1.0);
    model_file::save(&edited, &h, &[]).unwrap();
    assert!(Model::load(&edited).unwrap_err().to_string().contains("noise variances positive"));
}
