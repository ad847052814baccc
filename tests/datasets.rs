//! Issue #22: the real datasets install with the project and export as dataset directories.
mod common;
use common::*;

/// `datasets export sachs` writes the published file byte for byte (its SHA-256 as cdt 0.6.0
/// ships it), x.npy / u.npy of 7466 rows with 9 environments and no z.npy (no truth), and does
/// not overwrite an existing dataset without --force.
#[test]
fn sachs_exports_as_a_dataset_directory_with_the_published_source() {
    let dir = scratch("datasets").join("sachs");
    let out = strongid(&["datasets", "export", "sachs", "--out", p(&dir)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let source = std::fs::read(dir.join("cyto_full_data.csv")).unwrap();
    assert_eq!(strongid::datasets::sha256_hex(&source), "fc331dcd0bc1d8765986b88cd1d23dd5a3f52e4ffc299fdf96de9d522ddf01aa");
    let ds = strongid::io::Dataset::load(&dir).unwrap();
    assert_eq!((ds.x.rows, ds.x.cols), (7466, 11));
    assert!(ds.z.is_none() && !dir.join("z.npy").exists());
    let Some(strongid::io::Aux::Labels(u)) = ds.u else { panic!("environment labels") };
    assert_eq!(u.iter().collect::<std::collections::BTreeSet<_>>().len(), 9);
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["conditions"][5], "CD3/CD28 + U0126");
    // x is the log of the source's values: first row, first column 26.4.
    assert!((ds.x.get(0, 0) - 26.4f64.ln()).abs() < 1e-12);
    expect_input_error(&["datasets", "export", "sachs", "--out", p(&dir)], &["already holds a dataset", "--force"]);
    let unknown = strongid(&["datasets", "export", "nope", "--out", p(&dir)]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("the built-in datasets are sachs, tuebingen"));
}

/// `datasets export tuebingen --pair N` writes one cause–effect pair (cause first), no u.npy
/// (no environments), the published file byte for byte; a missing or out-of-range pair and a
/// --pair given to a single dataset are refused (exit 2) naming the range.
#[test]
fn tuebingen_pairs_export_one_at_a_time() {
    let dir = scratch("datasets-tuebingen").join("pair47");
    let out = strongid(&["datasets", "export", "tuebingen", "--pair", "47", "--out", p(&dir)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let source = std::fs::read(dir.join("Tuebingen_pairs.csv")).unwrap();
    assert_eq!(strongid::datasets::sha256_hex(&source), "e3726459486cf50642de62ce4ceb35669100f6867bd564863b4663546c1393cf");
    let ds = strongid::io::Dataset::load(&dir).unwrap();
    assert_eq!((ds.x.rows, ds.x.cols), (254, 2));
    assert!(ds.u.is_none() && !dir.join("u.npy").exists() && !dir.join("z.npy").exists());
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["pair_id"], "pair47");
    let other = dir.with_file_name("refused");
    expect_input_error(&["datasets", "export", "tuebingen", "--out", p(&other)], &["--pair 1..99"]);
    expect_input_error(&["datasets", "export", "tuebingen", "--pair", "0", "--out", p(&other)], &["out of range", "1..99"]);
    expect_input_error(&["datasets", "export", "sachs", "--pair", "3", "--out", p(&other)], &["single dataset"]);
}
