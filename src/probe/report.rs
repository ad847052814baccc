//! `probe --report DIR`: one self-contained HTML page (tables and inline SVG figures) that a
//! user can read and put in a paper's supplement: the verdict, the per-coordinate agreement of
//! the real fit beside its null controls as heat maps, CEBRA's and iTuna's scores beside
//! strongid's levels, restart-vs-reference (and, with a known z, truth-vs-reference) scatter, and
//! the environments' means in the learned code. The report JSON goes next to it.
use super::{Probe, ProbeReport};
use crate::error::{Error, Result};
use crate::io::Aux;
use crate::matrix::Matrix;
use crate::plot;
use std::fmt::Write;
use std::path::Path;

const LEVELS: [&str; 5] = ["identity", "perm + sign", "component-wise", "affine", "smooth"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The per-coordinate agreement of one probe as a coordinates × levels heat map.
fn coordinate_heatmap(title: &str, r: &ProbeReport) -> Result<String> {
    let rows: Vec<String> = r.coordinates.iter().map(|c| format!("ẑ{}", c.coordinate)).collect();
    let cols: Vec<String> = LEVELS.iter().map(|s| s.to_string()).collect();
    let values: Vec<Vec<f64>> = r.coordinates.iter().map(|c| vec![c.identity, c.permutation_sign, c.componentwise, c.affine, c.smooth]).collect();
    plot::grid_heatmap(title, &rows, &cols, &values, 1.0)
}

/// Mean of each code coordinate within each environment (labels only).
pub fn condition_means(code: &Matrix, labels: &[i64]) -> (Vec<i64>, Vec<Vec<f64>>) {
    let mut envs: Vec<i64> = labels.to_vec();
    envs.sort();
    envs.dedup();
    let means = envs
        .iter()
        .map(|&e| {
            let rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == e).collect();
            (0..code.cols).map(|j| rows.iter().map(|&i| code.get(i, j)).sum::<f64>() / rows.len() as f64).collect()
        })
        .collect();
    (envs, means)
}

fn summary_row(html: &mut String, name: &str, r: &ProbeReport) {
    let i = &r.peers.ituna;
    writeln!(
        html,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
        esc(name),
        r.classification.describe(),
        esc(&r.verdict),
        r.peers.cebra_mean,
        i.identity,
        i.permutation,
        i.linear,
        i.affine
    )
    .ok();
}

/// Error unless `dir` is free for a report (neither file exists): the CLI asks before fitting.
pub fn check_free(dir: &Path) -> Result<()> {
    match [dir.join("report.html"), dir.join("probe.json")].into_iter().find(|p| p.exists()) {
        Some(p) => Err(Error::input(&p, "already exists: --report never overwrites; choose another directory")),
        None => Ok(()),
    }
}

