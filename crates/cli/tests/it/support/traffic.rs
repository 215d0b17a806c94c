//! The load generator of the cluster drills: clients that keep the service busy the ways its
//! users do, and write down every write they saw acknowledged, to check afterwards that none
//! was lost and none done twice:
//! - [`operator_load`]: OCSP requests, holder reads and holder creations (the operator API);
//! - [`Signer`]: a pharmacy's system signing the holder in with the phone's passkey and signing
//!   through the CSC API (the SADs it spent);
//! - [`SheetGuesser`]: wrong passwords on printed sheets (the attempts answered, the unknown).
//!
//! Every answer is counted in a [`Tally`]: success, 503 ("try again": an instance or the
//! database unavailable for now), a connection that failed, or anything else (wrong, a 500
//! above all; the first few are kept to say what they were).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hpki_passkey::soft::{Authenticator, Faults};

use super::*;

/// What the load generator saw.
#[derive(Default)]
pub(crate) struct Tally {
    served: AtomicU64,
    server_errors: AtomicU64,
    connection_errors: AtomicU64,
    other: AtomicU64,
    /// The first wrong answers: what was asked, what came back.
    wrong: Mutex<Vec<String>>,
    /// Holders whose creation was answered 201.
    pub(crate) created: Mutex<Vec<u32>>,
}

/// The counts of a [`Tally`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) served: u64,
    pub(crate) server_errors: u64,
    pub(crate) connection_errors: u64,
    pub(crate) other: u64,
}

impl std::ops::Sub for Counts {
    type Output = Self;
    fn sub(self, before: Self) -> Self {
        Self {
            served: self.served - before.served,
            server_errors: self.server_errors - before.server_errors,
            connection_errors: self.connection_errors - before.connection_errors,
            other: self.other - before.other,
        }
    }
}

impl Tally {
    pub(crate) fn snapshot(&self) -> Counts {
        Counts {
            served: self.served.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            connection_errors: self.connection_errors.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
        }
    }

    /// The first wrong answers, for a failure's message.
    pub(crate) fn wrong(&self) -> Vec<String> {
        self.wrong.lock().expect("tally").clone()
    }

