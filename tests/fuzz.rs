//! Seeded mutation fuzzing of every reader: .npy, .csv, labels, priors.json, model files, dataset
//! directories and checkpoints. Each case mutates a valid file (bytes, numbers in the text, or —
//! for JSON and for files guarded by a checksum — the parsed structure, with the checksum redone
//! so the mutation reaches the code behind it) and reads it back; any panic is a failure (an
//! abort would end the process). A loaded model is also used (encode, log-density, sample), and a
//! resumed checkpoint trains to the end.
//!
//! `cargo test` runs FUZZ_CASES (default 300) cases per reader; `bench/fuzz.sh` runs 10⁶.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use strongid::fit::{FitOptions, fit_model};
use strongid::io::{AuxKind, Dataset};
use strongid::matrix::Matrix;
use strongid::models::{Model, ModelKind};
use strongid::nn::HostParams;
use strongid::tensor::Tensor;
use strongid::train::checkpoint::{CheckpointRef, Checkpointing, Fingerprint};
use strongid::train::{Objective, TrainConfig};

fn cases() -> usize {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

/// The reader's scratch directory: per process, as a long bench/fuzz.sh run and a cargo test may
/// run side by side; removed when the reader passes.
fn scratch_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{}", std::process::id())).join(name)
}

fn dir(name: &str) -> PathBuf {
    let d = scratch_dir(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ---------------------------------------------------------------- mutations

const BYTES: &[u8] = b"\x00\xff\x7f\x80019-.e,\n\r\"{}[]:( )'<|fiTF#";
const NUMBERS: &[&str] = &[
    "0", "-1", "1", "2", "-0", "1e308", "-1e308", "1e400", "NaN", "nan", "inf", "-inf", "18446744073709551615", "18446744073709551616", "9223372036854775807",
    "-9223372036854775808", "4294967296", "65536", "1e-320", "0.5", "99999999999999999999999", "6148914691236517206", "",
];

fn mutate_bytes(data: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut v = data.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = v.len();
        let at = if len == 0 { 0 } else { rng.random_range(0..len) };
        match rng.random_range(0..9) {
            0 if len > 0 => v[at] ^= 1 << rng.random_range(0..8),
            1 if len > 0 => v[at] = BYTES[rng.random_range(0..BYTES.len())],
            2 if len > 0 => v[at] = rng.random(),
            3 => v.insert(at, BYTES[rng.random_range(0..BYTES.len())]),
            4 if len > 0 => {
                let end = (at + rng.random_range(1..=16)).min(len);
                v.drain(at..end);
            }
            5 if len > 0 => {
                let end = (at + rng.random_range(1..=64)).min(len);
                let chunk: Vec<u8> = v[at..end].to_vec();
                let to = rng.random_range(0..=len);
                v.splice(to..to, chunk);
            }
            6 => v.truncate(at),
            _ => v = mutate_number(&v, rng),
        }
    }
    v
}

/// Replace a run of digits (with its sign, point, exponent) by an extreme or malformed number.
fn mutate_number(data: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let starts: Vec<usize> = (0..data.len()).filter(|&i| data[i].is_ascii_digit() && (i == 0 || !data[i - 1].is_ascii_digit())).collect();
    if starts.is_empty() {
        return data.to_vec();
    }
    let s = starts[rng.random_range(0..starts.len())];
    let mut e = s;
    while e < data.len() && (data[e].is_ascii_digit() || b".eE+-".contains(&data[e])) {
        e += 1;
    }
    let s = if s > 0 && data[s - 1] == b'-' { s - 1 } else { s };
    let mut v = data[..s].to_vec();
    v.extend_from_slice(NUMBERS[rng.random_range(0..NUMBERS.len())].as_bytes());
    v.extend_from_slice(&data[e..]);
    v
}

fn interesting_value(rng: &mut ChaCha8Rng) -> Value {
    match rng.random_range(0..14) {
        0 => Value::Null,
        1 => Value::Bool(true),
        2 => serde_json::json!(-1),
        3 => serde_json::json!(0),
        4 => serde_json::json!(1e308),
        5 => serde_json::json!(u64::MAX),
        6 => serde_json::json!(i64::MIN),
        7 => serde_json::json!(0.5),
        8 => serde_json::json!(""),
        9 => serde_json::json!("x"),
        10 => serde_json::json!([]),
        11 => serde_json::json!({}),
        12 => serde_json::json!(1u64 << 40),
        _ => serde_json::json!(1_000_000),
    }
}

/// Change one node of a JSON tree: replace it, or for containers drop, duplicate or add a member.
fn mutate_json(v: &mut Value, rng: &mut ChaCha8Rng) {
    let descend = rng.random_bool(0.75);
    match v {
        Value::Array(a) if !a.is_empty() && descend => {
            let i = rng.random_range(0..a.len());
            mutate_json(&mut a[i], rng)
        }
        Value::Object(o) if !o.is_empty() && descend => {
            let keys: Vec<String> = o.keys().cloned().collect();
            let k = &keys[rng.random_range(0..keys.len())];
            mutate_json(o.get_mut(k).unwrap(), rng)
        }
        Value::Array(a) if !a.is_empty() && rng.random_bool(0.5) => match rng.random_range(0..3) {
            0 => {
                a.remove(rng.random_range(0..a.len()));
            }
            1 => {
                let x = a[rng.random_range(0..a.len())].clone();
                a.push(x)
            }
            _ => a.truncate(rng.random_range(0..a.len())),
        },
        Value::Object(o) if !o.is_empty() && rng.random_bool(0.5) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            o.remove(&keys[rng.random_range(0..keys.len())]);
        }
        _ => *v = interesting_value(rng),
    }
}

