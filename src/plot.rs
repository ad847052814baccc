//! SVG line charts (plotters' SVG backend): the figures strongid writes.
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

pub struct LineChart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
}

fn range(values: impl Iterator<Item = f64>, log: bool) -> std::ops::Range<f64> {
    let v: Vec<f64> = values.filter(|v| v.is_finite() && (!log || *v > 0.0)).collect();
    let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)));
    if !lo.is_finite() {
        return if log { 1e-3..1.0 } else { 0.0..1.0 };
    }
    if log { lo / 1.5..hi * 1.5 } else { let pad = ((hi - lo) * 0.05).max(1e-12); lo - pad..hi + pad }
}

impl LineChart<'_> {
    /// Render to an SVG string.
    pub fn to_svg(&self) -> Result<String> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (720, 440)).into_drawing_area();
            let err = |e: &dyn std::fmt::Display| Error::usage(format!("plotting failed: {e}"));
            root.fill(&WHITE).map_err(|e| err(&e))?;
            let xs = range(self.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)), self.log_x);
            let ys = range(self.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)), self.log_y);
            let mut builder = ChartBuilder::on(&root);
            builder.caption(self.title, ("sans-serif", 18)).margin(12).x_label_area_size(40).y_label_area_size(60);
            macro_rules! draw {
                ($chart:expr) => {{
                    let mut chart = $chart.map_err(|e| err(&e))?;
                    chart.configure_mesh().x_desc(self.x_label).y_desc(self.y_label).draw().map_err(|e| err(&e))?;
                    for (i, s) in self.series.iter().enumerate() {
                        let color = Palette99::pick(i).to_rgba();
                        let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
                        chart
                            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                            .map_err(|e| err(&e))?
                            .label(s.label.as_str())
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
                        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled()))).map_err(|e| err(&e))?;
                    }
                    chart.configure_series_labels().background_style(WHITE.mix(0.9)).border_style(BLACK).draw().map_err(|e| err(&e))?;
                }};
            }
            match (self.log_x, self.log_y) {
                (true, true) => draw!(builder.build_cartesian_2d(xs.log_scale(), ys.log_scale())),
                (true, false) => draw!(builder.build_cartesian_2d(xs.log_scale(), ys)),
                (false, true) => draw!(builder.build_cartesian_2d(xs, ys.log_scale())),
                (false, false) => draw!(builder.build_cartesian_2d(xs, ys)),
            }
            root.present().map_err(|e| err(&e))?;
        }
        Ok(svg)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let svg = self.to_svg()?;
        crate::io::atomic_write(path, |w| w.write_all(svg.as_bytes()))
    }
}

/// Scatter panels: true vs learned latent, one panel per coordinate, side by side.
pub fn scatter_panels(title: &str, truth: &crate::Matrix, learned: &crate::Matrix, max_points: usize) -> Result<String> {
    let mut svg = String::new();
    let d = truth.cols.min(learned.cols).min(6);
    {
        let root = SVGBackend::with_string(&mut svg, (220 * d as u32 + 40, 260)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| Error::usage(format!("plotting failed: {e}"));
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let root = root.titled(title, ("sans-serif", 16)).map_err(|e| err(&e))?;
        let panels = root.split_evenly((1, d));
        let step = (truth.rows / max_points.max(1)).max(1);
        for (k, panel) in panels.iter().enumerate() {
            let xs: Vec<f64> = truth.col(k).into_iter().step_by(step).collect();
            let ys: Vec<f64> = learned.col(k).into_iter().step_by(step).collect();
            let xr = range(xs.iter().copied(), false);
            let yr = range(ys.iter().copied(), false);
            let mut chart = ChartBuilder::on(panel)
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(40)
                .caption(format!("z{}", k + 1), ("sans-serif", 14))
                .build_cartesian_2d(xr, yr)
                .map_err(|e| err(&e))?;
            chart.configure_mesh().x_desc("true").y_desc("learned").x_labels(4).y_labels(4).draw().map_err(|e| err(&e))?;
            chart
                .draw_series(xs.iter().zip(&ys).map(|(x, y)| Circle::new((*x, *y), 1, BLUE.mix(0.4).filled())))
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

/// A square heatmap of values in [−1, 1] (agreement matrices), with the numbers printed. Row i
/// (labelled on the left) is drawn from the top, like a printed matrix.
pub fn heatmap(title: &str, labels: &[String], values: &[Vec<f64>]) -> Result<String> {
    let mut svg = String::new();
    let n = labels.len();
    {
        let size = 60 * n as u32 + 120;
        let root = SVGBackend::with_string(&mut svg, (size, size)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| Error::usage(format!("plotting failed: {e}"));
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let nf = n as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 14))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(30)
            .build_cartesian_2d(0.0..nf, 0.0..nf)
            .map_err(|e| err(&e))?;
        chart.configure_mesh().disable_mesh().x_labels(0).y_labels(0).draw().map_err(|e| err(&e))?;
        for (i, row) in values.iter().enumerate() {
            let top = nf - i as f64;
            for (j, v) in row.iter().enumerate() {
                let t = v.clamp(-1.0, 1.0);
                // Blue for +1, white for 0, red for −1.
                let color = if t >= 0.0 {
                    RGBColor((255.0 * (1.0 - t)) as u8, (255.0 * (1.0 - t)) as u8, 255)
                } else {
                    RGBColor(255, (255.0 * (1.0 + t)) as u8, (255.0 * (1.0 + t)) as u8)
                };
                let x = j as f64;
                chart.draw_series(std::iter::once(Rectangle::new([(x, top - 1.0), (x + 1.0, top)], color.filled()))).map_err(|e| err(&e))?;
                chart
                    .draw_series(std::iter::once(Text::new(format!("{v:.2}"), (x + 0.3, top - 0.45), ("sans-serif", 12))))
                    .map_err(|e| err(&e))?;
            }
        }
        // Axis labels at cell centres: rows (true coordinates) on the left, columns (code) below.
        for (k, label) in labels.iter().enumerate() {
            let c = k as f64 + 0.5;
            chart.draw_series(std::iter::once(Text::new(format!("z{label}"), (-0.35, nf - c + 0.1), ("sans-serif", 12)))).map_err(|e| err(&e))?;
            chart.draw_series(std::iter::once(Text::new(format!("ẑ{label}"), (c - 0.1, -0.15), ("sans-serif", 12)))).map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}
