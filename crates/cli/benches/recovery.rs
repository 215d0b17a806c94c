//! Benchmark: backing up and restoring a CA of 100,000 holders (docs/disaster-recovery.md),
//! each with a face photo and a second certificate (its sealed key in the database), 1% of
//! them revoked, against references measured in the same run on the same database: on SQLite
//! the `sqlite3` shell's `.backup` and a plain copy of the backup; on PostgreSQL (when
//! `HPKI_TEST_DATABASE_URL` is set) bare `pg_dump -Fc` and `pg_restore`.
//!
//! `hpki-second restore` does more than the copy: the integrity check, the restore's event,
//! the published CRL's revocations made again, new CRLs, the revoked keys the backup still
//! held destroyed, every key looked for (each sealed key opened), and the whole audit chain
//! verified. The rows are made with SQL from one real holder's certificate and key (issuing
//! 100,000 RSA keys would measure key generation, not recovery).
//!
//! Run: `cargo bench -p hpki-second --bench recovery` (`-- 20000` for fewer holders, a second
//! number for the photo's bytes, default 20000: a 300 dpi ID photo as JPEG).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

mod support;
use support::{hpki, kanji_digits, BIN};

fn timed(mut cmd: Command) -> (f64, String) {
    let start = Instant::now();
    let out = cmd.output().expect("run");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (secs, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cli(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir").arg(data).args(args);
    c
}

fn write_csv(path: &Path, rows: usize) {
    let mut s = String::with_capacity(rows * 80);
    s.push_str("registry_number,name_kanji,name_kana,name_roman,date_of_birth,qualification\n");
    for i in 0..rows {
        s.push_str(&format!(
            "{},薬剤 太郎{},ヤクザイ タロウ,Taro Yakuzai,1970-04-{:02},Pharmacist\n",
            1_000_000 + i,
            kanji_digits(i % 1000),
            1 + i % 28
        ));
    }
    std::fs::write(path, s).expect("write csv");
}

/// The statements that make every holder but the first one like the first: a photo of
/// `photo_bytes`, a second certificate (the first's DER and sealed key, a serial of its own),
/// and every hundredth certificate revoked.
fn fill_sql(photo_bytes: usize, blob: &str) -> String {
    let random = match blob {
        "sqlite" => format!("randomblob({photo_bytes})"),
        // Random bytes (a JPEG does not compress): one md5 per 16 bytes, per holder.
        _ => format!(
            "decode((SELECT string_agg(md5(random()::text || id::text || g::text), '') \
             FROM generate_series(1, {}) g), 'hex')",
            photo_bytes / 16
        ),
    };
    let serial = match blob {
        "sqlite" => "'1' || lower(hex(randomblob(15)))",
        _ => "'1' || md5(random()::text || h.id::text)",
    };
    format!(
        "INSERT INTO holder_photos (holder_id, jpeg, width, height) \
           SELECT id, {random}, 354, 472 FROM holders WHERE id NOT IN (SELECT holder_id FROM holder_photos);
         INSERT INTO certificates (serial, kind, issuer, holder_id, key_algorithm, key_ref, subject, der, \
             not_before_micros, not_after_micros, created_micros) \
           SELECT {serial}, c.kind, c.issuer, h.id, c.key_algorithm, c.key_ref, c.subject, c.der, \
             c.not_before_micros, c.not_after_micros, c.created_micros \
           FROM holders h, (SELECT * FROM certificates WHERE kind = 'second' LIMIT 1) c \
           WHERE h.id <> c.holder_id;
         UPDATE certificates SET revoked_micros = created_micros, revocation_reason = 'keyCompromise' \
           WHERE kind = 'second' AND id % 100 = 0;"
    )
}

fn size_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6)
}