/// Write DIR/report.html and DIR/probe.json. `truth`: the data's z, if known; `conditions`:
/// names of the environments (by label order), if known. Never overwrites.
pub fn write(dir: &Path, probe: &Probe, u: Option<&Aux>, truth: Option<&Matrix>, conditions: Option<&[String]>) -> Result<()> {
    check_free(dir)?;
    let (html_path, json_path) = (dir.join("report.html"), dir.join("probe.json"));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let r = &probe.report;
    let mut html = String::new();
    writeln!(html, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>strongid probe: {}</title>", r.kind).ok();
    writeln!(html, "<style>body{{font-family:sans-serif;max-width:1300px;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:nth-child(-n+3){{text-align:left}}.fig{{display:flex;flex-wrap:wrap;gap:1em}}</style></head><body>").ok();
    writeln!(html, "<h1>strongid probe: {}, {} restarts (seeds {:?})</h1>", r.kind, r.seeds.len(), r.seeds).ok();
    writeln!(html, "<p><b>Verdict:</b> {}</p>", esc(&r.verdict)).ok();
    writeln!(html, "<p><b>Theory:</b> {} → at most {}. Whole code, every pair ≥ {}: {} ({}).</p>", esc(&r.theory_set), r.predicted.describe(), r.threshold, r.classification.describe(), if r.consistent { "consistent with the theory" } else { "INCONSISTENT with the theory" }).ok();
    if let Some(c) = &r.caveat {
        writeln!(html, "<p><b>Caveat:</b> {}</p>", esc(c)).ok();
    }
    for line in r.control_summary() {
        writeln!(html, "<p><b>Control:</b> {}</p>", esc(&line)).ok();
    }
    writeln!(html, "<h2>Real fit and null controls</h2><table><tr><th>fit</th><th>whole code</th><th>verdict</th><th>CEBRA consistency</th><th>iTuna identity</th><th>iTuna permutation</th><th>iTuna linear</th><th>iTuna affine</th></tr>").ok();
    summary_row(&mut html, "real", r);
    for c in &r.controls {
        match &c.result {
            Some(cr) => summary_row(&mut html, c.description, cr),
            None => writeln!(html, "<tr><td>{}</td><td colspan=\"7\">not fitted: {}</td></tr>", c.description, esc(c.error.as_deref().unwrap_or(""))).map_or((), |_| ()),
        }
    }
    writeln!(html, "</table>").ok();
    writeln!(html, "<h2>Per-coordinate agreement</h2><p>Each coordinate of restart {} (seed {}, lowest validation loss) against every other restart: the worst over restarts at each level (identity: signed Pearson with the same coordinate; perm + sign: |Pearson| after matching; component-wise: |Spearman| after matching; affine and smooth: R² from the other whole code).</p><div class=\"fig\">", r.reference + 1, r.seeds[r.reference]).ok();
    html.push_str(&coordinate_heatmap("real fit", r)?);
    for c in &r.controls {
        if let Some(cr) = &c.result {
            html.push_str(&coordinate_heatmap(&format!("control: {}", c.description), cr)?);
        }
    }
    writeln!(html, "</div>").ok();
    let reference = &probe.codes[r.reference];
    let worst = (0..probe.codes.len())
        .filter(|&b| b != r.reference)
        .map(|b| (b, crate::metrics::strong_mcc(reference, &probe.codes[b])))
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(b, _)| b);
    writeln!(html, "<h2>Restarts against each other</h2><div class=\"fig\">").ok();
    if let Some(b) = worst {
        let title = format!("seed {} (the least agreeing restart) vs seed {} (reference)", r.seeds[b], r.seeds[r.reference]);
        html.push_str(&plot::scatter_panels_labelled(&title, reference, &probe.codes[b], ("reference", "other restart"), 2000)?);
    }
    if let Some(z) = truth.filter(|z| z.cols == reference.cols && z.rows == reference.rows) {
        html.push_str(&plot::scatter_panels_labelled("true latent vs reference code", z, reference, ("true z", "reference code"), 2000)?);
    }
    writeln!(html, "</div>").ok();
    if let Some(Aux::Labels(labels)) = u {
        let (envs, means) = condition_means(reference, labels);
        let names: Vec<String> = envs.iter().map(|&e| conditions.and_then(|c| c.get(e as usize)).map_or(format!("env {e}"), |n| format!("{n} ({e})"))).collect();
        let cols: Vec<String> = (1..=reference.cols).map(|k| format!("ẑ{k}")).collect();
        let scale = means.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        writeln!(html, "<h2>Environments in the learned code</h2><p>Mean of each coordinate of the reference code within each environment (colour saturates at ±{scale:.2}).</p>").ok();
        html.push_str(&plot::grid_heatmap("condition means", &names, &cols, &means, scale)?);
    }
    writeln!(html, "</body></html>").ok();
    crate::io::atomic_write(&json_path, |w| w.write_all(serde_json::to_string_pretty(r).expect("report serializes").as_bytes()))?;
    crate::io::atomic_write(&html_path, |w| w.write_all(html.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn condition_means_average_within_each_environment() {
        let code = crate::matrix::Matrix::new(4, 1, vec![1.0, 3.0, 10.0, 20.0]);
        let (envs, means) = super::condition_means(&code, &[2, 2, 5, 5]);
        assert_eq!((envs, means), (vec![2, 5], vec![vec![2.0], vec![15.0]]));
    }
}