/// A mutated copy of a JSON text: structural (stacked) or textual.
fn mutate_json_text(text: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    match serde_json::from_slice::<Value>(text) {
        Ok(mut v) if rng.random_bool(0.6) => {
            for _ in 0..rng.random_range(1..=3) {
                mutate_json(&mut v, rng);
            }
            serde_json::to_vec(&v).unwrap()
        }
        _ => mutate_bytes(text, rng),
    }
}

// ---------------------------------------------------------------- the harness

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
thread_local! {
    static FUZZING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Panics inside a fuzz case are recorded quietly; any other (a test's assertion) is printed.
fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if FUZZING.with(|f| f.get()) {
                PANICS.lock().unwrap().push(info.to_string());
            } else {
                default(info)
            }
        }));
    });
}

/// Run `cases` mutated inputs through `case` (which gets the case's rng and writes its input to
/// `input`); a panicking case's input is kept as `input`.crash-N.
fn fuzz(name: &str, seed: u64, input: &Path, mut case: impl FnMut(&mut ChaCha8Rng)) {
    install_hook();
    let n = cases();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut failures = Vec::new();
    let start = std::time::Instant::now();
    for i in 0..n {
        let mut case_rng = ChaCha8Rng::seed_from_u64(rng.random());
        FUZZING.with(|f| f.set(true));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&mut case_rng)));
        FUZZING.with(|f| f.set(false));
        if outcome.is_err() {
            failures.push(i);
            let _ = std::fs::copy(input, input.with_extension(format!("crash-{i}")));
        }
    }
    let messages = PANICS.lock().unwrap().clone();
    eprintln!("fuzz {name}: {n} cases, {} panics, {:.1} s", failures.len(), start.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "fuzz {name}: panics in cases {failures:?} (inputs kept beside {}): {messages:?}", input.display());
    let _ = std::fs::remove_dir_all(scratch_dir(name));
    let _ = std::fs::remove_dir(scratch_dir(name).parent().expect("per-process root")); // the last reader out
}

