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
    scatter_panels_labelled(title, truth, learned, ("true", "learned"), max_points)
}

/// Scatter panels of column k of `truth` (x axis) against column k of `learned`, with the axes
/// described by `desc` (x, y).
pub fn scatter_panels_labelled(title: &str, truth: &crate::Matrix, learned: &crate::Matrix, desc: (&str, &str), max_points: usize) -> Result<String> {
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
            chart.configure_mesh().x_desc(desc.0).y_desc(desc.1).x_labels(4).y_labels(4).draw().map_err(|e| err(&e))?;
            chart
                .draw_series(xs.iter().zip(&ys).map(|(x, y)| Circle::new((*x, *y), 1, BLUE.mix(0.4).filled())))
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

/// A square heatmap of values in [−1, 1] (agreement matrices), with the numbers printed: row i
/// is true coordinate z_i, column j code coordinate ẑ_j.
pub fn heatmap(title: &str, labels: &[String], values: &[Vec<f64>]) -> Result<String> {
    let rows: Vec<String> = labels.iter().map(|l| format!("z{l}")).collect();
    let cols: Vec<String> = labels.iter().map(|l| format!("ẑ{l}")).collect();
    grid_heatmap(title, &rows, &cols, values, 1.0)
}

/// A heatmap of a rows × columns table with the numbers printed; colour saturates at ±`scale`
/// (blue positive, red negative). Row i (labelled on the left) is drawn from the top, like a
/// printed table.
pub fn grid_heatmap(title: &str, row_labels: &[String], col_labels: &[String], values: &[Vec<f64>], scale: f64) -> Result<String> {
    let mut svg = String::new();
    let (nr, nc) = (row_labels.len(), col_labels.len());
    let left = 20 + 7 * row_labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as u32;
    {
        let (w, h) = (70 * nc as u32 + left + 40, 36 * nr as u32 + 110);
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| Error::usage(format!("plotting failed: {e}"));
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let (nrf, ncf) = (nr as f64, nc as f64);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 14))
            .margin(10)
            .margin_left(left)
            .x_label_area_size(40)
            .build_cartesian_2d(0.0..ncf, 0.0..nrf)
            .map_err(|e| err(&e))?;
        chart.configure_mesh().disable_mesh().x_labels(0).y_labels(0).draw().map_err(|e| err(&e))?;
        let scale = if scale > 0.0 && scale.is_finite() { scale } else { 1.0 };
        for (i, row) in values.iter().enumerate() {
            let top = nrf - i as f64;
            for (j, v) in row.iter().enumerate() {
                let t = (v / scale).clamp(-1.0, 1.0);
                let color = if t >= 0.0 {
                    RGBColor((255.0 * (1.0 - t)) as u8, (255.0 * (1.0 - t)) as u8, 255)
                } else {
                    RGBColor(255, (255.0 * (1.0 + t)) as u8, (255.0 * (1.0 + t)) as u8)
                };
                let x = j as f64;
                chart.draw_series(std::iter::once(Rectangle::new([(x, top - 1.0), (x + 1.0, top)], color.filled()))).map_err(|e| err(&e))?;
                // White numbers on the saturated cells, black on the pale ones.
                let ink = if t.abs() > 0.6 { WHITE } else { BLACK };
                chart
                    .draw_series(std::iter::once(Text::new(format!("{v:.2}"), (x + 0.3, top - 0.45), ("sans-serif", 12).into_font().color(&ink))))
                    .map_err(|e| err(&e))?;
            }
        }
        let area = chart.plotting_area();
        for (k, label) in row_labels.iter().enumerate() {
            let (px, py) = area.map_coordinate(&(0.0, nrf - k as f64 - 0.5));
            root.draw(&Text::new(label.clone(), (px - 7 * label.chars().count() as i32 - 6, py - 6), ("sans-serif", 12))).map_err(|e| err(&e))?;
        }
        for (k, label) in col_labels.iter().enumerate() {
            let (px, py) = area.map_coordinate(&(k as f64 + 0.1, 0.0));
            root.draw(&Text::new(label.clone(), (px, py + 8), ("sans-serif", 11))).map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}
