//! Sachs et al., "Causal protein-signaling networks derived from multiparameter single-cell
//! data", Science 308 (2005): flow cytometry of 11 phosphorylated proteins and phospholipids in
//! 7466 human T cells under 9 experimental conditions, each a stimulation or a perturbation of
//! one signalling molecule. The conditions are the environments (u); there is no latent truth.
//! The file is `cdt/data/resources/cyto_full_data.csv` of the Causal Discovery Toolbox wheel
//! (cdt 0.6.0 on PyPI, MIT licence): the nine condition files concatenated in the order below,
//! with no label column. Provenance and the boundary check: `data/sachs/README.md`.
use super::RealDataset;
use crate::error::{Error, Result};
use crate::matrix::Matrix;

const GZ: &[u8] = include_bytes!("../../data/sachs/cyto_full_data.csv.gz");
/// SHA-256 of the file as cdt 0.6.0 ships it (checked on every load).
pub const SOURCE_SHA256: &str = "fc331dcd0bc1d8765986b88cd1d23dd5a3f52e4ffc299fdf96de9d522ddf01aa";
pub const SOURCE_FILE: &str = "cyto_full_data.csv";

/// (condition, rows, what it does) in file order. Row counts are those of the nine original
/// condition files; each boundary is a change point of the condition medians (README).
pub const CONDITIONS: [(&str, usize, &str); 9] = [
    ("CD3/CD28", 853, "general stimulation (the baseline of the next six)"),
    ("CD3/CD28 + ICAM-2", 902, "general stimulation"),
    ("CD3/CD28 + Akt inhibitor", 911, "inhibits Akt"),
    ("CD3/CD28 + G0076", 723, "inhibits PKC"),
    ("CD3/CD28 + psitectorigenin", 810, "inhibits PIP2"),
    ("CD3/CD28 + U0126", 799, "inhibits MEK"),
    ("CD3/CD28 + LY294002", 848, "inhibits PI3K (PIP3)"),
    ("PMA", 913, "activates PKC"),
    ("β2cAMP", 707, "activates PKA"),
];

pub const DESCRIPTION: &str = "sachs   7466 cells × 11 phospho-proteins (log intensities), 9 experimental conditions as environments; Sachs et al., Science 2005, via cdt 0.6.0 (MIT)";

pub fn load() -> Result<RealDataset> {
    let source = super::vendored(GZ, SOURCE_FILE, SOURCE_SHA256)?;
    let text = std::str::from_utf8(&source).expect("`vendored` checked UTF-8");
    let mut lines = text.lines();
    let columns: Vec<String> = lines.next().unwrap_or_default().split(',').map(str::to_string).collect();
    let mut data = Vec::new();
    for line in lines {
        for v in line.split(',') {
            let raw: f64 = v.parse().map_err(|_| Error::usage(format!("{SOURCE_FILE}: '{v}' is not a number")))?;
            // Intensities are ≥ 1 in this file; the log makes the long right tails of flow
            // cytometry closer to the Gaussian-mixture shape the models assume.
            data.push(raw.ln());
        }
    }
    let n: usize = CONDITIONS.iter().map(|c| c.1).sum();
    if data.len() != n * columns.len() {
        return Err(Error::usage(format!("{SOURCE_FILE}: {} values, expected {n} rows × {} columns", data.len(), columns.len())));
    }
    let u: Vec<i64> = CONDITIONS.iter().enumerate().flat_map(|(k, c)| std::iter::repeat_n(k as i64, c.1)).collect();
    let meta = serde_json::json!({
        "citation": "K. Sachs, O. Perez, D. Pe'er, D. A. Lauffenburger, G. P. Nolan. Causal protein-signaling networks derived from multiparameter single-cell data. Science 308(5721):523-529, 2005",
        "source": "cdt 0.6.0 (Causal Discovery Toolbox, PyPI wheel cdt-0.6.0-py3-none-any.whl), cdt/data/resources/cyto_full_data.csv, MIT licence",
        "source_sha256": SOURCE_SHA256,
        "preprocessing": "x = natural log of the raw intensities (all >= 1 in the source); u = condition index in file order; no other transformation, no rows removed",
        "interventions": CONDITIONS.iter().map(|c| c.2).collect::<Vec<_>>(),
        "rows_per_condition": CONDITIONS.iter().map(|c| c.1).collect::<Vec<_>>(),
    });
    Ok(RealDataset {
        name: "sachs",
        x: Matrix::new(n, columns.len(), data),
        u: Some(u),
        conditions: CONDITIONS.iter().map(|c| c.0.to_string()).collect(),
        columns,
        source,
        source_file: SOURCE_FILE,
        meta,
    })
}

#[cfg(test)]
mod tests {
    /// The vendored copy decompresses to the published file (its SHA-256, checked by `load`),
    /// and the condition boundaries sit where the medians change: U0126 blocks MEK, so
    /// p44/42 (ERK, MEK's target) falls, and psitectorigenin depletes PIP2.
    #[test]
    fn the_vendored_copy_is_the_published_file_and_the_conditions_line_up() {
        let d = super::load().unwrap();
        assert_eq!((d.x.rows, d.x.cols, d.source.len()), (7466, 11, 427_677));
        let col = |name: &str| d.columns.iter().position(|c| c == name).unwrap();
        let median = |k: i64, j: usize| {
            let u = d.u.as_ref().unwrap();
            let mut v: Vec<f64> = (0..d.x.rows).filter(|&i| u[i] == k).map(|i| d.x.get(i, j)).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (erk, pip2) = (col("p44/42"), col("PIP2"));
        assert!(median(5, erk) < median(0, erk) - 1.0, "U0126 lowers p44/42");
        assert!(median(4, pip2) < median(0, pip2) - 2.0, "psitectorigenin lowers PIP2");
    }
}
