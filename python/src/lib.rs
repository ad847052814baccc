//! `strongid._strongid`: the Python binding, a thin layer over the library the CLI uses. Options
//! travel as the CLI's own arguments (parsed by `FitOptions::from_args`), results as the library's
//! JSON; arrays are copied in as f64 and out as numpy arrays. Fitting and encoding release the
//! GIL and run on a worker thread, so Ctrl-C (KeyboardInterrupt) stops a fit at its next step.
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::{Path, PathBuf};
use strongid::io::{Aux, Dataset};
use strongid::matrix::Matrix;
use strongid::models::{Model, ModelKind};
use strongid::Error;

create_exception!(_strongid, FitDivergedError, PyRuntimeError, "A fit whose loss became non-finite (after the bounded recoveries) or never improved.");

/// The library's errors as Python exceptions: bad input → ValueError, files → OSError, a
/// diverged fit → FitDivergedError, a cancelled one → KeyboardInterrupt.
fn py_err(e: Error) -> PyErr {
    match e {
        Error::Io { .. } => PyOSError::new_err(e.to_string()),
        Error::Diverged { .. } => FitDivergedError::new_err(e.to_string()),
        Error::Cancelled | Error::Interrupted { .. } => PyKeyboardInterrupt::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// Run `f` on a worker thread with the GIL released, checking for Python signals every 20 ms
/// while it runs (it returns as soon as `f` does): on KeyboardInterrupt the training loops are
/// cancelled (`train::CANCEL`) and the error raised.
fn interruptible<T: Send>(py: Python<'_>, f: impl FnOnce() -> strongid::Result<T> + Send) -> PyResult<T> {
    use std::sync::atomic::Ordering;
    use std::sync::mpsc::RecvTimeoutError;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = s.spawn(move || {
            // A panic drops `tx` unsent: the receiver sees the disconnection.
            let _ = tx.send(f());
        });
        let mut rx = rx;
        loop {
            // The receiver moves into the GIL-free section and back (it is Send, not Sync).
            let (received, back) = py.detach(move || (rx.recv_timeout(std::time::Duration::from_millis(20)), rx));
            rx = back;
            match received {
                Ok(r) => return r.map_err(py_err),
                Err(RecvTimeoutError::Disconnected) => {
                    let msg = worker.join().err().map(|p| panic_message(&p)).unwrap_or_default();
                    return Err(PyRuntimeError::new_err(format!("internal error (a bug in strongid, please report it): {msg}")));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Err(signal) = py.check_signals() {
                strongid::train::CANCEL.store(true, Ordering::SeqCst);
                let _ = worker.join();
                strongid::train::CANCEL.store(false, Ordering::SeqCst);
                return Err(signal);
            }
        }
    })
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// A C-ordered f64 array as a Matrix; `name` and 0-based indices in errors.
fn matrix(name: &str, a: &PyReadonlyArray2<'_, f64>) -> PyResult<Matrix> {
    let (rows, cols) = (a.shape()[0], a.shape()[1]);
    let data: Vec<f64> = a.as_array().iter().copied().collect();
    if rows == 0 || cols == 0 {
        return Err(PyValueError::new_err(format!("{name} is empty ({rows} × {cols})")));
    }
    if let Some(k) = data.iter().position(|v| !v.is_finite()) {
        return Err(PyValueError::new_err(format!("{name}[{}, {}] is {}: values must be finite (row {}, column {}, counting from 0)", k / cols, k % cols, data[k], k / cols, k % cols)));
    }
    Ok(Matrix::new(rows, cols, data))
}

fn aux(labels: Option<PyReadonlyArray1<'_, i64>>, real: Option<PyReadonlyArray2<'_, f64>>) -> PyResult<Option<Aux>> {
    Ok(match (labels, real) {
        (Some(l), _) => Some(Aux::Labels(l.as_array().to_vec())),
        (None, Some(r)) => Some(Aux::Continuous(matrix("u", &r)?)),
        (None, None) => None,
    })
}

fn kind(name: &str) -> PyResult<ModelKind> {
    ModelKind::parse(name).ok_or_else(|| PyValueError::new_err(format!("unknown model kind '{name}'")))
}

fn options(args: Vec<String>, verbose: bool) -> PyResult<strongid::fit::FitOptions> {
    let mut o = strongid::fit::FitOptions::from_args(&args).map_err(PyValueError::new_err)?;
    o.quiet = !verbose;
    Ok(o)
}

fn out2(py: Python<'_>, m: Matrix) -> Bound<'_, PyArray2<f64>> {
    numpy::ndarray::Array2::from_shape_vec((m.rows, m.cols), m.data).expect("shape matches").into_pyarray(py)
}

/// A fitted model: the library's `Model`.
#[pyclass(module = "strongid._strongid", frozen)]
struct PyModel {
    model: Model,
}

#[pymethods]
impl PyModel {
    #[getter]
    fn kind(&self) -> &'static str {
        self.model.kind.name()
    }
    #[getter]
    fn obs_dim(&self) -> usize {
        self.model.obs_dim()
    }
    #[getter]
    fn latent_dim(&self) -> usize {
        self.model.latent_dim()
    }
    #[getter]
    fn needs_u(&self) -> bool {
        self.model.needs_labels()
    }
    /// Environment labels seen in training (iVAE family with labels), else empty.
    #[getter]
    fn envs(&self) -> Vec<i64> {
        self.model.fitted.envs().to_vec()
    }
    /// The training summary as JSON (`TrainReport`), with the fit's wall-clock `seconds` (kept
    /// out of model files, which are the same bytes for the same seed; 0 for a loaded model).
    fn report_json(&self) -> String {
        let mut v = serde_json::to_value(&self.model.report).expect("report serializes");
        v["seconds"] = self.model.report.seconds.into();
        v.to_string()
    }
    fn certificate_json(&self) -> Option<String> {
        self.model.certificate.as_ref().map(|c| serde_json::to_string(&serde_json::json!({"certificate": c, "message": c.message()})).expect("serializes"))
    }
    fn anchor_check_json(&self) -> Option<String> {
        self.model.fitted.anchor_check().map(|c| serde_json::to_string(c).expect("serializes"))
    }
    #[pyo3(signature = (x, u_labels=None, u_real=None, sample_seed=None, importance_samples=0, importance_seed=0))]
    fn encode<'py>(&self, py: Python<'py>, x: PyReadonlyArray2<'py, f64>, u_labels: Option<PyReadonlyArray1<'py, i64>>, u_real: Option<PyReadonlyArray2<'py, f64>>, sample_seed: Option<u64>, importance_samples: usize, importance_seed: u64) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let x = matrix("X", &x)?;
        let u = aux(u_labels, u_real)?;
        self.model.check_columns(Path::new("X"), x.cols).map_err(py_err)?;
        let z = interruptible(py, || match importance_samples {
            0 => self.model.encode(&x, u.as_ref(), Path::new("u"), sample_seed),
            k => self.model.encode_importance(&x, u.as_ref(), Path::new("u"), k, importance_seed, 0),
        })?;
        Ok(out2(py, z))
    }
    #[pyo3(signature = (x, u_labels=None))]
    fn log_prob<'py>(&self, py: Python<'py>, x: PyReadonlyArray2<'py, f64>, u_labels: Option<PyReadonlyArray1<'py, i64>>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let x = matrix("X", &x)?;
        let u = aux(u_labels, None)?;
        self.model.check_columns(Path::new("X"), x.cols).map_err(py_err)?;
        let lp = interruptible(py, || self.model.log_prob(&x, u.as_ref(), Path::new("u")))?;
        Ok(lp.into_pyarray(py))
    }
    #[pyo3(signature = (n, seed, env=None))]
    fn sample<'py>(&self, py: Python<'py>, n: usize, seed: u64, env: Option<i64>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        strongid::error::check_values(&format!("n = {n} samples"), n as u128 * self.model.obs_dim() as u128).map_err(py_err)?;
        let x = interruptible(py, || self.model.sample(n, seed, env))?;
        Ok(out2(py, x))
    }
    #[pyo3(signature = (seed, u_labels=None, u_real=None))]
    fn sample_given_u<'py>(&self, py: Python<'py>, seed: u64, u_labels: Option<PyReadonlyArray1<'py, i64>>, u_real: Option<PyReadonlyArray2<'py, f64>>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let u = aux(u_labels, u_real)?.ok_or_else(|| PyValueError::new_err("u is required"))?;
        let x = interruptible(py, || self.model.sample_given_u(&u, Path::new("u"), seed))?;
        Ok(out2(py, x))
    }
    /// The model file's bytes, exactly as the CLI writes them.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.model.to_bytes().map_err(py_err)?))
    }
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<PyModel> {
        Ok(PyModel { model: Model::from_bytes(data, Path::new("(bytes)")).map_err(py_err)? })
    }
    /// Write the model file (atomically; an existing file only with `overwrite`).
    fn save(&self, path: PathBuf, overwrite: bool) -> PyResult<()> {
        if path.exists() && !overwrite {
            return Err(py_err(Error::input(&path, "already exists; pass overwrite=True to replace it")));
        }
        strongid::io::write_output(&path, overwrite, |staging| self.model.save(staging)).map_err(py_err)
    }
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<PyModel> {
        Ok(PyModel { model: Model::load(&path).map_err(py_err)? })
    }
}

