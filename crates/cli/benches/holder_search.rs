//! Benchmark: holder search through the operator API on 100,000 holders (target: p99 under
//! 50 ms on both databases), with 4 operators searching at once over keep-alive connections,
//! against a reference in the same run: `GET /healthz` under the same load (the cost of an
//! HTTP round trip here). Queries mix a registry-number fragment, half-width katakana,
//! hiragana, a common kanji family name (thousands of matches, the first 50 returned), a full
//! username and a miss.
//!
//! Run: `cargo bench -p hpki-second --bench holder_search` (add `-- 20000` for fewer rows);
//! the PostgreSQL rows need `HPKI_TEST_DATABASE_URL` (scripts/bench sets it).

use std::path::Path;
use std::time::{Duration, Instant};

mod support;
use support::{hpki, serve, stop};

const FAMILY: [(&str, &str); 12] = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
];
const GIVEN: [(&str, &str); 10] = [
    ("太郎", "タロウ"),
    ("花子", "ハナコ"),
    ("一郎", "イチロウ"),
    ("陽子", "ヨウコ"),
    ("健", "ケン"),
    ("美咲", "ミサキ"),
    ("翔", "ショウ"),
    ("直樹", "ナオキ"),
    ("由美", "ユミ"),
    ("大輔", "ダイスケ"),
];
/// Syllables that make each holder's kana a little different (so that a kana fragment is rare).
const EXTRA: [&str; 20] = [
    "ア", "イ", "ウ", "エ", "オ", "カ", "キ", "ク", "ケ", "コ", "サ", "シ", "ス", "セ", "ソ", "タ",
    "チ", "ツ", "テ", "ト",
];

fn write_csv(path: &Path, rows: usize) {
    let mut s = String::with_capacity(rows * 100);
    s.push_str("registry_number,family_name_kanji,given_name_kanji,name_kana,date_of_birth,qualification\n");
    for i in 0..rows {
        let (fk, fa) = FAMILY[i % FAMILY.len()];
        let (gk, ga) = GIVEN[(i / FAMILY.len()) % GIVEN.len()];
        let x = EXTRA[i % EXTRA.len()];
        let y = EXTRA[(i / EXTRA.len()) % EXTRA.len()];
        let z = EXTRA[(i / 400) % EXTRA.len()];
        s.push_str(&format!(
            "{},{fk},{gk},{fa}{x}{y}{z} {ga},19{:02}-{:02}-{:02},Pharmacist\n",
            1_000_000 + i,
            50 + i % 50,
            1 + i % 12,
            1 + i % 28
        ));
    }
    std::fs::write(path, s).expect("write csv");
}

/// `threads` clients calling `paths` in turn for `secs`: latencies in ms, sorted.
fn load(addr: &str, token: &str, paths: &[String], threads: usize, secs: u64) -> Vec<f64> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (addr, token, paths) = (addr.to_owned(), token.to_owned(), paths.to_vec());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut times = Vec::new();
                let mut n = t;
                while Instant::now() < deadline {
                    let url = format!("http://{addr}{}", paths[n % paths.len()]);
                    n += 1;
                    let start = Instant::now();
                    let mut r = agent
                        .get(&url)
                        .header("Authorization", &format!("Bearer {token}"))
                        .call()
                        .expect("request");
                    let body = r.body_mut().read_to_string().expect("body");
                    times.push(start.elapsed().as_secs_f64() * 1000.0);
                    assert_eq!(r.status().as_u16(), 200, "{url}: {body}");
                }
                times
            })
        })
        .collect();
    let mut all: Vec<f64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("client"))
        .collect();
    all.sort_by(f64::total_cmp);
    all
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn measure(label: &str, data: &Path, rows: usize) {
    let (child, addr) = serve(data, &["--listen", "127.0.0.1:0"], &[]);
    let added: serde_json::Value = serde_json::from_str(&hpki(
        data,
        &["operator", "add", "--name", "bench", "--json"],
    ))
    .expect("json");
    let token = added["token"].as_str().expect("token").to_owned();
    let enc = |q: &str| -> String { url::form_urlencoded::byte_serialize(q.as_bytes()).collect() };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    // The first search after a start reads every holder into the index.
    let start = Instant::now();
    let mut r = agent
        .get(&format!("http://{addr}/api/v1/holders?q={}", enc("ﾔﾏﾀﾞ")))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("first search");
    let first = start.elapsed().as_secs_f64() * 1000.0;
    let found: serde_json::Value = r.body_mut().read_json().expect("json");
    assert!(found["total"].as_u64().unwrap_or(0) > 0, "{found}");
    let last = 1_000_000 + rows - 1;
    let queries: Vec<String> = [
        format!("{}", 1_000_000 + rows / 3)
            .chars()
            .take(6)
            .collect::<String>(),
        "ｻﾄｳｱｲ".to_owned(),
        "すずきかき".to_owned(),
        "高橋".to_owned(),
        format!("{last}-jpa"),
        "zzzz".to_owned(),
        "ﾀﾅｶｳｴｵ ﾊﾅｺ".to_owned(),
    ]
    .iter()
    .map(|q| format!("/api/v1/holders?q={}&limit=50", enc(q)))
    .collect();
    let health = load(&addr, &token, &["/healthz".to_owned()], 4, 5);
    let search = load(&addr, &token, &queries, 4, 10);
    stop(child);
    let row = |what: &str, t: &[f64], secs: f64| {
        println!(
            "| {label} | {what} | {:.1} | {:.1} | {:.0} |",
            pct(t, 0.5),
            pct(t, 0.99),
            t.len() as f64 / secs
        );
    };
    row("GET /healthz (reference)", &health, 5.0);
    row("holder search", &search, 10.0);
    println!(
        "| {label} | first search right after the start line (index of {rows} holders being read) | {first:.0} | | |"
    );
}

fn main() {
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
        "holder search, {rows} holders, 4 concurrent operators, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| database | call | p50 ms | p99 ms | calls/s |");
    println!("|---|---|---|---|---|");
    let data = dir.join("sqlite");
    hpki(&data, &["init"]);
    hpki(&data, &["holder", "import", csv_s]);
    measure("SQLite", &data, rows);

    if let Ok(admin) = std::env::var("HPKI_TEST_DATABASE_URL") {
        let url = support::fresh_postgres_database(&admin, "hpki_search");
        let data = dir.join("pg");
        hpki(&data, &["init", "--database-url", &url]);
        hpki(&data, &["holder", "import", csv_s]);
        measure("PostgreSQL", &data, rows);
    } else {
        println!("(PostgreSQL: set HPKI_TEST_DATABASE_URL, as scripts/bench does)");
    }
}
