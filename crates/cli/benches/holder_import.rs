//! Benchmark: `hpki-second holder import` of 100,000 holders (target: under 30 s on 2 cores),
//! against a reference measured in the same run: the `sqlite3` shell's `.import` of the same
//! file into a bare table (no checks, no audit), and on PostgreSQL (when
//! `HPKI_TEST_DATABASE_URL` is set) `psql \copy`.
//!
//! Run: `cargo bench -p hpki-second --bench holder_import` (add `-- 20000` for fewer rows).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

mod support;
use support::{kanji_digits, BIN};

fn write_csv(path: &Path, rows: usize) {
    let mut s = String::with_capacity(rows * 80);
    s.push_str("registry_number,name_kanji,name_kana,date_of_birth,qualification\n");
    for i in 0..rows {
        let q = if i % 3 == 0 {
            "Medical Doctor"
        } else {
            "Pharmacist"
        };
        s.push_str(&format!(
            "{},薬剤 太郎{},ヤクザイ タロウ,19{:02}-{:02}-{:02},{q}\n",
            1_000_000 + i,
            kanji_digits(i % 1000),
            50 + i % 50,
            1 + i % 12,
            1 + i % 28
        ));
    }
    std::fs::write(path, s).expect("write csv");
}

fn timed(mut cmd: Command) -> f64 {
    let start = Instant::now();
    let out = cmd.output().expect("run");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{:?} failed: {}{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

fn hpki(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir").arg(data).args(args);
    c
}

fn main() {
    support::require_tools("holder_import", &[("sqlite3", "sqlite3")]);
    if std::env::var("HPKI_TEST_DATABASE_URL").is_ok() {
        support::require_tools("holder_import", &[("psql", "postgresql-client")]);
    }
    // The program's own path never parses as a number.
    let rows: usize = std::env::args()
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let tmp = tempfile::Builder::new()
        .prefix("hpki-bench-")
        .tempdir()
        .expect("a temporary directory");
    let dir = tmp.path();
    let csv = dir.join("holders.csv");
    write_csv(&csv, rows);
    let csv_s = csv.to_str().expect("path");

    println!(
        "holder import, {rows} rows, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| backend | hpki-second import | reference | reference tool | ratio |");
    println!("|---|---|---|---|---|");

    // SQLite.
    let data = dir.join("sqlite");
    timed(hpki(&data, &["init"]));
    let ours = timed(hpki(&data, &["holder", "import", csv_s, "--json"]));
    let again = timed(hpki(&data, &["holder", "import", csv_s, "--json"]));
    let mut reference = Command::new("sqlite3");
    reference
        .arg(dir.join("ref.db"))
        .args([".mode csv", &format!(".import {csv_s} holders")]);
    let ref_secs = timed(reference);
    println!(
        "| SQLite | {ours:.2} s ({:.0} rows/s) | {ref_secs:.2} s | sqlite3 .import (bare table, no checks, no audit) | {:.1}x |",
        rows as f64 / ours,
        ours / ref_secs
    );
    println!("| SQLite, same file again (all unchanged) | {again:.2} s | | | |");

    // PostgreSQL, when a server is at hand.
    if let Ok(admin) = std::env::var("HPKI_TEST_DATABASE_URL") {
        let name = format!("hpki_bench_{}", std::process::id());
        let psql = |url: &str, sql: &str| {
            let mut c = Command::new("psql");
            c.arg(url).args(["-v", "ON_ERROR_STOP=1", "-qc", sql]);
            c
        };
        timed(psql(&admin, &format!("CREATE DATABASE {name}")));
        let (base, _) = admin.rsplit_once('/').expect("db url");
        let url = format!("{base}/{name}");
        let data = dir.join("pg");
        timed(hpki(&data, &["init", "--database-url", &url]));
        let ours = timed(hpki(&data, &["holder", "import", csv_s, "--json"]));
        timed(psql(
            &url,
            "CREATE TABLE ref (a text, b text, c text, d text, e text)",
        ));
        let ref_secs = timed(psql(
            &url,
            &format!("\\copy ref FROM '{csv_s}' WITH (FORMAT csv, HEADER true)"),
        ));
        println!(
            "| PostgreSQL | {ours:.2} s ({:.0} rows/s) | {ref_secs:.2} s | psql \\copy (bare table, no checks, no audit) | {:.1}x |",
            rows as f64 / ours,
            ours / ref_secs
        );
        let _ = psql(&admin, &format!("DROP DATABASE {name}")).output();
    }
}