/// Fit a model of `kind` (the CLI's kinds) with the CLI's options as arguments.
#[pyfunction]
#[pyo3(signature = (kind_name, x, u_labels=None, u_real=None, args=Vec::new(), restarts=None, verbose=false))]
#[allow(clippy::too_many_arguments)]
fn fit<'py>(py: Python<'py>, kind_name: &str, x: PyReadonlyArray2<'py, f64>, u_labels: Option<PyReadonlyArray1<'py, i64>>, u_real: Option<PyReadonlyArray2<'py, f64>>, args: Vec<String>, restarts: Option<usize>, verbose: bool) -> PyResult<PyModel> {
    let kind = kind(kind_name)?;
    let opts = options(args, verbose)?;
    let ds = Dataset { x: matrix("X", &x)?, z: None, u: aux(u_labels, u_real)?, meta: None };
    let restarts = restarts.unwrap_or_else(|| strongid::certificate::default_restarts(kind));
    let model = interruptible(py, || strongid::certificate::fit_certified(kind, &opts, &ds, ds.u.as_ref(), Path::new("u"), restarts))?;
    Ok(PyModel { model })
}

/// Every identifiability metric of codes `zhat` against true latents `z`, as JSON.
#[pyfunction]
fn evaluate(z: PyReadonlyArray2<'_, f64>, zhat: PyReadonlyArray2<'_, f64>) -> PyResult<String> {
    let scores = strongid::metrics::evaluate(&matrix("z", &z)?, &matrix("zhat", &zhat)?).map_err(py_err)?;
    Ok(serde_json::to_string(&scores).expect("scores serialize"))
}

