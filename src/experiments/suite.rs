//! E1–E6: the experiments, their quick and full settings, and the run that writes
//! results.json, results.md and report.html.
use super::{Ctx, Experiment, Figure, Mode, Row, report};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::plot::{self, LineChart, Series};
use std::path::Path;
use std::time::Instant;

fn experiment(id: &str, title: &str, claim: &str) -> Experiment {
    Experiment { id: id.into(), title: title.into(), claim: claim.into(), rows: Vec::new(), tables: Vec::new(), notes: Vec::new(), figures: Vec::new(), seconds: 0.0 }
}

fn curves_figure(caption: &str, rows: &[&Row]) -> Result<Figure> {
    // Epoch 1 is omitted: an untrained VAE's loss is orders of magnitude above the rest.
    let series = rows.iter().map(|r| Series { label: format!("{} ({})", r.model, r.setting), points: r.curve.iter().enumerate().skip(1).map(|(i, v)| ((i + 1) as f64, *v)).collect() }).collect();
    let svg = LineChart { title: caption, x_label: "epoch (from 2)", y_label: "validation loss", log_x: false, log_y: false, series }.to_svg()?;
    Ok(Figure { caption: caption.into(), svg })
}

fn scatter_figure(caption: &str, z: &Matrix, row: &Row) -> Result<Figure> {
    Ok(Figure { caption: caption.into(), svg: plot::scatter_panels(caption, z, &row.first_code, 1500)? })
}

/// Signed correlation matrix between true coordinates (rows) and code coordinates (columns).
fn corr_heatmap(caption: &str, z: &Matrix, code: &Matrix) -> Result<Figure> {
    let values: Vec<Vec<f64>> = (0..z.cols).map(|i| (0..code.cols).map(|j| crate::metrics::pearson(&z.col(i), &code.col(j))).collect()).collect();
    let labels: Vec<String> = (0..z.cols).map(|i| format!("{}", i + 1)).collect();
    Ok(Figure { caption: caption.into(), svg: plot::heatmap(caption, &labels, &values)? })
}

/// The suite's fits as study files (`studies/quick/`, `studies/`): E1–E4 and E6 run through the
/// study engine, the same one as user studies (plan, run every task, collect).
fn study_file(id: &str, mode: Mode) -> Option<&'static str> {
    let files: [(&str, &str, &str); 5] = [
        ("E1", include_str!("../../studies/quick/e1.json"), include_str!("../../studies/e1.json")),
        ("E2", include_str!("../../studies/quick/e2.json"), include_str!("../../studies/e2.json")),
        ("E3", include_str!("../../studies/quick/e3.json"), include_str!("../../studies/e3.json")),
        ("E4", include_str!("../../studies/quick/e4.json"), include_str!("../../studies/e4.json")),
        ("E6", include_str!("../../studies/quick/e6.json"), include_str!("../../studies/e6.json")),
    ];
    files.iter().find(|f| f.0 == id).map(|f| if mode == Mode::Quick { f.1 } else { f.2 })
}

/// An experiment's fitted rows from its study, planned and run under `OUT/studies/ID` (kept
/// with `--resume`: finished tasks are not refitted), and the study directory.
fn fitted(c: &Ctx, id: &str) -> Result<(Experiment, std::path::PathBuf)> {
    let text = study_file(id, c.mode).expect("a study file per fitted experiment");
    let studies = c.dir.join("studies");
    let dir = studies.join(id);
    if !c.resume && dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    std::fs::create_dir_all(&studies).map_err(|e| Error::io(&studies, e))?;
    let file = studies.join(format!("{id}.json"));
    crate::io::atomic_write(&file, |w| w.write_all(text.as_bytes()))?;
    let manifest = crate::study::plan(&file, &dir)?;
    let kept = crate::study::status(&dir)?.done.len();
    if kept > 0 {
        eprintln!("  {kept} of {} tasks kept from an earlier run ({})", manifest.tasks.len(), dir.display());
    }
    let r = crate::study::run_all(&dir, true, |_| {})?;
    if let Some((i, err)) = r.failed.first() {
        return Err(Error::usage(format!("{id}: {} of {} tasks failed; task {i}: {err}", r.failed.len(), r.total)));
    }
    let (mut exps, _, missing) = crate::study::collect_experiments(&dir)?;
    if missing > 0 || exps.len() != 1 {
        return Err(Error::usage(format!("{id}: the study did not collect into one table ({missing} tasks missing)")));
    }
    Ok((exps.remove(0), dir))
}

