//! Benchmark: remote signing through the CSC API over HTTP (issue 13), on 2 cores with SQLite
//! and the software keystore (RSA-2048). Each phone's holder signed in once (scope
//! `openid service`); its relying system then, on a keep-alive connection:
//! 1. `signatures/signHash` with 1 hash per call, and with 100 hashes per call: every call
//!    checks the access token and its signing session, the SAD (one `credentials/authorize`
//!    for 100 signatures, counted in), signs, and writes the audit event that spends the SAD;
//!    target at least 80% of `openssl speed -multi 2 rsa2048` (measured in the same run);
//! 2. `signatures/signDoc` with e-prescriptions (XAdES), hash-only and whole documents, one
//!    and 100 per call; target at least 60% of the same reference.
//!
//! Prints signatures per second, p50/p99 latency per call, and the server's CPU per
//! signature. Run: `cargo bench -p hpki-second --bench csc_sign` (add `-- 5` for seconds per
//! round; `PHONES=16` for 16 concurrent relying-system connections, the default here).

use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

mod phones;
mod support;
use phones::signin::{login, relying_system};
use phones::{cpu_seconds, phone, phones_count, rate, start, Conn};
use support::{hpki, openssl_rsa_speed, stop};

const CREDENTIAL_SUFFIX: &str = "/second";

/// One relying-system connection signing for one holder.
struct Signer {
    conn: Conn,
    token: String,
    credential: String,
    sad: String,
    /// Signatures the SAD has left.
    left: usize,
    /// Seconds per call.
    latencies: Vec<f64>,
    counter: u64,
}

const PRESCRIPTION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document>\n  <Prescription>\n    <PrescriptionManagement>\n      <Version Value=\"EPS1.0\"/>\n    </PrescriptionManagement>\n    <PrescriptionDocument>MSwxLDIwMjYxMjAxLOODhuOCueODiOiWrOWxgAoyLOODreOCreOCveODl+ODreODleOCp+ODs+ODiOODqeOCpuODoOmMoDYwbWcsMyzlm54K</PrescriptionDocument>\n    <PrescriptionSign/>\n  </Prescription>\n</Document>\n";

