//! WebAuthn protocol cases against the real DeviceService on a real SQLite store, with the
//! crate's software authenticator (`soft`, P-256, "none" attestation) made to get a field wrong
//! on purpose: wrong origin, wrong RP ID hash, replayed and expired challenges,
//! tampered signature and client data, counter regression, no user verification, a credential
//! of another holder.

use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::clock::FixedClock;
use hpki_core::domain::device::DeviceState;
use hpki_core::domain::{
    DateOfBirth, Holder, KanaName, KanjiName, NewHolder, Qualification, Username,
};
use hpki_core::store::{DeviceStore, Store};
use hpki_core::Error;
use hpki_passkey::soft::{Authenticator, Faults};
use hpki_passkey::{DeviceService, LabelFacts, PasskeySettings};
use hpki_store_sql::SqlStore;

const ORIGIN: &str = "https://hpki.example.jp";
const RP_ID: &str = "hpki.example.jp";

struct World {
    store: SqlStore,
    clock: Arc<FixedClock>,
    devices: DeviceService,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let (store, dir) = hpki_test_support::sqlite_store().await;
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 27, 3, 0, 0)
            .single()
            .expect("time"),
    ));
    let devices = DeviceService::new(
        Arc::new(store.clone()),
        clock.clone(),
        &PasskeySettings {
            public_url: hpki_core::PublicUrl::parse(ORIGIN).expect("url"),
            max_devices: 1,
        },
    )
    .expect("service");
    World {
        store,
        clock,
        devices,
        _dir: dir,
    }
}

async fn holder(w: &World, number: u32) -> Holder {
    named_holder(w, number, "薬剤 太郎").await
}

async fn named_holder(w: &World, number: u32, name_kanji: &str) -> Holder {
    let username = format!("{number}-jpa");
    w.store
        .insert_holder(
            &NewHolder {
                username: Username::parse(&username).expect("username"),
                name_kanji: KanjiName::parse(name_kanji).expect("kanji").0,
                name_kana: KanaName::parse("ヤクザイ タロウ").expect("kana"),
                name_roman: None,
                organization_kanji: None,
                organization_roman: None,
                date_of_birth: DateOfBirth::parse(
                    "1980-04-01",
                    NaiveDate::from_ymd_opt(2026, 11, 27).expect("date"),
                )
                .expect("dob"),
                qualification: Qualification::Pharmacist,
                photo: None,
            },
            &AuditEvent::new(
                w.clock_now(),
                &Actor::system(),
                hpki_core::audit::Action::HOLDER_CREATED,
                &username,
                serde_json::json!({}),
            ),
        )
        .await
        .expect("holder")
}

impl World {
    fn clock_now(&self) -> chrono::DateTime<Utc> {
        hpki_core::clock::Clock::now(self.clock.as_ref())
    }
}

fn code(r: Result<impl std::fmt::Debug, Error>) -> &'static str {
    match r {
        Err(Error::Ceremony { refusal, .. }) => refusal.code(),
        other => panic!("expected a refused ceremony, got {other:?}"),
    }
}

/// The automatic label as the tests word it.
fn test_label(facts: &LabelFacts) -> String {
    format!("{facts:?}")
}

const UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// Registers `a` for `h` in session `s`.
async fn register(w: &World, h: &Holder, s: &str, a: &mut Authenticator) {
    let options = w.devices.begin_registration(h, s).await.expect("options");
    let response = a.create(&options, Faults::default());
    w.devices
        .finish_registration(&Actor::system(), h, s, &response, UA, test_label)
        .await
        .expect("registered");
}