/// The true latent of a row's data (regenerated from its first task's recipe).
fn truth(dir: &Path, setting: &str) -> Result<Matrix> {
    let m = crate::study::read_manifest(dir)?;
    let e = m.tasks.iter().find(|e| e.task.setting() == setting).ok_or_else(|| Error::usage(format!("no task of setting '{setting}'")))?;
    crate::study::task_data(&e.task)?.0.z.ok_or_else(|| Error::usage(format!("'{setting}' has no true latent")))
}

fn row<'a>(e: &'a Experiment, setting: &str, model: &str) -> Result<&'a Row> {
    e.rows.iter().find(|r| r.setting == setting && r.model == model).ok_or_else(|| Error::usage(format!("{}: no row {setting} / {model}", e.id)))
}

/// E1 (App. F.1): linear environments; ivae-frozen with 3 vs 2 environments; fa vs fa-tri.
fn e1(c: &Ctx) -> Result<Experiment> {
    let (mut e, dir) = fitted(c, "E1")?;
    let fig = scatter_figure("E1: ivae-frozen, 3 environments — true vs learned latent", &truth(&dir, "3 environments")?, row(&e, "3 environments", "ivae-frozen")?)?;
    e.figures.push(fig);
    Ok(e)
}

/// E2: the nonlinear iVAE recipe (THEORY §4).
fn e2(c: &Ctx) -> Result<Experiment> {
    let (mut e, _) = fitted(c, "E2")?;
    let rows: Vec<&Row> = e.rows.iter().collect();
    let fig = curves_figure("E2: training curves (first seed)", &rows)?;
    e.figures.push(fig);
    Ok(e)
}

/// E3 (Thm 5.1): TMI data; tmi-flow (affine, spline) vs the permuting flow vs a VAE.
fn e3(c: &Ctx) -> Result<Experiment> {
    let (mut e, dir) = fitted(c, "E3")?;
    let setting = e.rows.iter().map(|r| r.setting.clone()).find(|s| s.starts_with("d = 4,")).ok_or_else(|| Error::usage("E3 has no d = 4 rows"))?;
    let z = truth(&dir, &setting)?;
    let (spline, permuting) = (row(&e, &setting, "tmi-flow (spline)")?.clone(), row(&e, &setting, "flow (permuting)")?.clone());
    let mut figures = vec![
        scatter_figure("E3: tmi-flow (spline), d = 4 — true vs learned latent", &z, &spline)?,
        scatter_figure("E3: permuting flow, d = 4 — true vs learned latent", &z, &permuting)?,
    ];
    for (r, name) in [(&spline, "tmi-flow (spline)"), (&permuting, "permuting flow")] {
        figures.push(corr_heatmap(&format!("E3: corr(z_i, ẑ_j), {name}, d = 4"), &z, &r.first_code)?);
    }
    let rows: Vec<&Row> = e.rows.iter().filter(|r| r.setting == setting).collect();
    figures.push(curves_figure("E3: training curves, d = 4 (first seed)", &rows)?);
    e.figures.extend(figures);
    Ok(e)
}

/// E4 (Prop. 5.2): TMI generator with independent non-Gaussian sources (uniform, exponential,
/// Laplace: `simulate tmi` with sources "mixed").
fn e4(c: &Ctx) -> Result<Experiment> {
    let (mut e, dir) = fitted(c, "E4")?;
    let r = e.rows.first().ok_or_else(|| Error::usage("E4 has no row"))?.clone();
    let z = truth(&dir, &r.setting)?;
    let signed_spearman: f64 = {
        let (rz, rc) = (crate::metrics::ranks(&z), crate::metrics::ranks(&r.first_code));
        (0..z.cols).map(|k| crate::metrics::pearson(&rz.col(k), &rc.col(k))).sum::<f64>() / z.cols as f64
    };
    e.notes.push(format!("signed Spearman correlation at the identity alignment (first seed): {signed_spearman:.4} — the code is a component-wise increasing function of the sources, with no permutation or flip."));
    e.figures.push(scatter_figure("E4: tmi-flow on non-Gaussian sources — each code an increasing function of its source", &z, &r)?);
    Ok(e)
}

