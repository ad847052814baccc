//! The theory as code: indeterminacy sets, the catalogue of model classes (Thm 2.2 and the
//! paper's examples), and task identifiability (Prop. 3.1).
pub mod catalogue;
pub mod sets;
pub mod tasks;

use crate::error::{Error, Result};
use crate::models::ModelKind;
use crate::priors::AnchorCheck;
use std::fmt::Write;

/// The text `strongid theory` prints: the whole catalogue, or one model kind's verdict with
/// each standard task's identifiability, confirmed on a random member of A(M) (Prop. 3.1).
/// `codes`: a fitted model's codes of real data (the random member is then applied to the fitted
/// parameter, as Aθ); without them, seeded probe codes.
pub fn explain(kind: Option<ModelKind>, dim: usize, anchors: Option<&AnchorCheck>, variance_only: bool, seed: u64, codes: Option<&crate::Matrix>) -> Result<String> {
    // The witnesses build and factorise d × d matrices: beyond 1000 that is minutes of work
    // and gigabytes for a table that says nothing new.
    if !(2..=1000).contains(&dim) {
        return Err(Error::usage(format!("--dim must be between 2 and 1000, got {dim}")));
    }
    let mut out = String::new();
    let Some(kind) = kind else {
        writeln!(out, "Indeterminacy sets A(M) = A(F) ∩ A(P) (Thm 2.2), d = {dim}:\n").ok();
        for row in catalogue::table(dim) {
            let v = row.analyze();
            writeln!(out, "{}\n    A(M): {}\n    strongly identifiable: {}\n    why: {}\n", v.class, v.description, yes(v.strongly_identifiable), v.theorem).ok();
        }
        return Ok(out);
    };
    let class = catalogue::class_of(kind, dim, anchors, variance_only).ok_or_else(|| {
        Error::usage("ivae-frozen: its indeterminacy set depends on the anchors; pass --anchors priors.json")
    })?;
    let v = class.analyze();
    writeln!(out, "{}\n  A(M): {}\n  strongly identifiable: {}\n  why: {}\n", kind.name(), v.description, yes(v.strongly_identifiable), v.theorem).ok();
    let mut rng = crate::train::stream(seed, 70);
    let member = tasks::random_member(&v.set, dim, &mut rng);
    let probe;
    let (codes, source) = match codes {
        Some(c) => (c, "the fitted model's codes"),
        None => {
            probe = tasks::probe_codes(2000, dim, &mut rng);
            (&probe, "probe codes")
        }
    };
    writeln!(out, "  tasks (Prop. 3.1), checked with a random member of A(M) ({}) on {source}:", member.name).ok();
    writeln!(out, "  {:<34} {:>12} {:>16}", "task", "identifiable", "output change").ok();
    for task in tasks::Task::standard() {
        let change = tasks::empirical_change(task, &codes, &member);
        writeln!(out, "  {:<34} {:>12} {:>16.3e}", task.name(), yes(tasks::identifiable(task, &v.set)), change).ok();
    }
    Ok(out)
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
