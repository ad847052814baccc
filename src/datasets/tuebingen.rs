//! The Tübingen cause–effect pairs (Mooij, Peters, Janzing, Zscheischler, Schölkopf, "Distinguishing
//! cause from effect using observational data", JMLR 17, 2016): 99 two-variable real datasets
//! (altitude → temperature, age → shell weight of abalone, …), each with a known causal direction.
//! They suit the flows: a triangular monotone generator in the causal order is the
//! Knothe–Rosenblatt map of the pair (THEORY.md, Thm 5.1), unique with a fixed prior, so a
//! restart probe should agree at the identity in that order.
//! The file is `cdt/data/resources/Tuebingen_pairs.csv` of the Causal Discovery Toolbox wheel
//! (cdt 0.6.0 on PyPI, MIT licence): one row per pair, each column a space-separated sample. cdt
//! ships only the univariate pairs, numbered 1–99 in its own order, and its targets file marks
//! every pair +1 (A causes B), so the columns are in the causal order. Provenance:
//! `data/tuebingen/README.md`.
use super::RealDataset;
use crate::error::{Error, Result};
use crate::matrix::Matrix;

const GZ: &[u8] = include_bytes!("../../data/tuebingen/Tuebingen_pairs.csv.gz");
/// SHA-256 of the file as cdt 0.6.0 ships it (checked on every load).
pub const SOURCE_SHA256: &str = "e3726459486cf50642de62ce4ceb35669100f6867bd564863b4663546c1393cf";
pub const SOURCE_FILE: &str = "Tuebingen_pairs.csv";
pub const PAIRS: usize = 99;

pub const DESCRIPTION: &str = "tuebingen   99 cause-effect pairs (choose one with --pair 1..99; 94 to 16382 rows × 2 columns, cause first), no environments; Mooij et al., JMLR 2016, via cdt 0.6.0 (MIT)";

/// Pair `pair` (1-based, cdt's numbering): x = [A, B] as published (A causes B), no u.
pub fn load(pair: Option<usize>) -> Result<RealDataset> {
    let pair = pair.ok_or_else(|| Error::usage(format!("tuebingen holds {PAIRS} pairs: choose one with --pair 1..{PAIRS} (Python: pair=)")))?;
    if !(1..=PAIRS).contains(&pair) {
        return Err(Error::usage(format!("--pair {pair} is out of range: tuebingen has pairs 1..{PAIRS}")));
    }
    let source = super::vendored(GZ, SOURCE_FILE, SOURCE_SHA256)?;
    let text = std::str::from_utf8(&source).expect("`vendored` checked UTF-8");
    let id = format!("pair{pair}");
    let line = text.lines().find(|l| l.split(',').next() == Some(id.as_str())).ok_or_else(|| Error::usage(format!("{SOURCE_FILE} has no row {id}: reinstall strongid")))?;
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != 3 {
        return Err(Error::usage(format!("{SOURCE_FILE}, {id}: {} fields, expected 3 (id, A, B)", fields.len())));
    }
    let parse = |s: &str, col: &str| -> Result<Vec<f64>> {
        s.split_whitespace().map(|v| v.parse::<f64>().map_err(|_| Error::usage(format!("{SOURCE_FILE}, {id}, column {col}: '{v}' is not a number")))).collect()
    };
    let (a, b) = (parse(fields[1], "A")?, parse(fields[2], "B")?);
    if a.len() != b.len() {
        return Err(Error::usage(format!("{SOURCE_FILE}, {id}: A has {} values and B {}", a.len(), b.len())));
    }
    let n = a.len();
    let distinct = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s.dedup();
        s.len()
    };
    let meta = serde_json::json!({
        "citation": "J. M. Mooij, J. Peters, D. Janzing, J. Zscheischler, B. Schölkopf. Distinguishing cause from effect using observational data: methods and benchmarks. JMLR 17(32):1-102, 2016",
        "source": "cdt 0.6.0 (Causal Discovery Toolbox, PyPI wheel cdt-0.6.0-py3-none-any.whl), cdt/data/resources/Tuebingen_pairs.csv, MIT licence",
        "source_sha256": SOURCE_SHA256,
        "pair": pair,
        "pair_id": id,
        "direction": "A -> B (cdt's Tuebingen_targets.csv marks every pair +1)",
        "distinct_values": [distinct(&a), distinct(&b)],
        "preprocessing": "x = [A, B] as published (cause first); no transformation, no rows removed",
    });
    Ok(RealDataset {
        name: "tuebingen",
        x: Matrix::from_fn(n, 2, |i, j| if j == 0 { a[i] } else { b[i] }),
        u: None,
        conditions: Vec::new(),
        columns: vec!["A (cause)".into(), "B (effect)".into()],
        source,
        source_file: SOURCE_FILE,
        meta,
    })
}

#[cfg(test)]
mod tests {
    /// The vendored copy is the published file (SHA-256 checked by `load`); pair 1 is the
    /// 349 weather stations (altitude in m → mean temperature), whose temperature falls with
    /// altitude; out-of-range and missing pairs are refused.
    #[test]
    fn pairs_load_in_the_causal_order() {
        let d = super::load(Some(1)).unwrap();
        assert_eq!((d.x.rows, d.x.cols), (349, 2));
        let r = crate::metrics::pearson(&d.x.col(0), &d.x.col(1));
        assert!(r < -0.5, "temperature falls with altitude: r = {r}");
        assert_eq!(super::load(Some(99)).unwrap().x.rows, 109);
        assert!(super::load(Some(100)).unwrap_err().to_string().contains("1..99"));
        assert!(super::load(None).unwrap_err().to_string().contains("--pair"));
    }
}
