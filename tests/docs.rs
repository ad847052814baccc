//! The user guide (`docs/src`, an mdBook) is tested like code:
//! - the CLI reference page is generated from the clap parser and must equal it (it cannot drift);
//! - every argument of every command has a help text;
//! - every `sh` code block of every page runs, in order, in a fresh directory per page, with this
//!   build's `strongid` on PATH (a block whose info string holds `norun` is shown, not run: it
//!   installs, needs a cluster, or takes minutes);
//! - every relative link points to a file of the guide or the repository, and every `#anchor` of a
//!   guide page to one of its headings.
//! `STRONGID_BLESS=1 cargo test --release --test docs` rewrites the generated page.
use clap::CommandFactory;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn guide_pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "md") {
                out.push(p);
            }
        }
    }
    let mut pages = Vec::new();
    walk(&repo().join("docs/src"), &mut pages);
    pages
}

/// A fenced code block: its info string, first line number (1-based) and text.
struct Block {
    info: String,
    line: usize,
    text: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match (&mut open, fence) {
            (None, true) => open = Some(Block { info: line.trim_start().trim_start_matches('`').trim().to_string(), line: i + 2, text: String::new() }),
            (Some(_), true) => out.push(open.take().unwrap()),
            (Some(b), false) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, false) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    out
}

/// The CLI reference: each command's long help, as clap renders it, under its own heading.
fn cli_reference() -> String {
    fn visit(cmd: &mut clap::Command, path: &str, out: &mut String) {
        let help = cmd.render_long_help().to_string();
        out.push_str(&format!("\n## `{path}`\n\n```text\n{}\n```\n", help.trim_end()));
        let mut subs: Vec<clap::Command> = cmd.get_subcommands().filter(|s| s.get_name() != "help").cloned().collect();
        for sub in &mut subs {
            let name = format!("{path} {}", sub.get_name());
            visit(sub, &name, out);
        }
    }
    let mut cmd = strongid::cli::Cli::command().term_width(100);
    cmd.build();
    let mut out = String::from(
        "# Command-line reference\n\nGenerated from the parser (`tests/docs.rs` checks that this page equals it; \
         `STRONGID_BLESS=1 cargo test --release --test docs` rewrites it). What the commands do, and the \
         exit codes, are in [Command-line behaviour](behaviour.md).\n",
    );
    visit(&mut cmd, "strongid", &mut out);
    out
}

#[test]
fn the_cli_reference_page_is_the_parsers_help() {
    let path = repo().join("docs/src/reference/cli.md");
    let want = cli_reference();
    if std::env::var_os("STRONGID_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(have == want, "{} is not the parser's help: run STRONGID_BLESS=1 cargo test --release --test docs", path.display());
}

#[test]
fn every_argument_has_a_help_text() {
    fn visit(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            let builtin = matches!(a.get_id().as_str(), "help" | "version");
            if !builtin && a.get_help().is_none() && a.get_long_help().is_none() {
                missing.push(format!("{path} {}", a.get_long().map_or_else(|| format!("<{}>", a.get_id()), |l| format!("--{l}"))));
            }
        }
        for sub in cmd.get_subcommands() {
            visit(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    let mut cmd = strongid::cli::Cli::command();
    cmd.build();
    visit(&cmd, "strongid", &mut missing);
    assert!(missing.is_empty(), "arguments without a help text:\n{}", missing.join("\n"));
}

/// Runs every `sh` block of the guide (see the module doc). Pages run one after another; blocks
/// of one page share its directory, so a later block uses what an earlier one wrote.
#[test]
fn every_command_block_of_the_guide_runs() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_strongid"));
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let root = repo().join("target/docs-test");
    let mut ran = 0;
    for page in guide_pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let runnable: Vec<Block> = blocks(&text).into_iter().filter(|b| b.info.split(',').next() == Some("sh") && !b.info.contains("norun")).collect();
        if runnable.is_empty() {
            continue;
        }
        let name = page.strip_prefix(repo().join("docs/src")).unwrap().to_string_lossy().replace(['/', '.'], "_");
        let dir = root.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // The repository's shipped files, where the guide's commands expect them.
        for shipped in ["examples", "studies"] {
            std::os::unix::fs::symlink(repo().join(shipped), dir.join(shipped)).unwrap();
        }
        for b in runnable {
            let out = Command::new("bash")
                .args(["-euo", "pipefail", "-c", &b.text])
                .current_dir(&dir)
                .env("PATH", &path)
                .env("RAYON_NUM_THREADS", "2")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}:{}: the block failed ({}):\n{}\nstdout:\n{}\nstderr:\n{}",
                page.display(),
                b.line,
                out.status,
                b.text,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran >= 10, "only {ran} command blocks ran: is docs/src there?");
}

/// GitHub-style heading anchors, as mdBook writes them: lower case, spaces to '-', other
/// punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors_of(markdown: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            out.push(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// Links `[text](target)` outside code blocks and inline code.
fn links(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_code = false;
    for (i, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut plain = String::new();
        for (k, part) in line.split('`').enumerate() {
            if k % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            let tail = &rest[at + 2..];
            let Some(end) = tail.find(')') else { break };
            out.push((i + 1, tail[..end].to_string()));
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let mut bad = Vec::new();
    let mut files: Vec<PathBuf> = guide_pages();
    files.push(repo().join("README.md"));
    for page in files {
        let text = std::fs::read_to_string(&page).unwrap();
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, frag) = target.split_once('#').map_or((target.as_str(), None), |(f, a)| (f, Some(a)));
            let resolved = if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
            if !resolved.exists() {
                bad.push(format!("{}:{line}: {target} (no such file)", page.display()));
            } else if let (Some(frag), Some("md")) = (frag, resolved.extension().and_then(|e| e.to_str())) {
                if !anchors_of(&std::fs::read_to_string(&resolved).unwrap()).iter().any(|a| a == frag) {
                    bad.push(format!("{}:{line}: {target} (no heading #{frag})", page.display()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "broken links:\n{}", bad.join("\n"));
}

#[test]
fn every_page_is_in_the_summary() {
    let summary = std::fs::read_to_string(repo().join("docs/src/SUMMARY.md")).unwrap();
    let listed: Vec<String> = links(&summary).into_iter().map(|(_, t)| t).collect();
    for page in guide_pages() {
        let rel = page.strip_prefix(repo().join("docs/src")).unwrap().to_string_lossy().to_string();
        assert!(rel == "SUMMARY.md" || listed.contains(&rel), "{rel} is not in docs/src/SUMMARY.md: mdBook would not build it");
    }
}
