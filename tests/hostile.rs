//! The hostile-input catalogue, through the binary: every bad input, absurd option and broken
//! file the README promises to refuse (and every defect of the reliability issue), each with its
//! exit code, what the message must say, and — for every case — that no file was created,
//! changed or left behind (the fixture directory is compared byte for byte before and after).
mod common;
use common::{p, scratch, strongid, write_raw_npy};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every file under `dir` with its bytes (hidden temporary files included).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path.clone());
                out.insert(path, Vec::new());
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn ok(args: &[&str]) {
    let out = strongid(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The fixtures every case runs against.
fn fixtures(d: &Path) {
    let s = |name: &str| p(&d.join(name)).to_string();
    ok(&["simulate", "tmi", "--dim", "2", "--n", "300", "--out", &s("tmi")]);
    ok(&["simulate", "linear-env", "--envs", "3", "--per-env", "100", "--seed", "1", "--out", &s("lin")]);
    ok(&["simulate", "linear-env", "--envs", "3", "--per-env", "100", "--seed", "2", "--out", &s("lin2")]);
    ok(&["simulate", "linear-env", "--envs", "3", "--per-env", "100", "--seed", "1", "--out", &s("mixed")]);
    std::fs::copy(d.join("lin2/x.npy"), d.join("mixed/x.npy")).unwrap();
    ok(&["fit", "tmi-flow", "--data", &s("tmi"), "--epochs", "1", "--quiet", "--out", &s("m.safetensors")]);
    ok(&["fit", "fa", "--data", &s("lin"), "--latent-dim", "2", "--quiet", "--out", &s("fa.safetensors")]);
    // One header byte changed (the spline's tail bound 4 → 5): the checksum must notice.
    let mut bytes = std::fs::read(d.join("m.safetensors")).unwrap();
    let needle = b"tail_bound\\\":4";
    let at = bytes.windows(needle.len()).position(|w| w == needle).expect("tail bound in the header") + needle.len() - 1;
    bytes[at] = b'5';
    std::fs::write(d.join("corrupt.safetensors"), bytes).unwrap();
    let six: Vec<u8> = (0..6).flat_map(|i| f64::from(i).to_le_bytes()).collect();
    write_raw_npy(&d.join("good.npy"), "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", &six);
    write_raw_npy(&d.join("wrap.npy"), "{'descr': '<f8', 'fortran_order': False, 'shape': (6148914691236517206, 3), }", &six);
    let files: [(&str, &str); 11] = [
        ("ragged.csv", "1,2\n3\n4,5\n"),
        ("text.csv", "1,2\n3,abc\n"),
        ("nan.csv", "1,2\n3,4\nNaN,1\n"),
        ("x.txt", "1"),
        ("u_short.csv", "0\n1\n2\n"),
        ("u_real.csv", &"0.5\n".repeat(300)),
        ("priors_neg.json", r#"[{"env":0,"mean":[0,0],"var":[1,-1]},{"env":1,"mean":[1,0],"var":[1,1]},{"env":2,"mean":[0,1],"var":[1,1]}]"#),
        ("priors_tiny.json", r#"[{"env":0,"mean":[0,0],"var":[1,1]},{"env":1,"mean":[1,0],"var":[1e-320,1]},{"env":2,"mean":[0,1],"var":[1,1]}]"#),
        ("priors_bad.json", "{not json"),
        ("garbage.ckpt", "not a checkpoint\n"),
        ("exists.npy", "keep me"),
    ];
    for (name, text) in files {
        std::fs::write(d.join(name), text).unwrap();
    }
    // x on a scale whose squares overflow: with --no-standardize the iVAE cannot take a step.
    let huge: String = (0..300).map(|i| (0..10).map(|j| format!("{}e200", 1 + (i * 7 + j * 3) % 9)).collect::<Vec<_>>().join(",") + "\n").collect();
    std::fs::write(d.join("huge.csv"), huge).unwrap();
    let mut u_nan = "0.5\n".repeat(300);
    u_nan.replace_range(8..11, "nan");
    std::fs::write(d.join("u_nan.csv"), u_nan).unwrap();
    std::fs::write(d.join("exists.safetensors"), "keep me too").unwrap();
    std::fs::write(d.join("exists.ckpt"), "a user's file").unwrap();
}

/// (exit code, args with {D} for the fixture directory, what the message must contain).
/// `>/dev/full` as the last argument sends standard output to a full device.
const CASES: &[(i32, &str, &[&str])] = &[
    // 1. .npy headers whose shape overflows or exceeds the file
    (2, "fit fa --data {D}/wrap.npy --out {D}/new.safetensors --quiet", &["wrap.npy", "header declares shape"]),
    (2, "eval --true {D}/wrap.npy --learned {D}/good.npy", &["wrap.npy", "header declares shape"]),
    (2, "encode --model {D}/fa.safetensors --data {D}/wrap.npy --out {D}/z.npy", &["wrap.npy", "header declares shape"]),
    // 2. absurd sizes, refused by name before any allocation
    (2, "simulate tmi --dim 2 --n 10000000000000 --out {D}/new", &["--n × --dim", "the limit is"]),
    (2, "simulate gaussian --dim 1000000 --n 2 --out {D}/new", &["--n × --dim"]),
    (2, "sample --model {D}/m.safetensors --n 10000000000000 --out {D}/s.npy", &["--n 10000000000000", "the limit is"]),
    (2, "theory fa --dim 100000", &["--dim must be between 2 and 1000"]),
    (2, "fit tmi-flow --data {D}/tmi --hidden 1000000000 --out {D}/new.safetensors", &["--hidden 1000000000", "the limit is"]),
    (2, "fit tmi-flow --data {D}/tmi --bins 100000 --out {D}/new.safetensors", &["--bins must be between 2 and 63"]),
    // 3. standard output on a full device
    (1, "theory >/dev/full", &["standard output", "No space left on device"]),
    // 4. model-file corruption outside the tensors
    (2, "encode --model {D}/corrupt.safetensors --data {D}/tmi --out {D}/z.npy", &["corrupt.safetensors", "checksum mismatch"]),
    (2, "inspect {D}/good.npy", &["good.npy", "not a strongid model file"]),
    // 6. a dataset directory whose files do not belong together
    (2, "fit fa --data {D}/mixed --latent-dim 2 --out {D}/new.safetensors --quiet", &["x.npy does not belong", "--force"]),
    // 8. float options: finite and in range
    (2, "simulate linear-env --envs 3 --noise nan --out {D}/new", &["--noise must be a finite standard deviation"]),
    (2, "simulate ivae --noise inf --out {D}/new", &["--noise must be a finite standard deviation"]),
    (2, "fit tmi-flow --data {D}/tmi --lr nan --out {D}/new.safetensors", &["--lr must be a finite number > 0"]),
    (2, "fit ivae --data {D}/lin --decoder-var inf --out {D}/new.safetensors", &["--decoder-var must be a finite number > 0"]),
    (2, "fit ivae --data {D}/lin --objective weighted --posterior diagonal --objective-weights 100,1,nan,10 --out {D}/new.safetensors", &["--objective-weights must be finite"]),
    (2, "fit ivae --data {D}/lin --objective weighted --posterior diagonal --objective-weights 100,1,0 --out {D}/new.safetensors", &["--objective-weights takes four numbers"]),
    // 11. the validation fraction
    (2, "fit tmi-flow --data {D}/tmi --val-fraction 0 --out {D}/new.safetensors", &["--val-fraction must be in (0, 0.9)"]),
    // 12. the probe's threshold
    (2, "probe tmi-flow --data {D}/tmi --threshold nan --epochs 1", &["--threshold must be in (0, 1]"]),
    (2, "probe tmi-flow --data {D}/tmi --threshold 2 --epochs 1", &["--threshold must be in (0, 1]"]),
    // 13. array outputs are .npy
    (2, "encode --model {D}/m.safetensors --data {D}/tmi --out {D}/z.csv", &["z.csv", "give --out a .npy name"]),
    // options that do not apply to a kind
    (2, "fit vae --data {D}/lin --anchors {D}/lin/priors.json --out {D}/new.safetensors", &["--anchors applies to ivae-frozen only"]),
    (2, "fit ivae --data {D}/lin --latent-dim 11 --out {D}/new.safetensors", &["--latent-dim 11", "10 columns"]),
    (2, "fit tmi-flow --data {D}/tmi --latent-dim 1 --out {D}/new.safetensors", &["a flow's latent dimension"]),
    (2, "sample --model {D}/m.safetensors --n 5 --env 1 --out {D}/s.npy", &["--env applies to models with environment priors"]),
    (2, "fit ivae-frozen --data {D}/lin --out {D}/new.safetensors", &["exactly one of --anchors", "--freeze-after"]),
    // malformed files: the file, the row, the column
    (2, "eval --true {D}/ragged.csv --learned {D}/good.npy", &["ragged.csv", "row 2", "expected 2"]),
    (2, "eval --true {D}/text.csv --learned {D}/good.npy", &["text.csv", "row 2, column 2", "'abc' is not a number"]),
    (2, "fit fa --data {D}/nan.csv --out {D}/new.safetensors", &["nan.csv", "row 3, column 1", "not finite"]),
    (2, "fit fa --data {D}/missing.npy --out {D}/new.safetensors", &["missing.npy"]),
    (2, "fit fa --data {D}/x.txt --out {D}/new.safetensors", &["x.txt", "expected .npy or .csv"]),
    // u: rows, values, kind
    (2, "fit ivae --data {D}/lin --aux {D}/u_short.csv --out {D}/new.safetensors", &["u_short.csv", "has 3 labels but the data has 300 rows"]),
    (2, "fit ivae --data {D}/lin --aux {D}/u_nan.csv --aux-kind continuous --out {D}/new.safetensors", &["u_nan.csv", "row 3, column 1", "not finite"]),
    (2, "fit ivae-frozen --data {D}/lin --aux {D}/u_real.csv --anchors {D}/lin/priors.json --out {D}/new.safetensors", &["u_real.csv", "needs integer environment labels"]),
    // priors
    (2, "fit ivae-frozen --data {D}/lin --anchors {D}/priors_neg.json --latent-dim 2 --out {D}/new.safetensors", &["priors_neg.json", "variance -1 must be positive"]),
    (2, "fit ivae-frozen --data {D}/lin --anchors {D}/priors_tiny.json --latent-dim 2 --out {D}/new.safetensors", &["priors_tiny.json", "overflow"]),
    (2, "fit ivae-frozen --data {D}/lin --anchors {D}/priors_bad.json --latent-dim 2 --out {D}/new.safetensors", &["priors_bad.json", "expected a JSON list"]),
    // a fit that cannot train: exit 1, nothing saved, the likely cause named
    (1, "fit ivae --data {D}/huge.csv --aux {D}/lin/u.npy --no-standardize --out {D}/new.safetensors --quiet", &["diverged", "before any step", "drop --no-standardize"]),
    // nothing the user had is replaced without --force
    (2, "fit fa --data {D}/tmi --out {D}/exists.safetensors", &["exists.safetensors", "already exists", "--force"]),
    (2, "encode --model {D}/m.safetensors --data {D}/tmi --out {D}/exists.npy", &["exists.npy", "already exists"]),
    (2, "simulate tmi --dim 2 --n 100 --out {D}/tmi", &["tmi", "already holds a dataset", "--force"]),
    // checkpoints
    (2, "fit tmi-flow --data {D}/tmi --out {D}/new.safetensors --checkpoint {D}/exists.ckpt", &["exists.ckpt", "already exists", "--resume"]),
    (2, "fit tmi-flow --data {D}/tmi --out {D}/new.safetensors --resume {D}/garbage.ckpt", &["garbage.ckpt", "not a strongid checkpoint"]),
    (2, "fit fa --data {D}/tmi --out {D}/new.safetensors --checkpoint {D}/new.ckpt", &["nothing to checkpoint"]),
    (2, "fit tmi-flow --data {D}/tmi --out {D}/new.safetensors --checkpoint-every 5", &["--checkpoint-every needs --checkpoint"]),
];

#[test]
fn every_hostile_input_is_refused_cleanly_and_leaves_every_file_as_it_was() {
    let d = scratch("hostile");
    fixtures(&d);
    let dir = p(&d).to_string();
    let before = snapshot(&d);
    let mut failures = Vec::new();
    for (code, line, needles) in CASES {
        let line = line.replace("{D}", &dir);
        let mut words: Vec<&str> = line.split_whitespace().collect();
        let full = words.last() == Some(&">/dev/full");
        if full {
            words.pop();
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strongid"));
        cmd.args(&words).stderr(Stdio::piped());
        cmd.stdout(if full { Stdio::from(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap()) } else { Stdio::null() });
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let mut problems = Vec::new();
        if out.status.code() != Some(*code) {
            problems.push(format!("exit {:?}, expected {code}", out.status.code()));
        }
        if err.contains("panicked") || err.contains("backtrace") {
            problems.push("a panic".into());
        }
        problems.extend(needles.iter().filter(|n| !err.contains(*n)).map(|n| format!("message lacks '{n}'")));
        if snapshot(&d) != before {
            problems.push("files were created, changed or left behind".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{line}\n    {}\n    stderr: {}", problems.join("; "), err.trim()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}
