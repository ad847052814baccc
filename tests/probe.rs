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

/// Issue #22: null controls are what they say. On data where ivae-frozen with the true anchors
/// is strongly identifiable, the real restarts agree at the identity, and the same restarts with
/// u shuffled across rows or the environments merged agree at no level (u then carries no
/// information about x); the report says the agreement comes from u. The codes are saved, and
/// a second run does not overwrite them. A model without u cannot have u-controls.
#[test]
fn null_controls_destroy_the_agreement_that_u_creates() {
    let dir = scratch("probe_controls");
    let data = dir.join("data");
    let sim = ["simulate", "ivae", "--latent-dim", "2", "--obs-dim", "2", "--segments", "10", "--per-segment", "300", "--modulation", "mean-variance", "--seed", "6", "--out", p(&data)];
    assert!(strongid(&sim).status.success());
    let (anchors, codes) = (data.join("priors.json"), dir.join("codes"));
    let report = dir.join("report");
    let args = ["probe", "ivae-frozen", "--data", p(&data), "--anchors", p(&anchors), "--restarts", "3", "--controls", "--save-codes", p(&codes), "--report", p(&report), "--json"];
    let out = strongid(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["classification"], "strongly-identifiable", "{v}");
    assert!(v["verdict"].as_str().unwrap().starts_with("coordinates 1–2 unique at the identity across 3 restarts"), "{}", v["verdict"]);
    let controls = v["controls"].as_array().unwrap();
    assert_eq!(controls.len(), 2);
    for c in controls {
        assert_eq!(c["result"]["classification"], "not-identifiable", "{}: {}", c["control"], c["result"]);
    }
    for s in 0..3 {
        assert!(codes.join(format!("code_seed{s}.npy")).exists());
    }
    // The report: the verdict, a heat map for the real fit and each control, the restart and
    // truth scatters, the environment means; the JSON beside it is the printed one.
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains(v["verdict"].as_str().unwrap()) && html.contains("control: u shuffled across rows"));
    assert_eq!(html.matches("<svg").count(), 6, "3 heat maps, 2 scatters, 1 condition-means map");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(report.join("probe.json")).unwrap()).unwrap();
    assert_eq!(saved, v);
    expect_input_error(&args, &["never overwrites"]);
    let flow = strongid(&["probe", "tmi-flow", "--data", p(&data), "--restarts", "2", "--controls", "--epochs", "1"]);
    assert_eq!(flow.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&flow.stderr).contains("fitted without u"));
}