/// Restarts and the empirical indeterminacy probe: (report JSON (`probe::ProbeReport`), the
/// restarts' codes of x in seed order).
#[pyfunction]
#[pyo3(signature = (kind_name, x, u_labels=None, u_real=None, args=Vec::new(), restarts=4, threshold=0.95, controls=false))]
#[allow(clippy::too_many_arguments)]
fn probe<'py>(py: Python<'py>, kind_name: &str, x: PyReadonlyArray2<'py, f64>, u_labels: Option<PyReadonlyArray1<'py, i64>>, u_real: Option<PyReadonlyArray2<'py, f64>>, args: Vec<String>, restarts: usize, threshold: f64, controls: bool) -> PyResult<(String, Vec<Bound<'py, PyArray2<f64>>>)> {
    let kind = kind(kind_name)?;
    let opts = options(args, false)?;
    let ds = Dataset { x: matrix("X", &x)?, z: None, u: aux(u_labels, u_real)?, meta: None };
    let settings = strongid::probe::ProbeSettings { restarts, threshold, controls };
    let p = interruptible(py, || strongid::probe::probe(kind, &opts, &ds, ds.u.as_ref(), Path::new("u"), &settings))?;
    Ok((serde_json::to_string(&p.report).expect("report serializes"), p.codes.into_iter().map(|c| out2(py, c)).collect()))
}

/// CEBRA's and iTuna's scores of codes of the same rows, as JSON (`consistency::PeerScores`).
#[pyfunction]
fn peer_scores(codes: Vec<PyReadonlyArray2<'_, f64>>) -> PyResult<String> {
    let codes: Vec<Matrix> = codes.iter().enumerate().map(|(k, c)| matrix(&format!("code {}", k + 1), c)).collect::<PyResult<_>>()?;
    let s = strongid::metrics::consistency::peer_scores(&codes).map_err(py_err)?;
    Ok(serde_json::to_string(&s).expect("scores serialize"))
}

type Simulated<'py> = (Bound<'py, PyArray2<f64>>, Option<Bound<'py, PyArray2<f64>>>, Option<Bound<'py, PyArray1<i64>>>, Option<Bound<'py, PyArray2<f64>>>, Option<String>, Option<String>);