#[tokio::test]
async fn registration_refuses_what_is_wrong_and_accepts_what_is_right() {
    let w = world().await;
    let h = holder(&w, 999_999).await;
    let s = "session-a";
    let actor = Actor::system();

    // The options ask for user verification and a discoverable credential, attestation none.
    let options = w.devices.begin_registration(&h, s).await.expect("options");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(options["attestation"], "none");
    assert_eq!(options["rp"]["id"], RP_ID);
    assert_eq!(options["user"]["name"], "999999-jpa");
    let algs: Vec<i64> = options["pubKeyCredParams"]
        .as_array()
        .expect("params")
        .iter()
        .filter_map(|p| p["alg"].as_i64())
        .collect();
    for alg in [-7, -257, -8] {
        assert!(algs.contains(&alg), "{alg} offered: {algs:?}");
    }

    let mut a = Authenticator::new(ORIGIN, RP_ID);
    for (fault, expected) in [
        (
            Faults {
                origin: Some("https://evil.example"),
                ..Faults::default()
            },
            "wrong_origin",
        ),
        (
            Faults {
                rp_id: Some("evil.example"),
                ..Faults::default()
            },
            "wrong_rp",
        ),
        (
            Faults {
                no_uv: true,
                ..Faults::default()
            },
            "no_user_verification",
        ),
    ] {
        let options = w.devices.begin_registration(&h, s).await.expect("options");
        let response = a.create(&options, fault);
        assert_eq!(
            code(
                w.devices
                    .finish_registration(&actor, &h, s, &response, UA, test_label)
                    .await
            ),
            expected
        );
    }

    // Another session cannot finish this one's ceremony, and it is gone afterwards.
    let options = w.devices.begin_registration(&h, s).await.expect("options");
    let response = a.create(&options, Faults::default());
    assert_eq!(
        code(
            w.devices
                .finish_registration(&actor, &h, "session-b", &response, UA, test_label)
                .await
        ),
        "challenge_unknown"
    );
    assert_eq!(
        code(
            w.devices
                .finish_registration(&actor, &h, s, &response, UA, test_label)
                .await
        ),
        "challenge_unknown",
        "a challenge is taken once, even by a failed attempt"
    );

    // Expired after five minutes.
    let options = w.devices.begin_registration(&h, s).await.expect("options");
    let response = a.create(&options, Faults::default());
    w.clock.advance(chrono::Duration::minutes(6));
    assert_eq!(
        code(
            w.devices
                .finish_registration(&actor, &h, s, &response, UA, test_label)
                .await
        ),
        "challenge_expired"
    );

    // The right one, then its replay.
    let options = w.devices.begin_registration(&h, s).await.expect("options");
    let response = a.create(&options, Faults::default());
    let mut facts = None;
    let device = w
        .devices
        .finish_registration(&actor, &h, s, &response, UA, |f: &LabelFacts| {
            facts = Some(*f);
            "iPhone (test)".to_owned()
        })
        .await
        .expect("registered");
    assert_eq!(device.state, DeviceState::Active);
    assert_eq!(device.label, "iPhone (test)", "the label the caller worded");
    let facts = facts.expect("the label was asked for");
    assert_eq!(facts.device.device, hpki_passkey::agent::Device::Iphone);
    assert_eq!(facts.device.browser, Some("Safari"));
    assert_eq!(
        facts.registered_on,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 27).expect("date")
    );
    assert_eq!(
        code(
            w.devices
                .finish_registration(&actor, &h, s, &response, UA, test_label)
                .await
        ),
        "challenge_unknown",
        "a replayed registration"
    );
    // One device per holder by default.
    assert_eq!(
        code(w.devices.begin_registration(&h, s).await),
        "too_many_devices"
    );
    assert_eq!(
        w.store
            .devices_of_holder(h.id)
            .await
            .expect("devices")
            .len(),
        1
    );
}