    /// Counts the answer to `what`: the response when it is `expected`.
    pub(crate) fn count(
        &self,
        what: &str,
        answer: Result<Response, String>,
        expected: u16,
    ) -> Option<Response> {
        let counter = match &answer {
            Ok(r) if r.status == expected => &self.served,
            Ok(r) if r.status == 503 => &self.server_errors,
            Ok(r) => {
                self.note_wrong(format!("{what}: {} {}", r.status, r.text()));
                &self.other
            }
            Err(_) => &self.connection_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        answer.ok().filter(|r| r.status == expected)
    }

    fn note_wrong(&self, what: String) {
        let mut wrong = self.wrong.lock().expect("tally");
        if wrong.len() < 5 {
            wrong.push(what);
        }
    }

    /// Waits until `more` requests more have been served (the load keeps running).
    pub(crate) fn let_it_run(&self, more: u64) {
        let start = self.snapshot().served;
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.snapshot().served < start + more {
            assert!(Instant::now() < deadline, "the load stalled");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A call of the operator API (or any bearer-token call) through `addr`.
pub(crate) fn bearer_call(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> Result<Response, String> {
    let auth = format!("Bearer {token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    try_request_with(addr, method, path, &headers, body.as_bytes())
}

/// An operator's client until `stop`: OCSP requests (`ocsp`, a GET path), holder reads and
/// holder creations, the created ones written down. `worker` keeps the registry numbers apart.
pub(crate) fn operator_load(
    addr: &str,
    token: &str,
    ocsp: &str,
    tally: &Tally,
    stop: &AtomicBool,
    worker: u32,
) {
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let number = 100_000 + worker * 10_000 + n;
        match n % 3 {
            0 => {
                tally.count("OCSP", bearer_call(addr, "GET", ocsp, token, ""), 200);
            }
            1 => {
                let path = "/api/v1/holders/999999-jpa";
                tally.count(path, bearer_call(addr, "GET", path, token, ""), 200);
            }
            _ => {
                let body = serde_json::json!({
                    "registry_number": number.to_string(), "name_kanji": "負荷 太郎",
                    "name_kana": "フカ タロウ", "date_of_birth": "1980-04-01",
                    "qualification": "Pharmacist"
                })
                .to_string();
                let answer = bearer_call(addr, "POST", "/api/v1/holders", token, &body);
                if tally.count("holder creation", answer, 201).is_some() {
                    tally.created.lock().expect("tally").push(number);
                }
            }
        }
    }
}

/// A pharmacy's system that signs: it signs holder 999999 in with the phone's passkey
/// (authorization code with PKCE, a confidential client allowed SCAL1), then has two hashes
/// signed through the CSC API, each with a SAD of its own; and again.
pub(crate) struct Signer {
    addr: String,
    phone: Authenticator,
    client_id: String,
    secret: String,
    /// Sign-ins that ended in an access token.
    pub(crate) sign_ins: u64,
    /// The access token and SAD of every signature answered 200, and when.
    pub(crate) spent: Vec<(String, String, Instant)>,
}

impl Signer {
    /// Holder 999999 (who has a second certificate) gets a sheet and registers a phone with
    /// it through `addr` for the site at `origin`; a relying system allowed to sign is added.
    pub(crate) fn new(data: &Path, addr: &str, origin: &str) -> Self {
        let sheet = json(&ok(
            data,
            &["sheet", "issue", "--holder", "999999", "--json"],
        ));
        let client = json(&ok(
            data,
            &[
                "client",
                "add",
                "--name",
                "負荷薬局システム",
                "--redirect-uri",
                REDIRECT,
                "--auth",
                "passkey",
                "--signing",
                "scal1",
                "--secret",
                "--json",
            ],
        ));
        Self {
            addr: addr.to_owned(),
            phone: register_phone_at(addr, origin, &sheet),
            client_id: client["client_id"].as_str().expect("client_id").to_owned(),
            secret: client["client_secret"].as_str().expect("secret").to_owned(),
            sign_ins: 0,
            spent: Vec::new(),
        }
    }

    /// Signs until `stop`.
    pub(crate) fn run(&mut self, tally: &Tally, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            if let Some(token) = self.sign_in(tally) {
                self.sign_ins += 1;
                for _ in 0..2 {
                    self.sign(tally, &token);
                }
            }
        }
    }

    /// A sign-in with the phone: the access token, or `None` when a step was not answered
    /// as it should be (counted).
    fn sign_in(&mut self, tally: &Tally) -> Option<String> {
        let mut b = Browser::at(&self.addr);
        let (verifier, challenge) = pkce();
        let authorize = authorize_path(&[
            ("client_id", &self.client_id),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid service"),
            ("state", "load"),
            ("nonce", "load"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let page = tally.count(
            "the login page",
            b.try_send("GET", &authorize, &[], b""),
            200,
        )?;
        let csrf = meta_csrf(&page.text());
        let options = public_key(embedded_options(&page.text()));
        self.phone.counter += 1;
        let answer = self.phone.get_discoverable(&options, Faults::default());
        let finish = b.try_post_json("/oidc/login/finish", &csrf, &answer);
        let done = tally.count("the passkey sign-in", finish, 200)?;
        let to = done.json()["redirect"]
            .as_str()
            .expect("redirect")
            .to_owned();
        let code = param(&to, "code").expect("a code");
        let basic = basic_auth(&self.client_id, &self.secret);
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", basic.as_str()),
        ];
        let form = code_form(&code, &verifier, REDIRECT);
        let answer = try_request_with(&self.addr, "POST", "/oidc/token", &headers, form.as_bytes());
        let tokens = tally.count("the code's exchange", answer, 200)?;
        Some(tokens.json()["access_token"].as_str()?.to_owned())
    }

    /// A SAD for one signature, and the signature.
    fn sign(&mut self, tally: &Tally, token: &str) {
        let authorize = serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1});
        let answer = self.csc("/csc/v1/credentials/authorize", token, &authorize);
        let Some(r) = tally.count("credentials/authorize", answer, 200) else {
            return;
        };
        let sad = r.json()["SAD"].as_str().expect("SAD").to_owned();
        let answer = self.csc("/csc/v1/signatures/signHash", token, &sign_hash(&sad));
        if tally.count("signHash", answer, 200).is_some() {
            self.spent.push((token.to_owned(), sad, Instant::now()));
        }
    }

    fn csc(&self, path: &str, token: &str, body: &serde_json::Value) -> Result<Response, String> {
        bearer_call(&self.addr, "POST", path, token, &body.to_string())
    }

    /// No SAD signed twice: each spent one, tried again, is refused.
    pub(crate) fn check_each_sad_spent_once(&self) {
        for (token, sad, _) in &self.spent {
            let again = self
                .csc("/csc/v1/signatures/signHash", token, &sign_hash(sad))
                .expect("an answer");
            assert_eq!(
                (again.status, again.json()["error"].as_str()),
                (400, Some("invalid_request")),
                "a spent SAD signed again: {}",
                again.text()
            );
        }
    }
}

/// signHash of one hash with `sad`.
fn sign_hash(sad: &str) -> serde_json::Value {
    serde_json::json!({"credentialID": CREDENTIAL, "SAD": sad, "hash": [b64_sha256(b"p")],
                       "signAlgo": "1.2.840.113549.1.1.11"})
}

/// Wrong passwords on printed sheets, one sheet after another, each kept below its limit
/// (servers run with `sheets.max_attempts` = 100): what each attempt's answer was.
pub(crate) struct SheetGuesser {
    sheets: Vec<Guessed>,
}

struct Guessed {
    holder: String,
    visit: Visit,
    /// Attempts answered 403: counted.
    counted: u64,
    /// Attempts answered 503 or not at all: counted or not, the client cannot know.
    unknown: u64,
}

impl SheetGuesser {
    /// The most wrong passwords tried on one sheet.
    const PER_SHEET: u64 = 90;

    /// Holders `numbers` are added, each given a sheet, whose page is opened through `addr`.
    pub(crate) fn new(data: &Path, addr: &str, numbers: &[&str]) -> Self {
        let sheets = numbers
            .iter()
            .map(|number| {
                let holder = HolderArgs {
                    number,
                    ..HolderArgs::default()
                };
                ok(data, &holder.args(&[]));
                let (url, _) = issued(data, number);
                let (visit, page) = Visit::open_at(addr, &url, &[]);
                assert_eq!(page.status, 200, "{}", page.text());
                Guessed {
                    holder: (*number).to_owned(),
                    visit,
                    counted: 0,
                    unknown: 0,
                }
            })
            .collect();
        Self { sheets }
    }

    /// A wrong password every `pause` until `stop` (or until every sheet had its share).
    pub(crate) fn run(&mut self, tally: &Tally, stop: &AtomicBool, pause: Duration) {
        while !stop.load(Ordering::Relaxed) {
            let Some(sheet) = self
                .sheets
                .iter_mut()
                .find(|s| s.counted + s.unknown < Self::PER_SHEET)
            else {
                return;
            };
            let answer = sheet.visit.try_wrong_password();
            match answer.as_ref().map(|r| r.status) {
                Ok(403) => sheet.counted += 1,
                Ok(503) | Err(_) => sheet.unknown += 1,
                Ok(_) => {}
            }
            tally.count("a wrong sheet password", answer, 403);
            std::thread::sleep(pause);
        }
    }

    /// Each sheet's count is exact: every attempt answered 403 counted, and at most the
    /// unknown ones besides. Returns how many were answered and how many unknown.
    pub(crate) fn check_counts(&self, data: &Path) -> (u64, u64) {
        for s in &self.sheets {
            let used = attempts_used(data, &s.holder);
            assert!(
                (s.counted..=s.counted + s.unknown).contains(&used),
                "sheet of {}: {used} wrong passwords counted; {} answered, {} unknown",
                s.holder,
                s.counted,
                s.unknown
            );
        }
        let answered = self.sheets.iter().map(|s| s.counted).sum();
        (answered, self.sheets.iter().map(|s| s.unknown).sum())
    }
}