fn put(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

fn small_dataset() -> strongid::simulate::linear_env::LinearEnvData {
    strongid::simulate::linear_env::simulate(3, 2, 4, 40, 0.1, 1).unwrap()
}

#[test]
fn fuzz_npy_reader() {
    let d = dir("npy");
    let m = small_dataset().dataset.x;
    let seeds: Vec<Vec<u8>> = [("f64.npy", m.clone()), ("rank1.npy", Matrix::new(6, 1, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))]
        .iter()
        .map(|(name, m)| {
            let p = d.join(name);
            strongid::io::write_npy(&p, m).unwrap();
            std::fs::read(&p).unwrap()
        })
        .chain(std::iter::once({
            let p = d.join("labels.npy");
            strongid::io::write_labels_npy(&p, &[0, 1, 2, 1]).unwrap();
            std::fs::read(&p).unwrap()
        }))
        .collect();
    let path = d.join("case.npy");
    fuzz("npy", 1, &path, |rng| {
        let input = mutate_bytes(&seeds[rng.random_range(0..seeds.len())], rng);
        put(&path, &input);
        let _ = strongid::io::read_matrix(&path);
        let _ = strongid::io::read_labels(&path);
        let _ = strongid::io::read_aux(&path, AuxKind::Auto);
        if let Ok(mut r) = strongid::io::RowReader::open(&path) {
            while let Ok(Some(_)) = r.next_chunk(7) {}
        }
        let _ = strongid::io::count_rows(&path);
    });
}

#[test]
fn fuzz_csv_reader() {
    let d = dir("csv");
    let seeds: Vec<Vec<u8>> = vec![
        b"a,b,c\n1.5,2,3\n-4,5e-3,6\n7,8,9\n".to_vec(),
        b"1,2\n3,4\n5,6\n".to_vec(),
        b"0\n1\n2\n1\n0\n".to_vec(),
        b"u\n3\n-2\n7\n".to_vec(),
        b"\"x\",\"y\"\r\n1,2\r\n3,4\r\n".to_vec(),
    ];
    let path = d.join("case.csv");
    fuzz("csv", 2, &path, |rng| {
        let input = mutate_bytes(&seeds[rng.random_range(0..seeds.len())], rng);
        put(&path, &input);
        let _ = strongid::io::read_matrix(&path);
        let _ = strongid::io::read_labels(&path);
        let _ = strongid::io::read_aux(&path, AuxKind::Continuous);
        if let Ok(mut r) = strongid::io::RowReader::open(&path) {
            while let Ok(Some(_)) = r.next_chunk(2) {}
        }
    });
}

#[test]
fn fuzz_priors_reader() {
    let d = dir("priors");
    let p = d.join("seed.json");
    strongid::priors::write_anchors(&p, &small_dataset().priors).unwrap();
    let seed = std::fs::read(&p).unwrap();
    let path = d.join("case.json");
    fuzz("priors", 3, &path, |rng| {
        let input = mutate_json_text(&seed, rng);
        put(&path, &input);
        if let Ok(a) = strongid::priors::read_anchors(&path) {
            let _ = strongid::priors::check_anchors(&a);
        }
    });
}

#[test]
fn fuzz_dataset_reader() {
    let d = dir("dataset");
    let sim = small_dataset();
    let seed_dir = d.join("seed");
    sim.dataset.save(&seed_dir, false).unwrap();
    let files: Vec<(String, Vec<u8>)> =
        ["x.npy", "z.npy", "u.npy", "meta.json"].iter().map(|f| (f.to_string(), std::fs::read(seed_dir.join(f)).unwrap())).collect();
    let case_dir = d.join("case");
    let path = case_dir.join("changed");
    fuzz("dataset", 4, &path, |rng| {
        let _ = std::fs::remove_dir_all(&case_dir);
        std::fs::create_dir_all(&case_dir).unwrap();
        let target = rng.random_range(0..files.len());
        for (i, (name, bytes)) in files.iter().enumerate() {
            let p = case_dir.join(name);
            if i != target {
                std::fs::write(&p, bytes).unwrap();
            } else if rng.random_bool(0.1) {
                // the file is missing
            } else {
                let changed = if name.ends_with(".json") { mutate_json_text(bytes, rng) } else { mutate_bytes(bytes, rng) };
                std::fs::write(&p, &changed).unwrap();
                std::fs::write(&path, &changed).unwrap();
            }
        }
        let _ = Dataset::load(&case_dir);
    });
}

/// Tiny fitted models of every family, as file bytes.
fn seed_models(d: &Path) -> Vec<PathBuf> {
    let sim = small_dataset();
    let ds = &sim.dataset;
    let priors = d.join("priors.json");
    strongid::priors::write_anchors(&priors, &sim.priors).unwrap();
    let mut opts = FitOptions::defaults();
    (opts.hidden, opts.epochs, opts.quiet, opts.bins, opts.layers) = (Some(4), Some(2), true, Some(3), Some(1));
    let mut out = Vec::new();
    // (kind, anchors, flow generator: the iVAE on square data, all 4 coordinates as latents)
    for (kind, extra, flow) in [
        (ModelKind::TmiFlow, None, false),
        (ModelKind::IvaeFrozen, Some(priors.clone()), false),
        (ModelKind::Ivae, None, false),
        (ModelKind::Ivae, None, true),
        (ModelKind::FaTri, None, false),
    ] {
        let mut o = FitOptions { anchors: extra, ..opts.clone() };
        if kind != ModelKind::TmiFlow && !flow {
            o.latent_dim = Some(2);
        }
        if kind == ModelKind::Ivae && !flow {
            o.warm_start = 0;
        }
        if flow {
            o.generator = strongid::fit::GeneratorArg::Flow;
        }
        let m = fit_model(kind, &o, ds, ds.u.as_ref(), Path::new("u"), 0).unwrap();
        let p = d.join(format!("{}{}.safetensors", kind.name(), if flow { "-flow-generator" } else { "" }));
        m.save(&p).unwrap();
        out.push(p);
    }
    out
}

/// Use a model that loaded: encode, log-density and sample a few rows (none may panic).
fn exercise(m: &Model) {
    let (dx, dz) = (m.obs_dim(), m.latent_dim());
    if dx == 0 || dx > 10_000 || dz > 10_000 {
        return;
    }
    let x = Matrix::from_fn(3, dx, |i, j| (i as f64 - 1.0) * 0.3 + j as f64 * 0.1);
    let u = m.needs_labels().then(|| match &m.fitted {
        strongid::models::Fitted::Vae(v) if v.config.aux_dim > 0 => strongid::io::Aux::Continuous(Matrix::zeros(3, v.config.aux_dim)),
        strongid::models::Fitted::Vae(v) => strongid::io::Aux::Labels(vec![v.config.envs.first().copied().unwrap_or(0); 3]),
        _ => strongid::io::Aux::Labels(vec![0; 3]),
    });
    let _ = m.encode(&x, u.as_ref(), Path::new("u"), None);
    let labels = strongid::io::Aux::Labels(vec![m.fitted.envs().first().copied().unwrap_or(0); 3]);
    let _ = m.log_prob(&x, u.as_ref().or(Some(&labels)), Path::new("u"));
    let _ = m.sample(3, 0, None);
}

#[test]
fn fuzz_model_reader() {
    let d = dir("model");
    let seeds: Vec<(Vec<u8>, strongid::model_file::Header, Vec<(String, Matrix)>)> = seed_models(&d)
        .iter()
        .map(|p| {
            let (h, t) = strongid::model_file::load(p).unwrap();
            let mut t: Vec<(String, Matrix)> = t.into_iter().collect();
            t.sort_by(|a, b| a.0.cmp(&b.0));
            (std::fs::read(p).unwrap(), h, t)
        })
        .collect();
    let path = d.join("case.safetensors");
    fuzz("model", 5, &path, |rng| {
        let (bytes, header, tensors) = &seeds[rng.random_range(0..seeds.len())];
        let input = if rng.random_bool(0.3) {
            mutate_bytes(bytes, rng)
        } else {
            // Behind the checksum: mutate the header's JSON or the tensors, then save properly.
            let mut h = header.clone();
            let mut t = tensors.clone();
            for _ in 0..rng.random_range(1..=3) {
                match rng.random_range(0..6) {
                    0 | 1 => mutate_json(&mut h.config, rng),
                    2 => mutate_json(&mut h.training, rng),
                    3 if !t.is_empty() => {
                        let i = rng.random_range(0..t.len());
                        let m = &t[i].1;
                        let (r, c) = match rng.random_range(0..3) {
                            0 => (m.rows + 1, m.cols),
                            1 => (m.rows, m.cols.saturating_sub(1)),
                            _ => (0, m.cols),
                        };
                        t[i].1 = Matrix::zeros(r, c);
                    }
                    4 if !t.is_empty() => {
                        let i = rng.random_range(0..t.len());
                        let k = rng.random_range(0..t[i].1.data.len().max(1));
                        if let Some(v) = t[i].1.data.get_mut(k) {
                            *v = [f64::NAN, f64::INFINITY, 1e30, -1e30, 0.0][rng.random_range(0..5)];
                        }
                    }
                    _ if !t.is_empty() => {
                        t.remove(rng.random_range(0..t.len()));
                    }
                    _ => h.kind = ["tmi-flow", "flow", "vae", "ivae", "ivae-frozen", "fa", "fa-tri", "x"][rng.random_range(0..8)].into(),
                }
            }
            strongid::model_file::save(&path, &h, &t).unwrap();
            std::fs::read(&path).unwrap()
        };
        put(&path, &input);
        if let Ok(m) = Model::load(&path) {
            exercise(&m);
        }
    });
}

/// Least squares on a fixed 60 × 2 design: the objective a fuzzed checkpoint resumes.
struct Lsq(Matrix);

impl Objective for Lsq {
    fn loss(&self, _: &[Tensor<2>], _: &[usize], _: &mut ChaCha8Rng) -> Tensor<1> {
        unreachable!("hand-written gradient")
    }
    fn loss_and_grad(&self, p: &HostParams, rows: &[usize], _: &mut ChaCha8Rng) -> (f64, Vec<Vec<f32>>) {
        let w = &p.values[0];
        let (mut loss, mut g) = (0.0, vec![0.0f32; 2]);
        for &r in rows {
            let res = f64::from(w[0]) * self.0.get(r, 0) + f64::from(w[1]) - self.0.get(r, 1);
            loss += res * res;
            g[0] += (2.0 * res * self.0.get(r, 0)) as f32;
            g[1] += (2.0 * res) as f32;
        }
        let n = rows.len() as f64;
        (loss / n, vec![g.iter().map(|v| (f64::from(*v) / n) as f32).collect()])
    }
    fn loss_value(&self, p: &HostParams, rows: &[usize], rng: &mut ChaCha8Rng) -> f64 {
        self.loss_and_grad(p, rows, rng).0
    }
    fn n_rows(&self) -> usize {
        self.0.rows
    }
}

#[test]
fn fuzz_checkpoint_reader() {
    let d = dir("checkpoint");
    let obj = Lsq(Matrix::from_fn(60, 2, |i, j| if j == 0 { i as f64 / 30.0 - 1.0 } else { 2.0 * (i as f64 / 30.0 - 1.0) + 0.5 }));
    let fingerprint = Fingerprint { command: Default::default(), data: "lsq".into() };
    let start = || HostParams { shapes: vec![[1, 2]], values: vec![vec![0.0, 0.0]] }.tensors();
    let cfg = |handle| TrainConfig { epochs: 6, batch: 8, lr: 0.05, checkpoint: Some(CheckpointRef { handle, key: "seed0".into() }), ..TrainConfig::default() };
    // A checkpoint written mid-fit (stopped by its interrupt flag after an epoch or so).
    let seed_path = d.join("seed.ckpt");
    let stop: &'static std::sync::atomic::AtomicBool = Box::leak(Box::new(std::sync::atomic::AtomicBool::new(false)));
    let handle = std::sync::Arc::new(Checkpointing::new(&seed_path, fingerprint.clone(), Some(3), std::time::Duration::from_secs(3600), stop));
    struct Stop<'a>(&'a Lsq, &'static std::sync::atomic::AtomicBool, std::sync::atomic::AtomicUsize);
    impl Objective for Stop<'_> {
        fn loss(&self, p: &[Tensor<2>], r: &[usize], g: &mut ChaCha8Rng) -> Tensor<1> {
            self.0.loss(p, r, g)
        }
        fn loss_and_grad(&self, p: &HostParams, r: &[usize], g: &mut ChaCha8Rng) -> (f64, Vec<Vec<f32>>) {
            if self.2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 10 {
                self.1.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            self.0.loss_and_grad(p, r, g)
        }
        fn loss_value(&self, p: &HostParams, r: &[usize], g: &mut ChaCha8Rng) -> f64 {
            self.0.loss_value(p, r, g)
        }
        fn n_rows(&self) -> usize {
            60
        }
    }
    assert!(strongid::train::fit(&Stop(&obj, stop, Default::default()), start(), &cfg(handle), false).is_err());
    let seed = std::fs::read(&seed_path).unwrap();
    let nl = seed.iter().position(|&b| b == b'\n').unwrap();
    let body = seed[nl + 1..].to_vec();
    let path = d.join("case.ckpt");
    let never: &'static std::sync::atomic::AtomicBool = Box::leak(Box::new(std::sync::atomic::AtomicBool::new(false)));
    fuzz("checkpoint", 6, &path, |rng| {
        let input = if rng.random_bool(0.2) {
            mutate_bytes(&seed, rng)
        } else {
            // Behind the checksum: mutate the body, then sign it.
            let body = mutate_json_text(&body, rng);
            let mut h = strongid::io::Fnv1a::new();
            h.eat(&body);
            let mut v = format!("{{\"format\":\"strongid-checkpoint\",\"format_version\":1,\"checksum\":\"{}\"}}\n", h.hex()).into_bytes();
            v.extend_from_slice(&body);
            v
        };
        put(&path, &input);
        let out = d.join("resumed.ckpt");
        let _ = std::fs::remove_file(&out);
        if let Ok(c) = Checkpointing::new(&out, fingerprint.clone(), None, std::time::Duration::from_secs(3600), never).resume_from(&path) {
            let _ = strongid::train::fit(&obj, start(), &cfg(std::sync::Arc::new(c)), false);
        }
    });
}
