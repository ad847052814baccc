//! The theory as code: indeterminacy sets, the catalogue of model classes (Thm 2.2 and the
//! paper's examples), and task identifiability (Prop. 3.1).
pub mod catalogue;
pub mod sets;
pub mod tasks;

use crate::error::{Error, Result};
use crate::models::ModelKind;
use crate::priors::AnchorCheck;
use std::fmt::Write;

/// One model kind's catalogue entry (`Entry::of`): its indeterminacy set, whether it is strongly
/// identifiable and why, and each standard task's identifiability (Prop. 3.1) with the change a
/// random member of A(M) makes to the task's output.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Entry {
    pub kind: String,
    pub set: String,
    pub strongly_identifiable: bool,
    pub why: String,
    /// The random member of A(M) the tasks were checked with, and on which codes.
    pub member: String,
    pub codes: String,
    pub tasks: Vec<TaskRow>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TaskRow {
    pub task: String,
    pub identifiable: bool,
    pub output_change: f64,
}

/// A catalogue row of the whole table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ClassRow {
    pub class: String,
    pub set: String,
    pub strongly_identifiable: bool,
    pub why: String,
}

fn check_dim(dim: usize) -> Result<()> {
    // The witnesses build and factorise d × d matrices: beyond 1000 that is minutes of work
    // and gigabytes for a table that says nothing new.
    if !(2..=1000).contains(&dim) {
        return Err(Error::usage(format!("--dim must be between 2 and 1000, got {dim}")));
    }
    Ok(())
}

/// Every class of the catalogue at dimension `dim` (Thm 2.2: A(M) = A(F) ∩ A(P)).
pub fn table(dim: usize) -> Result<Vec<ClassRow>> {
    check_dim(dim)?;
    Ok(catalogue::table(dim)
        .into_iter()
        .map(|row| {
            let v = row.analyze();
            ClassRow { class: v.class, set: v.description, strongly_identifiable: v.strongly_identifiable, why: v.theorem }
        })
        .collect())
}

impl Entry {
    /// `codes`: a fitted model's codes of real data (the random member is then applied to the
    /// fitted parameter, as Aθ); without them, seeded probe codes.
    pub fn of(kind: ModelKind, dim: usize, anchors: Option<&AnchorCheck>, variance_only: bool, seed: u64, codes: Option<&crate::Matrix>) -> Result<Entry> {
        check_dim(dim)?;
        let class = catalogue::class_of(kind, dim, anchors, variance_only).ok_or_else(|| {
            Error::usage("ivae-frozen: its indeterminacy set depends on the anchors; pass --anchors priors.json")
        })?;
        let v = class.analyze();
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
        let tasks = tasks::Task::standard()
            .into_iter()
            .map(|task| TaskRow { task: task.name(), identifiable: tasks::identifiable(task, &v.set), output_change: tasks::empirical_change(task, codes, &member) })
            .collect();
        Ok(Entry { kind: kind.name().into(), set: v.description, strongly_identifiable: v.strongly_identifiable, why: v.theorem, member: member.name, codes: source.into(), tasks })
    }
}

/// The text `strongid theory` prints: the whole catalogue, or one model kind's entry.
pub fn explain(kind: Option<ModelKind>, dim: usize, anchors: Option<&AnchorCheck>, variance_only: bool, seed: u64, codes: Option<&crate::Matrix>) -> Result<String> {
    let mut out = String::new();
    let Some(kind) = kind else {
        writeln!(out, "Indeterminacy sets A(M) = A(F) ∩ A(P) (Thm 2.2), d = {dim}:\n").ok();
        for r in table(dim)? {
            writeln!(out, "{}\n    A(M): {}\n    strongly identifiable: {}\n    why: {}\n", r.class, r.set, yes(r.strongly_identifiable), r.why).ok();
        }
        return Ok(out);
    };
    let e = Entry::of(kind, dim, anchors, variance_only, seed, codes)?;
    writeln!(out, "{}\n  A(M): {}\n  strongly identifiable: {}\n  why: {}\n", e.kind, e.set, yes(e.strongly_identifiable), e.why).ok();
    writeln!(out, "  tasks (Prop. 3.1), checked with a random member of A(M) ({}) on {}:", e.member, e.codes).ok();
    writeln!(out, "  {:<34} {:>12} {:>16}", "task", "identifiable", "output change").ok();
    for t in &e.tasks {
        writeln!(out, "  {:<34} {:>12} {:>16.3e}", t.task, yes(t.identifiable), t.output_change).ok();
    }
    Ok(out)
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
