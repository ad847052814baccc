//! The probe end to end on the command line: restarts of `fa` differ by rotations, `fa-tri`
//! restarts agree, both consistent with the theory.
mod common;
use common::*;

#[test]
fn probe_classifies_fa_and_fa_tri_as_the_theory_predicts() {
    let dir = scratch("probe_fa");
    let data = dir.join("data");
    assert!(strongid(&["simulate", "linear-env", "--envs", "3", "--per-env", "1000", "--out", p(&data)]).status.success());
    for (kind, class) in [("fa", "up-to-affine"), ("fa-tri", "strongly-identifiable")] {
        let out = strongid(&["probe", kind, "--data", p(&data), "--latent-dim", "2", "--restarts", "3", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["classification"], class, "{kind}: {v}");
        assert_eq!(v["consistent"], true);
        assert_eq!(v["pairs"].as_array().unwrap().len(), 3);
    }
    expect_input_error(&["probe", "fa", "--data", p(&data), "--restarts", "1"], &["at least 2 restarts"]);
}