/// E5 (§5.2): the OT → KR limit.
fn e5(c: &Ctx) -> Result<Experiment> {
    let mode = c.mode;
    use crate::ot::limit::{T_GRID, empirical_grid, exact_table, gaussian_pair};
    let mut e = experiment("E5", "OT for weighted costs → Knothe–Rosenblatt (§5.2)",
        "The c_t-optimal map converges to the KR map as t → 0 (exactly, for Gaussians); with n samples the discrete OT error is U-shaped in t and its best t shrinks as n grows.");
    let (a, b) = gaussian_pair(2, 0);
    let exact = exact_table(&a, &b, &T_GRID);
    e.tables.push((
        "closed form: ‖M_t − M_KR‖".into(),
        vec!["t".into(), "max entry error".into(), "Frobenius error".into()],
        exact.iter().map(|r| vec![format!("{}", r.t), format!("{:.3e}", r.max_entry_error), format!("{:.3e}", r.frobenius_error)]).collect(),
    ));
    let sizes: Vec<usize> = if mode == Mode::Quick { vec![100, 200, 400] } else { vec![250, 500, 1000, 2000] };
    let grids: Vec<_> = sizes.iter().map(|&n| empirical_grid(&a, &b, n, &T_GRID, 0)).collect();
    let mut header = vec!["t".to_string()];
    header.extend(sizes.iter().map(|n| format!("n = {n}")));
    let mut rows: Vec<Vec<String>> = T_GRID.iter().enumerate().map(|(i, t)| std::iter::once(format!("{t}")).chain(grids.iter().map(|g| format!("{:.4}", g[i].rmse_to_kr))).collect()).collect();
    rows.push(std::iter::once("best t".to_string()).chain(grids.iter().map(|g| format!("{}", g.iter().min_by(|x, y| x.rmse_to_kr.total_cmp(&y.rmse_to_kr)).expect("grid").t))).collect());
    e.tables.push(("discrete OT: RMSE of matched targets to KR images".into(), header, rows));
    let mut series = vec![Series { label: "closed form (max entry error)".into(), points: exact.iter().map(|r| (r.t, r.max_entry_error)).collect() }];
    series.extend(grids.iter().map(|g| Series { label: format!("discrete OT, n = {}", g[0].n), points: g.iter().map(|r| (r.t, r.rmse_to_kr)).collect() }));
    let svg = LineChart { title: "OT for c_t → KR as t → 0", x_label: "t", y_label: "error vs KR", log_x: true, log_y: true, series }.to_svg()?;
    e.figures.push(Figure { caption: "E5: the OT → KR convergence curve".into(), svg });
    Ok(e)
}

/// E6: misspecification — what strong identifiability does and does not promise.
fn e6(c: &Ctx) -> Result<Experiment> {
    let (mut e, _) = fitted(c, "E6")?;
    e.notes.push("The same data with the true anchors is E1's first row (strong_mcc ≈ 1). Misspecified rows are outside the theory's assumptions, so their restart agreement is reported but not checked against it.".into());
    Ok(e)
}

/// Run the suite and write results.json, results.md and report.html into `out`.
/// With `resume`, the tasks an earlier run finished into `out/studies` are kept, not refitted.
pub fn run(mode: Mode, out: &Path, only: Option<&[String]>, resume: bool) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let c = Ctx { mode, dir: out, resume };
    let all: [(&str, fn(&Ctx) -> Result<Experiment>); 6] = [("E1", e1), ("E2", e2), ("E3", e3), ("E4", e4), ("E5", e5), ("E6", e6)];
    let start = Instant::now();
    let mut done = Vec::new();
    for (id, f) in all {
        if only.is_some_and(|o| !o.iter().any(|x| x.eq_ignore_ascii_case(id))) {
            continue;
        }
        let t = Instant::now();
        eprintln!("{id} …");
        let mut e = f(&c)?;
        e.seconds = t.elapsed().as_secs_f64();
        eprintln!("{id} done in {:.0} s", e.seconds);
        done.push(e);
    }
    let run = if mode == Mode::Quick { "quick" } else { "full" };
    report::write(&done, run, Some(start.elapsed().as_secs_f64()), out)
}
