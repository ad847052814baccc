//! Writing the suite's results: results.json (everything, machine-readable), results.md (the
//! tables) and report.html (one self-contained page: tables and inline SVG figures).
use super::{Experiment, Row, Stat};
use crate::error::Result;
use std::fmt::Write;
use std::path::Path;

fn pm(s: &Stat) -> String {
    format!("{:.3} ± {:.3}", s.mean, s.sd)
}

const HEADER: [&str; 11] = ["setting", "model", "strong_mcc", "mcc", "mcc_spearman", "affine_r2", "identity_rmse", "code vs truth", "restarts (probe)", "theory allows", "fit s"];

fn cells(r: &Row) -> Vec<String> {
    vec![
        r.setting.clone(),
        if r.best_of > 1 { format!("{} (best of {})", r.model, r.best_of) } else { r.model.clone() },
        pm(&r.strong_mcc),
        pm(&r.mcc),
        pm(&r.mcc_spearman),
        pm(&r.affine_r2),
        pm(&r.identity_rmse),
        r.vs_truth.describe().into(),
        format!("{}{}", r.probe.describe(), if r.misspecified { " (misspecified: not checked)" } else if r.consistent { "" } else { " (exceeds theory!)" }),
        r.predicted.describe().into(),
        // Rows from the study engine carry no timings (their results are exact).
        if r.fit_seconds.mean > 0.0 { format!("{:.1}", r.fit_seconds.mean) } else { "—".into() },
    ]
}

/// "quick run, 25 s" or "study NAME" (a study's results carry no timings: they are exact).
fn run_label(run: &str, seconds: Option<f64>) -> String {
    match seconds {
        Some(s) => format!("{run} run, {s:.0} s"),
        None => run.to_string(),
    }
}

fn markdown(experiments: &[Experiment], run: &str, seconds: Option<f64>) -> String {
    let mut md = String::new();
    writeln!(md, "# strongid experiment results ({})\n", run_label(run, seconds)).ok();
    writeln!(md, "Metrics are mean ± sd over seeds; \"code vs truth\" is the smallest class relating the first seed's code to the true latent, \"restarts\" the smallest class explaining the seeds' disagreement (threshold 0.95).\n").ok();
    for e in experiments {
        writeln!(md, "## {} — {}\n\n{}\n", e.id, e.title, e.claim).ok();
        if !e.rows.is_empty() {
            writeln!(md, "| {} |", HEADER.join(" | ")).ok();
            writeln!(md, "|{}", "---|".repeat(HEADER.len())).ok();
            for r in &e.rows {
                writeln!(md, "| {} |", cells(r).join(" | ")).ok();
            }
            writeln!(md).ok();
        }
        for (title, header, rows) in &e.tables {
            writeln!(md, "**{title}**\n\n| {} |\n|{}", header.join(" | "), "---|".repeat(header.len())).ok();
            for row in rows {
                writeln!(md, "| {} |", row.join(" | ")).ok();
            }
            writeln!(md).ok();
        }
        for n in &e.notes {
            writeln!(md, "- {n}").ok();
        }
        writeln!(md, "\n({:.0} s)\n", e.seconds).ok();
    }
    md
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn html(experiments: &[Experiment], run: &str, seconds: Option<f64>) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>strongid experiments</title><style>");
    h.push_str("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}.bad{color:#b00;font-weight:bold}figure{margin:1em 0}figcaption{font-size:13px;color:#555}.claim{background:#f7f7ff;padding:.5em 1em;border-left:4px solid #88f}");
    h.push_str("</style></head><body>");
    write!(h, "<h1>strongid experiment results</h1><p>{}. Metrics are mean ± sd over seeds. <em>code vs truth</em>: smallest class relating the first seed's code to the true latent; <em>restarts</em>: smallest class explaining the seeds' disagreement (threshold 0.95); <em>theory allows</em>: the largest class the indeterminacy catalogue permits.</p>", run_label(run, seconds)).ok();
    for e in experiments {
        write!(h, "<h2 id=\"{}\">{} — {}</h2><p class=\"claim\">{}</p>", e.id, e.id, esc(&e.title), esc(&e.claim)).ok();
        if !e.rows.is_empty() {
            h.push_str("<table><tr>");
            for c in HEADER {
                write!(h, "<th>{}</th>", esc(c)).ok();
            }
            h.push_str("</tr>");
            for r in &e.rows {
                h.push_str("<tr>");
                for (i, c) in cells(r).iter().enumerate() {
                    let class = if i == 8 && !r.consistent && !r.misspecified { " class=\"bad\"" } else { "" };
                    write!(h, "<td{class}>{}</td>", esc(c)).ok();
                }
                h.push_str("</tr>");
            }
            h.push_str("</table>");
        }
        for (title, header, rows) in &e.tables {
            write!(h, "<h3>{}</h3><table><tr>", esc(title)).ok();
            for c in header {
                write!(h, "<th>{}</th>", esc(c)).ok();
            }
            h.push_str("</tr>");
            for row in rows {
                h.push_str("<tr>");
                for c in row {
                    write!(h, "<td>{}</td>", esc(c)).ok();
                }
                h.push_str("</tr>");
            }
            h.push_str("</table>");
        }
        for n in &e.notes {
            write!(h, "<p>{}</p>", esc(n)).ok();
        }
        for f in &e.figures {
            write!(h, "<figure>{}<figcaption>{}</figcaption></figure>", f.svg, esc(&f.caption)).ok();
        }
        write!(h, "<p><small>{:.0} s</small></p>", e.seconds).ok();
    }
    h.push_str("</body></html>\n");
    h
}

/// `run`: "quick", "full" or "study NAME"; `seconds`: the wall time (None for a study).
pub fn write(experiments: &[Experiment], run: &str, seconds: Option<f64>, out: &Path) -> Result<()> {
    let json = serde_json::json!({ "mode": run, "seconds": seconds, "strongid_version": env!("CARGO_PKG_VERSION"), "experiments": experiments });
    let text = serde_json::to_string_pretty(&json).expect("results serialize");
    crate::io::atomic_write(&out.join("results.json"), |w| w.write_all(text.as_bytes()))?;
    let md = markdown(experiments, run, seconds);
    crate::io::atomic_write(&out.join("results.md"), |w| w.write_all(md.as_bytes()))?;
    let page = html(experiments, run, seconds);
    crate::io::atomic_write(&out.join("report.html"), |w| w.write_all(page.as_bytes()))?;
    for e in experiments {
        for (i, f) in e.figures.iter().enumerate() {
            crate::io::atomic_write(&out.join(format!("{}_fig{}.svg", e.id.to_lowercase(), i + 1)), |w| w.write_all(f.svg.as_bytes()))?;
        }
    }
    crate::out!("{md}");
    crate::outln!("wrote {}, {} and {}", out.join("results.json").display(), out.join("results.md").display(), out.join("report.html").display());
    Ok(())
}
