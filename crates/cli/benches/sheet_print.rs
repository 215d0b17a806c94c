//! Benchmark: `hpki-second sheet issue --all-pending --out sheets.pdf` for 10,000 holders
//! (target: under 60 s, memory that does not grow with the run), against a reference measured
//! in the same run: Argon2id-hashing the same number of passwords on every core, in-process,
//! with the service's parameters (the floor no print run can go under).
//!
//! Peak memory (VmHWM) is read from /proc while the command runs, for a run of a fifth of the
//! size too: a streamed run has about the same peak at both sizes.
//!
//! Run: `cargo bench -p hpki-second --bench sheet_print` (add `-- 2000` for fewer holders).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{hpki, kanji_digits, BIN};

/// The command `hpki-second --data-dir DATA ARGS`, for timing.
fn command(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir").arg(data).args(args);
    c
}

/// Runs `cmd`, returning seconds and the peak resident memory in KiB.
fn measured(mut cmd: Command) -> (f64, u64) {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "{cmd:?} failed");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (start.elapsed().as_secs_f64(), peak)
}

fn pages(pdf: &Path) -> usize {
    let out = Command::new("pdfinfo")
        .arg(pdf)
        .output()
        .expect("pdfinfo (poppler-utils)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("page count")
}

fn prepare(dir: &Path, holders: usize) -> std::path::PathBuf {
    let data = dir.join(format!("data-{holders}"));
    hpki(
        &data,
        &["init", "--no-ca", "--public-url", "https://hpki.example.jp"],
    );
    let img = image::RgbImage::from_fn(480, 640, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    img.save(dir.join("face.png")).expect("photo");
    let mut csv =
        String::from("registry_number,name_kanji,name_kana,date_of_birth,qualification,photo\n");
    for i in 0..holders {
        csv.push_str(&format!(
            "{},薬剤 太郎{},ヤクザイ タロウ,1980-01-{:02},Pharmacist,face.png\n",
            2_000_000 + i,
            kanji_digits(i % 1000),
            1 + i % 28
        ));
    }
    let file = dir.join(format!("holders-{holders}.csv"));
    std::fs::write(&file, csv).expect("csv");
    hpki(&data, &["holder", "import", file.to_str().expect("path")]);
    data
}

fn main() {
    support::require_tools("sheet_print", &[("pdfinfo", "poppler-utils")]);
    let holders: usize = std::env::args()
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tmp = tempfile::Builder::new()
        .prefix("hpki-sheet-bench-")
        .tempdir()
        .expect("a temporary directory");
    let dir = tmp.path();

    println!("sheet print run, {holders} holders, {cores} cores");
    println!("| holders | print run | peak memory | PDF | Argon2id floor | ratio |");
    println!("|---|---|---|---|---|---|");
    for n in [holders / 5, holders] {
        let data = prepare(dir, n);
        let pdf = dir.join(format!("sheets-{n}.pdf"));
        let (secs, peak_kib) = measured(command(
            &data,
            &[
                "sheet",
                "issue",
                "--all-pending",
                "--out",
                pdf.to_str().expect("path"),
                "--json",
            ],
        ));
        assert_eq!(pages(&pdf), n, "one page per holder");
        let size = std::fs::metadata(&pdf).expect("pdf").len();

        // The reference: the same number of Argon2id hashes, every core busy.
        let start = Instant::now();
        std::thread::scope(|s| {
            for w in 0..cores {
                s.spawn(move || {
                    for _ in (w..n).step_by(cores) {
                        hpki_core::domain::sheet::hash_password("KX7MWQ3RTX9PA").expect("hash");
                    }
                });
            }
        });
        let floor = start.elapsed().as_secs_f64();
        println!(
            "| {n} | {secs:.1} s ({:.0}/s) | {:.0} MiB | {:.0} MiB | {floor:.1} s | {:.2}x |",
            n as f64 / secs,
            peak_kib as f64 / 1024.0,
            size as f64 / 1024.0 / 1024.0,
            secs / floor
        );
        let _ = std::fs::remove_file(&pdf);
    }
}
