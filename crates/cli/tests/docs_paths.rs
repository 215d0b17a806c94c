//! The documents point at files that exist: every path in backticks under `crates/`, `docs/`,
//! `scripts/`, `e2e/`, `fuzz/` or `deploy/` in the README, `docs/*.md` and the tests' README
//! names a file or directory of the tree (`{a,b}` stands for each of a and b; a `*` in the last
//! part needs at least one match). A file moved or split without its documents fails here.
//! Paths under a location the top-level `.gitignore` anchors (`/fuzz/artifacts`, …) are made by
//! running things, not kept in the tree, so a clean checkout does not have them: those are not
//! checked.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The paths a text names in backticks.
fn named_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Every other piece, from the second on, is inside backticks.
    for quoted in text
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, q)| q)
    {
        let starts = ["crates/", "docs/", "scripts/", "e2e/", "fuzz/", "deploy/"];
        if !starts.iter().any(|s| quoted.starts_with(s)) || quoted.contains(char::is_whitespace) {
            continue;
        }
        let p = quoted.trim_end_matches(['.', ',', ';', ':', ')']);
        match (p.find('{'), p.find('}')) {
            (Some(open), Some(close)) if open < close => {
                for part in p[open + 1..close].split(',') {
                    out.push(format!("{}{part}{}", &p[..open], &p[close + 1..]));
                }
            }
            _ => out.push(p.to_owned()),
        }
    }
    out
}

/// The anchored entries of the top-level `.gitignore` (`/target` → `target`).
fn ignored_roots() -> Vec<String> {
    let text = std::fs::read_to_string(root().join(".gitignore")).expect(".gitignore");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix('/'))
        .map(|l| l.trim_end_matches('/').to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

fn is_ignored(path: &str, roots: &[String]) -> bool {
    let path = path.trim_end_matches('/');
    roots
        .iter()
        .any(|r| path == r || path.starts_with(&format!("{r}/")))
}

fn exists(path: &str) -> bool {
    let full = root().join(path);
    if !path.contains('*') {
        return full.exists();
    }
    let (Some(dir), Some(name)) = (full.parent(), full.file_name().and_then(|n| n.to_str())) else {
        return false;
    };
    let (before, after) = name.split_once('*').unwrap_or((name, ""));
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(before) && n.ends_with(after) && n.len() >= before.len() + after.len()
        })
    })
}

#[test]
fn every_path_the_documents_name_exists() {
    let mut documents = vec![
        root().join("README.md"),
        root().join("crates/cli/tests/README.md"),
    ];
    for entry in std::fs::read_dir(root().join("docs")).expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            documents.push(path);
        }
    }
    let ignored = ignored_roots();
    let mut checked = 0;
    let mut missing = Vec::new();
    for doc in &documents {
        let text = std::fs::read_to_string(doc).expect("a document");
        for path in named_paths(&text) {
            if is_ignored(&path, &ignored) {
                continue;
            }
            checked += 1;
            if !exists(&path) {
                missing.push(format!("{}: {path}", doc.display()));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} paths found: the pattern is wrong"
    );
    assert!(
        missing.is_empty(),
        "paths that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_pattern_reads_what_the_documents_write() {
    assert_eq!(
        named_paths("see `crates/oidc/src/{clients.rs,flow/}` and `docs/a.md`, not `cargo test`"),
        vec![
            "crates/oidc/src/clients.rs",
            "crates/oidc/src/flow/",
            "docs/a.md"
        ]
    );
    assert!(exists("docs/screens/console-*.png"));
    assert!(!exists("docs/screens/nothing-*.png"));
    assert!(!exists("crates/core/src/store.rs"));
    let ignored = ignored_roots();
    assert!(is_ignored("fuzz/artifacts/", &ignored));
    assert!(is_ignored("fuzz/artifacts/x/crash-1", &ignored));
    assert!(!is_ignored("fuzz/fuzz_targets/", &ignored));
    assert!(!is_ignored("fuzz/artifactsx", &ignored));
}