fn simulated<'py>(py: Python<'py>, ds: Dataset, priors: Option<&[strongid::priors::EnvPrior]>) -> Simulated<'py> {
    let (labels, real) = match ds.u {
        Some(Aux::Labels(l)) => (Some(l.into_pyarray(py)), None),
        Some(Aux::Continuous(m)) => (None, Some(out2(py, m))),
        None => (None, None),
    };
    let priors = priors.map(|p| serde_json::to_string(p).expect("priors serialize"));
    let meta = ds.meta.map(|m| m.to_string());
    (out2(py, ds.x), ds.z.map(|z| out2(py, z)), labels, real, priors, meta)
}

/// A simulator's data: (x, z, u labels, u real, priors JSON, meta JSON). `recipe` is JSON: for
/// "ivae" an `IvaeRecipe` (its noise replaced by `noise`); for the others {dim, n, seed} or
/// {envs, latent_dim, obs_dim, per_env, seed}. `noise` travels apart: JSON has no NaN, and a
/// NaN must reach the library's check.
#[pyfunction]
#[pyo3(signature = (which, recipe, noise=0.0))]
fn simulate<'py>(py: Python<'py>, which: &str, recipe: &str, noise: f64) -> PyResult<Simulated<'py>> {
    let r: serde_json::Value = serde_json::from_str(recipe).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let (ds, priors) = py.detach(|| strongid::simulate::from_recipe(which, &r, Some(noise))).map_err(py_err)?;
    Ok(simulated(py, ds, priors.as_deref()))
}

type RealData<'py> = (Bound<'py, PyArray2<f64>>, Option<Bound<'py, PyArray1<i64>>>, Vec<String>, Vec<String>, String);

/// A built-in real dataset: (x, u labels or None, condition names, column names, meta JSON).
#[pyfunction]
#[pyo3(signature = (name, pair=None))]
fn datasets_load<'py>(py: Python<'py>, name: &str, pair: Option<usize>) -> PyResult<RealData<'py>> {
    let d = py.detach(|| strongid::datasets::load(name, pair)).map_err(py_err)?;
    let meta = d.described_meta().to_string();
    Ok((out2(py, d.x), d.u.map(|u| u.into_pyarray(py)), d.conditions, d.columns, meta))
}

/// The built-in datasets: (name, one-line description).
#[pyfunction]
fn datasets_list() -> PyResult<Vec<(String, String)>> {
    strongid::datasets::names().map(|n| Ok((n.to_string(), strongid::datasets::describe(n).map_err(py_err)?.to_string()))).collect()
}

fn anchor_check(priors: &str) -> PyResult<strongid::priors::AnchorCheck> {
    let anchors: Vec<strongid::priors::EnvPrior> = serde_json::from_str(priors).map_err(|e| PyValueError::new_err(format!("anchors: expected a list of {{env, mean, var}}: {e}")))?;
    strongid::priors::validate(Path::new("anchors"), &anchors).map_err(py_err)?;
    Ok(strongid::priors::check_anchors(&anchors))
}

/// Thm 4.5's check of anchors given as JSON [{env, mean, var}], as JSON.
#[pyfunction]
fn check_anchors(priors: &str) -> PyResult<String> {
    Ok(serde_json::to_string(&anchor_check(priors)?).expect("serializes"))
}

fn dim_ok(dim: usize) -> PyResult<()> {
    if !(2..=1000).contains(&dim) {
        return Err(PyValueError::new_err(format!("dim must be between 2 and 1000, got {dim}")));
    }
    Ok(())
}

/// The catalogue's text for one kind (or all, `kind_name` None) at dimension `dim`; anchors (JSON)
/// decide ivae-frozen's set.
#[pyfunction]
#[pyo3(signature = (kind_name=None, dim=3, anchors=None, variance_only=false, seed=0))]
fn theory_explain(kind_name: Option<&str>, dim: usize, anchors: Option<&str>, variance_only: bool, seed: u64) -> PyResult<String> {
    let kind = kind_name.map(kind).transpose()?;
    dim_ok(dim)?;
    let check = anchors.map(anchor_check).transpose()?;
    strongid::theory::explain(kind, dim, check.as_ref(), variance_only, seed, None).map_err(py_err)
}

/// One kind's catalogue entry with its task table, as JSON (`theory::Entry`).
#[pyfunction]
#[pyo3(signature = (kind_name, dim=3, anchors=None, variance_only=false, seed=0))]
fn theory_entry(kind_name: &str, dim: usize, anchors: Option<&str>, variance_only: bool, seed: u64) -> PyResult<String> {
    let kind = kind(kind_name)?;
    dim_ok(dim)?;
    let check = anchors.map(anchor_check).transpose()?;
    let e = strongid::theory::Entry::of(kind, dim, check.as_ref(), variance_only, seed, None).map_err(py_err)?;
    Ok(serde_json::to_string(&e).expect("serializes"))
}