#[tokio::test]
async fn sign_in_refuses_tampering_counter_regression_and_other_holders_credentials() {
    let w = world().await;
    let h = holder(&w, 999_999).await;
    let other = holder(&w, 888_888).await;
    let s = "session-a";
    let actor = Actor::system();
    let mut a = Authenticator::new(ORIGIN, RP_ID);
    let mut b = Authenticator::new(ORIGIN, RP_ID);
    register(&w, &h, s, &mut a).await;
    register(&w, &other, "session-b", &mut b).await;

    // Counters that stay 0 (synced passkeys) are fine.
    for _ in 0..2 {
        let options = w.devices.begin_sign_in(&h, s).await.expect("options");
        assert_eq!(options["userVerification"], "required");
        let response = a.get(&options, Faults::default());
        w.devices
            .finish_sign_in(&actor, &h, s, &response)
            .await
            .expect("signed in with counter 0");
    }

    for (fault, expected) in [
        (
            Faults {
                bad_signature: true,
                ..Faults::default()
            },
            "bad_signature",
        ),
        (
            Faults {
                tamper_client_data: true,
                ..Faults::default()
            },
            "bad_signature",
        ),
        (
            Faults {
                origin: Some("https://evil.example"),
                ..Faults::default()
            },
            "wrong_origin",
        ),
        (
            Faults {
                rp_id: Some("evil.example"),
                ..Faults::default()
            },
            "wrong_rp",
        ),
        (
            Faults {
                no_uv: true,
                ..Faults::default()
            },
            "no_user_verification",
        ),
    ] {
        let options = w.devices.begin_sign_in(&h, s).await.expect("options");
        let response = a.get(&options, fault);
        let got = code(w.devices.finish_sign_in(&actor, &h, s, &response).await);
        assert_eq!(got, expected);
    }

    // Another holder's credential answering this holder's challenge.
    let options = w.devices.begin_sign_in(&h, s).await.expect("options");
    let response = b.get(&options, Faults::default());
    assert_eq!(
        code(w.devices.finish_sign_in(&actor, &h, s, &response).await),
        "other_holder"
    );

    // A replayed assertion.
    let options = w.devices.begin_sign_in(&h, s).await.expect("options");
    a.counter = 5;
    let response = a.get(&options, Faults::default());
    w.devices
        .finish_sign_in(&actor, &h, s, &response)
        .await
        .expect("signed in with counter 5");
    assert_eq!(
        code(w.devices.finish_sign_in(&actor, &h, s, &response).await),
        "challenge_unknown"
    );

    // Two answers with one counter (a cloned authenticator), both checked before either is
    // recorded: only the store's compare-and-set on the counter can let just one of them
    // through. (Checked and recorded apart, as a login does, so that the order does not depend
    // on which thread the database writes on: a second answer checked *after* the first was
    // recorded is a counter that did not advance, refused as a regression below.)
    let first = w.devices.begin_login("clone-1").await.expect("options");
    let second = w.devices.begin_login("clone-2").await.expect("options");
    a.counter = 6;
    let (first, second) = (
        a.get_discoverable(&first, Faults::default()),
        a.get_discoverable(&second, Faults::default()),
    );
    let (_, first) = w
        .devices
        .finish_login(&actor, "clone-1", &first, &w.store)
        .await
        .expect("the first answer checks");
    let (_, second) = w
        .devices
        .finish_login(&actor, "clone-2", &second, &w.store)
        .await
        .expect("the second answer checks too: nothing was recorded yet");
    w.devices
        .record_use(first)
        .await
        .expect("the first is recorded");
    assert_eq!(code(w.devices.record_use(second).await), "device_changed");

    // The counter goes backwards: refused, the credential is suspect, and it stays refused.
    let options = w.devices.begin_sign_in(&h, s).await.expect("options");
    a.counter = 3;
    let response = a.get(&options, Faults::default());
    assert_eq!(
        code(w.devices.finish_sign_in(&actor, &h, s, &response).await),
        "counter_regression"
    );
    let devices = w.store.devices_of_holder(h.id).await.expect("devices");
    assert_eq!(devices[0].state, DeviceState::Suspect);
    assert_eq!(code(w.devices.begin_sign_in(&h, s).await), "no_device");
    // The suspicion is in the audit log.
    use futures_util::StreamExt;
    let events: Vec<_> = w.store.audit_events(0).collect().await;
    let suspect = events
        .iter()
        .filter(|e| e.as_ref().expect("event").action == "device.suspect")
        .count();
    assert_eq!(suspect, 1);
}

/// Names from the family register that WebAuthn's display-name rules (RFC 8266) refuse, as
/// written: an ideographic variation selector (葛󠄀城), a standardized variation selector,
/// private-use characters (gaiji). The holder can register all the same: the display name
/// keeps what the rules allow, and is the username when nothing is left. (Zero-width and
/// other odd spaces, once cases here too, are refused by the registry now.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_webauthn_refuses_never_stop_a_registration() {
    let w = world().await;
    for (i, name) in [
        "葛\u{E0100}城 太郎",
        "辻\u{FE00} 花子",
        "\u{E000}\u{E001}",
        "\u{E0100}",
        // Spaces past ASCII after a kanji: precis-profiles 0.1.13 slices such a string by a
        // character count and panics (every kanji name is written with U+3000).
        "神楽坂\u{3000}四十",
        "山田 花子\u{3000}\u{3000}次\u{3000}",
    ]
    .into_iter()
    .enumerate()
    {
        let h = named_holder(&w, 710_000 + i as u32, name).await;
        let options = w
            .devices
            .begin_registration(&h, &format!("session-{i}"))
            .await
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        let display = options["publicKey"]["user"]["displayName"]
            .as_str()
            .or_else(|| options["user"]["displayName"].as_str())
            .unwrap_or_else(|| panic!("no displayName in {options}"));
        assert!(!display.is_empty(), "{name:?}");
        for c in ['\u{E0100}', '\u{FE00}', '\u{200B}', '\u{E000}'] {
            assert!(!display.contains(c), "{name:?} → {display:?}");
        }
        if name.starts_with('葛') {
            assert_eq!(display, "葛城 太郎");
        }
        if name.starts_with('神') {
            assert_eq!(display, "神楽坂 四十");
        }
        if name.starts_with('山') {
            assert_eq!(display, "山田 花子 次");
        }
        if name.starts_with('\u{E000}') {
            assert_eq!(
                display,
                h.username.to_string(),
                "nothing left: the username"
            );
        }
    }
}
