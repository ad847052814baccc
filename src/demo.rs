//! `strongid demo`: the main job on built-in data — the quick experiment suite (E1–E6 at small
//! sizes, a few minutes on 2 cores), written to ./strongid-demo (results.md, results.json,
//! report.html with the plots).
use crate::error::Result;
use std::path::Path;

pub fn run(out: &Path) -> Result<()> {
    crate::outln!("strongid demo: the quick experiment suite (E1–E6), writing {}\n", out.display());
    crate::experiments::run(crate::experiments::Mode::Quick, out, None, false)
}