/// The catalogue of model classes at dimension `dim`, as JSON (`theory::ClassRow`s).
#[pyfunction]
fn theory_table(dim: usize) -> PyResult<String> {
    dim_ok(dim)?;
    Ok(serde_json::to_string(&strongid::theory::table(dim).map_err(py_err)?).expect("serializes"))
}

/// The experiment suite (E1–E6) into `out`.
#[pyfunction]
#[pyo3(signature = (quick, out, only=None, resume=false))]
fn experiments_run(py: Python<'_>, quick: bool, out: PathBuf, only: Option<Vec<String>>, resume: bool) -> PyResult<()> {
    let mode = if quick { strongid::experiments::Mode::Quick } else { strongid::experiments::Mode::Full };
    interruptible(py, || strongid::experiments::run(mode, &out, only.as_deref(), resume))
}

/// Expand a study file into DIR/manifest.json; the manifest as JSON.
#[pyfunction]
fn study_plan(file: PathBuf, out: PathBuf) -> PyResult<String> {
    let m = strongid::study::plan(&file, &out).map_err(py_err)?;
    Ok(serde_json::to_string(&m).expect("manifest serializes"))
}

/// Compute the task at `index` of the study in `dir` (checkpoint under dir/work/ID): its result
/// (JSON) and codes, for the caller to write (`study_write`). What a Dask worker runs.
#[pyfunction]
fn study_compute<'py>(py: Python<'py>, dir: PathBuf, index: usize) -> PyResult<(String, Bound<'py, PyArray2<f64>>)> {
    let m = strongid::study::read_manifest(&dir).map_err(py_err)?;
    let entry = m.tasks.get(index).ok_or_else(|| PyValueError::new_err(format!("index {index}: the study has {} tasks", m.tasks.len())))?.clone();
    let work = dir.join("work").join(&entry.id);
    let (result, code) = interruptible(py, || strongid::study::compute(&entry, &work, true))?;
    let _ = std::fs::remove_dir_all(&work);
    Ok((serde_json::to_string(&result).expect("results serialize"), out2(py, code)))
}

/// Write a computed task's codes and result into the study `dir` (as `study run` does).
#[pyfunction]
fn study_write(dir: PathBuf, result: &str, codes: PyReadonlyArray2<'_, f64>) -> PyResult<()> {
    let result: strongid::study::TaskResult = serde_json::from_str(result).map_err(|e| PyValueError::new_err(format!("not a task result: {e}")))?;
    let codes = matrix("codes", &codes)?;
    strongid::study::write_result(&dir, &result, &codes).map_err(py_err)
}

/// Run one task in-process (`study run --index`); false if it was already done.
#[pyfunction]
fn study_run(py: Python<'_>, dir: PathBuf, index: usize) -> PyResult<bool> {
    interruptible(py, || strongid::study::run_task(&dir, Some(index), None, true))
}

#[pyfunction]
fn study_status(dir: PathBuf) -> PyResult<String> {
    Ok(serde_json::to_string(&strongid::study::status(&dir).map_err(py_err)?).expect("serializes"))
}

/// Collect into `out`: (rows written, tasks missing).
#[pyfunction]
fn study_collect(dir: PathBuf, out: PathBuf) -> PyResult<(usize, usize)> {
    strongid::study::collect(&dir, &out).map_err(py_err)
}

#[pymodule]
fn _strongid(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModel>()?;
    m.add("FitDivergedError", m.py().get_type::<FitDivergedError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    for f in [
        wrap_pyfunction!(fit, m)?,
        wrap_pyfunction!(evaluate, m)?,
        wrap_pyfunction!(probe, m)?,
        wrap_pyfunction!(peer_scores, m)?,
        wrap_pyfunction!(simulate, m)?,
        wrap_pyfunction!(datasets_load, m)?,
        wrap_pyfunction!(datasets_list, m)?,
        wrap_pyfunction!(check_anchors, m)?,
        wrap_pyfunction!(theory_explain, m)?,
        wrap_pyfunction!(theory_table, m)?,
        wrap_pyfunction!(theory_entry, m)?,
        wrap_pyfunction!(experiments_run, m)?,
        wrap_pyfunction!(study_plan, m)?,
        wrap_pyfunction!(study_compute, m)?,
        wrap_pyfunction!(study_write, m)?,
        wrap_pyfunction!(study_run, m)?,
        wrap_pyfunction!(study_status, m)?,
        wrap_pyfunction!(study_collect, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