impl Signer {
    fn post(&mut self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        let auth = format!("Bearer {}", self.token);
        let r = self.conn.send(
            "POST",
            path,
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        serde_json::from_str(&r.body).expect("JSON")
    }

    /// A SAD for 100 signatures when the one in hand cannot pay for `n` more.
    fn ensure_sad(&mut self, n: usize) {
        if self.left >= n {
            return;
        }
        let answer = self.post(
            "/csc/v1/credentials/authorize",
            &serde_json::json!({"credentialID": self.credential, "numSignatures": 100}),
        );
        self.sad = answer["SAD"].as_str().expect("SAD").to_owned();
        self.left = 100;
    }

    fn hashes(&mut self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                self.counter += 1;
                STANDARD.encode(Sha256::digest(format!(
                    "{} {}",
                    self.token.len(),
                    self.counter
                )))
            })
            .collect()
    }

    fn sign_hash(&mut self, n: usize) {
        let started = Instant::now();
        self.ensure_sad(n);
        let hashes = self.hashes(n);
        let answer = self.post(
            "/csc/v1/signatures/signHash",
            &serde_json::json!({"credentialID": self.credential, "SAD": self.sad, "hash": hashes,
                                "signAlgo": "1.2.840.113549.1.1.11"}),
        );
        assert_eq!(answer["signatures"].as_array().map(Vec::len), Some(n));
        self.left -= n;
        self.latencies.push(started.elapsed().as_secs_f64());
    }

    /// `n` prescriptions in one signDoc call: whole documents, or their data digests.
    fn sign_prescriptions(&mut self, n: usize, whole: bool) {
        let started = Instant::now();
        self.ensure_sad(n);
        let body = if whole {
            let document = serde_json::json!({"document": STANDARD.encode(PRESCRIPTION), "signature_format": "X"});
            serde_json::json!({"credentialID": self.credential, "SAD": self.sad,
                "documents": vec![document; n]})
        } else {
            let hashes = self.hashes(n);
            serde_json::json!({"credentialID": self.credential, "SAD": self.sad,
                "documentDigests": [{"hashes": hashes, "signature_format": "X"}]})
        };
        let answer = self.post("/csc/v2/signatures/signDoc", &body);
        let out = if whole {
            "DocumentWithSignature"
        } else {
            "SignatureObject"
        };
        assert_eq!(answer[out].as_array().map(Vec::len), Some(n));
        self.left -= n;
        self.latencies.push(started.elapsed().as_secs_f64());
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let secs: f64 = std::env::args()
        .find_map(|a| a.parse().ok())
        .unwrap_or(10.0);
    // Concurrency 16 unless PHONES says otherwise.
    let count = if std::env::var_os("PHONES").is_some() {
        phones_count()
    } else {
        16
    };
    let tmp = tempfile::Builder::new()
        .prefix("hpki-csc-bench-")
        .tempdir()
        .expect("a temporary directory");
    let data = tmp.path().join("sqlite");
    hpki(&data, &["init"]);
    let (child, addr, origin) = start(&data);
    let rp = relying_system(&data, &addr, &["--signing", "scal1"]);
    let mut signers: Vec<Signer> = (0..count)
        .map(|i| {
            let number = 720_000 + i as u32;
            let (mut browser, mut phone) = phone(&data, &addr, &origin, number);
            hpki(
                &data,
                &["cert", "issue-second", "--holder", &number.to_string()],
            );
            let mut rp_conn = Conn::open(&addr);
            let tokens = login(
                &mut browser,
                &mut phone,
                &mut rp_conn,
                &rp,
                "openid service",
            );
            Signer {
                conn: rp_conn,
                token: tokens["access_token"].as_str().expect("token").to_owned(),
                credential: format!("{number}-jpa{CREDENTIAL_SUFFIX}"),
                sad: String::new(),
                left: 0,
                latencies: Vec::new(),
                counter: 0,
            }
        })
        .collect();
    // The reference first: the connections would sit idle through it.
    let reference = openssl_rsa_speed();
    for s in &mut signers {
        s.conn.reconnect(&addr);
    }
    println!(
        "Remote signing through the CSC API over HTTP, SQLite, software keystore (RSA-2048), {count} relying-system connections, {secs} s per row, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("reference: openssl speed -multi 2 rsa2048: {reference:.0} signatures/s\n");
    println!("| calls | signatures/s | % of openssl | latency per call p50 / p99 | server CPU per signature |");
    println!("|---|---|---|---|---|");
    type Op = (&'static str, usize, fn(&mut Signer));
    let ops: [Op; 6] = [
        ("signHash, 1 hash per call", 1, |s| s.sign_hash(1)),
        ("signHash, 100 hashes per call", 100, |s| s.sign_hash(100)),
        (
            "signDoc, 1 e-prescription hash-only (XAdES) per call",
            1,
            |s| s.sign_prescriptions(1, false),
        ),
        ("signDoc, 1 whole e-prescription (XAdES) per call", 1, |s| {
            s.sign_prescriptions(1, true)
        }),
        (
            "signDoc, 100 e-prescriptions hash-only per call",
            100,
            |s| s.sign_prescriptions(100, false),
        ),
        ("signDoc, 100 whole e-prescriptions per call", 100, |s| {
            s.sign_prescriptions(100, true)
        }),
    ];
    // `ONLY=1` runs just the first row (for profiling the server meanwhile).
    let only: Option<usize> = std::env::var("ONLY").ok().and_then(|o| o.parse().ok());
    for (i, (name, per_call, op)) in ops.into_iter().enumerate() {
        if only.is_some_and(|o| o != i + 1) {
            continue;
        }
        rate(&mut signers, 1.0, op);
        for s in &mut signers {
            s.latencies.clear();
        }
        let cpu_before = cpu_seconds(child.id());
        let started = Instant::now();
        let calls = rate(&mut signers, secs, op);
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(child.id()) - cpu_before;
        let mut all: Vec<f64> = signers.iter().flat_map(|s| s.latencies.clone()).collect();
        all.sort_by(f64::total_cmp);
        let signatures = calls * per_call as f64;
        println!(
            "| {name} | {signatures:.0} | {:.0}% | {:.1} / {:.1} ms | {:.3} ms |",
            100.0 * signatures / reference,
            percentile(&all, 0.5) * 1000.0,
            percentile(&all, 0.99) * 1000.0,
            cpu / (signatures * elapsed) * 1000.0,
        );
    }
    stop(child);
}