fn main() {
    support::require_tools("recovery", &[("sqlite3", "sqlite3")]);
    let numbers: Vec<usize> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    let rows = numbers.first().copied().unwrap_or(100_000);
    let photo = numbers.get(1).copied().unwrap_or(20_000);
    let tmp = tempfile::Builder::new()
        .prefix("hpki-bench-")
        .tempdir()
        .expect("a temporary directory");
    let dir = tmp.path();
    let csv = dir.join("holders.csv");
    write_csv(&csv, rows);
    println!(
        "backup and restore, {rows} holders with a {photo}-byte photo and a second certificate each, 1% revoked, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "| backend | database | hpki-second backup | reference | hpki-second restore | reference |"
    );
    println!("|---|---|---|---|---|---|");

    let prepare = |data: &Path, init_args: &[&str]| {
        hpki(data, init_args);
        hpki(
            data,
            &["holder", "import", csv.to_str().expect("path"), "--json"],
        );
        hpki(data, &["cert", "issue-second", "--holder", "1000000"]);
    };
    let crl_of = |data: &Path| {
        let out = dir.join("published");
        hpki(
            data,
            &["crl", "publish", "--out-dir", out.to_str().expect("path")],
        );
        out.join("sign.crl")
    };

    // SQLite.
    let data = dir.join("sqlite");
    prepare(&data, &["init"]);
    let db = data.join("hpki-second.db");
    let (_, _) = timed({
        let mut c = Command::new("sqlite3");
        c.arg(&db).arg(fill_sql(photo, "sqlite"));
        c
    });
    let published = crl_of(&data);
    let backup = dir.join("sqlite.backup");
    let (ours_backup, _) = timed(cli(
        &data,
        &["backup", "--out", backup.to_str().expect("p")],
    ));
    let (ref_backup, _) = timed({
        let mut c = Command::new("sqlite3");
        c.arg(&db)
            .arg(format!(".backup '{}'", dir.join("ref.db").display()));
        c
    });
    let db_mb = size_mb(&db);
    for f in ["hpki-second.db", "hpki-second.db-wal", "hpki-second.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    let (ours_restore, _) = timed(cli(
        &data,
        &[
            "restore",
            backup.to_str().expect("p"),
            "--crl",
            published.to_str().expect("p"),
            "--json",
        ],
    ));
    let (ref_restore, _) = timed({
        let mut c = Command::new("cp");
        c.arg(dir.join("ref.db")).arg(dir.join("copied.db"));
        c
    });
    println!(
        "| SQLite | {db_mb:.0} MB | {ours_backup:.1} s | {ref_backup:.1} s (sqlite3 .backup) | {ours_restore:.1} s | {ref_restore:.1} s (cp of the copy) |"
    );
    let _ = std::fs::remove_dir_all(&data);

    // PostgreSQL, when a server is at hand.
    if let Ok(admin) = std::env::var("HPKI_TEST_DATABASE_URL") {
        support::require_tools("recovery", &[("psql", "postgresql-client")]);
        let url = support::fresh_postgres_database(&admin, "hpki_recovery");
        let data = dir.join("pg");
        prepare(&data, &["init", "--database-url", &url]);
        timed({
            let mut c = Command::new("psql");
            c.arg(&url)
                .args(["-v", "ON_ERROR_STOP=1", "-qc", &fill_sql(photo, "pg")]);
            c
        });
        let published = crl_of(&data);
        let backup = dir.join("pg.backup");
        let (ours_backup, _) = timed(cli(
            &data,
            &["backup", "--out", backup.to_str().expect("p")],
        ));
        let dump = dir.join("ref.dump");
        let (ref_backup, _) = timed({
            let mut c = Command::new("pg_dump");
            c.args(["-Fc", "--no-owner", "-f"]).arg(&dump).arg(&url);
            c
        });
        let name = url.rsplit_once('/').expect("name").1.to_owned();
        let psql_admin = |sql: &str| {
            let mut c = Command::new("psql");
            c.arg(&admin).args(["-v", "ON_ERROR_STOP=1", "-qc", sql]);
            c
        };
        timed(psql_admin(&format!("DROP DATABASE {name} WITH (FORCE)")));
        timed(psql_admin(&format!("CREATE DATABASE {name}")));
        let (ours_restore, _) = timed(cli(
            &data,
            &[
                "restore",
                backup.to_str().expect("p"),
                "--crl",
                published.to_str().expect("p"),
                "--json",
            ],
        ));
        timed(psql_admin(&format!("CREATE DATABASE {name}_ref")));
        let ref_url = format!("{}/{name}_ref", url.rsplit_once('/').expect("base").0);
        let (ref_restore, _) = timed({
            let mut c = Command::new("pg_restore");
            c.args(["--no-owner", "--single-transaction", "-d", &ref_url])
                .arg(&dump);
            c
        });
        println!(
            "| PostgreSQL | {:.0} MB (dump) | {ours_backup:.1} s | {ref_backup:.1} s (pg_dump -Fc) | {ours_restore:.1} s | {ref_restore:.1} s (pg_restore --single-transaction) |",
            size_mb(&dump)
        );
        let _ = psql_admin(&format!("DROP DATABASE {name} WITH (FORCE)")).output();
        let _ = psql_admin(&format!("DROP DATABASE {name}_ref WITH (FORCE)")).output();
    }
}
