//! Names of phones, browsers and passkey providers in the page's language. The passkey crate
//! says what the User-Agent and the authenticator are (facts and product names); the words
//! holders read are chosen here, by the request's language.

use hpki_passkey::agent::Browser;
use hpki_passkey::LabelFacts;

use crate::lang::{english, t};

/// Product names with a Japanese form of their own (the rest read the same in both).
const JAPANESE_NAMES: &[(&str, &str)] = &[
    ("Rakuten", "楽天"),
    ("Google app", "Google アプリ"),
    ("Google Password Manager", "Google パスワードマネージャー"),
    ("iCloud Keychain", "iCloud キーチェーン"),
    (
        "iCloud Keychain (managed)",
        "iCloud キーチェーン（管理対象）",
    ),
    ("Chrome on Mac", "Chrome（Mac）"),
];

/// A product name as the page's language writes it.
fn product(name: &'static str) -> &'static str {
    if english() {
        return name;
    }
    JAPANESE_NAMES
        .iter()
        .find(|(en, _)| *en == name)
        .map_or(name, |(_, ja)| ja)
}

/// The browser a page was opened in that cannot register a passkey (for the "open it in
/// Safari / Chrome" page); `None` for a browser that can, or one we cannot tell.
pub fn unsupported_browser(browser: Browser, ios: bool) -> Option<String> {
    Some(match browser {
        Browser::InApp(Some(app)) => {
            if english() {
                format!("the in-app browser of {app}")
            } else {
                format!("{} のアプリ内ブラウザ", product(app))
            }
        }
        Browser::InApp(None) => t("アプリ内ブラウザ", "an in-app browser").to_owned(),
        Browser::Other(Some(name)) => product(name).to_owned(),
        Browser::Other(None) if ios => t("iOS の別のブラウザ", "another browser on iOS").to_owned(),
        Browser::Other(None) => {
            t("Android の別のブラウザ", "another browser on Android").to_owned()
        }
        Browser::Supported | Browser::Unknown => return None,
    })
}

/// The label a new device credential gets: 「iPhone・Safari（2026-12-01 登録）」, or
/// "iPhone, Safari (registered 2026-12-01)" on English pages; the provider's name instead of
/// device and browser when the authenticator says which it is.
pub fn automatic_label(facts: &LabelFacts) -> String {
    let what = match facts.authenticator {
        Some(name) => product(name).to_owned(),
        None => {
            let device = facts.device.device.name().unwrap_or(t("端末", "Device"));
            let browser = facts
                .device
                .browser
                .map_or(t("ブラウザ", "browser"), product);
            if english() {
                format!("{device}, {browser}")
            } else {
                format!("{device}・{browser}")
            }
        }
    };
    let day = facts.registered_on.format("%Y-%m-%d");
    if english() {
        format!("{what} (registered {day})")
    } else {
        format!("{what}（{day} 登録）")
    }
}

/// Why an operator may not do something, in the page's language.
pub fn operator_refusal(why: &hpki_core::OperatorRefusal) -> String {
    use hpki_core::OperatorRefusal as R;
    if english() {
        return why.to_string();
    }
    match why {
        R::ReadOnlyRole { operator } => format!(
            "オペレーター {operator} の役割は監査（auditor）で、閲覧のみです。手続きは operator または approver の役割のオペレーターが行います。"
        ),
        R::NotAnApprover { operator } => format!(
            "オペレーター {operator} は承認者（approver）ではありません。依頼を承認・却下できるのは承認者だけです。"
        ),
        R::OwnRequest => "自分の依頼は承認できません（二者承認）。依頼者以外の承認者に承認を依頼してください。".to_owned(),
        R::StaleAssertion => "失効と CA の取り込みは、実行も承認も、パスキーでもう一度本人確認をしてから行います。この画面で本人確認をしてから、もう一度どうぞ。".to_owned(),
        R::ImportNeedsRequest => "オペレーターが登録されているため、CA の取り込みには承認者の承認が必要です（二者承認）。".to_owned(),
        R::NotTheRequester { request, requested_by } => format!("依頼 {request} は {requested_by} の依頼です。承認された取り込みを実行できるのは依頼者だけです。"),
        R::NotApproved { request } => format!("依頼 {request} はまだ承認されていません。"),
        R::RequestRejected { request } => format!("依頼 {request} は却下されました。"),
        R::OtherFiles { request, .. } => format!("依頼 {request} で承認されたファイルとは異なります。"),
        R::UsedOrExpired { request, .. } => format!("依頼 {request} は使用済みか、期限が切れています。もう一度依頼してください。"),
    }
}

/// Why sheets were not printed, in the page's language, with what to do.
pub fn print_failure(why: &hpki_core::services::PrintFailure) -> String {
    use hpki_core::services::PrintFailure as F;
    if english() {
        return why.to_string();
    }
    let problem = |p: &hpki_core::services::HolderProblem| {
        use hpki_core::services::PageProblem as P;
        let what = match &p.problem {
            P::NoPhoto => {
                "顔写真が登録されていません（保有者のページで顔写真を登録できます）".to_owned()
            }
            P::MissingGlyph(c) => format!(
                "印刷用のフォントに「{c}」（U+{:04X}）の字形がありません",
                u32::from(*c)
            ),
            P::Photo(_) => {
                "登録されている顔写真を印刷できません（顔写真を登録し直してください）".to_owned()
            }
            P::Output(_) => "ページを書き出せませんでした（もう一度お試しください）".to_owned(),
        };
        format!("{}：{what}", p.username)
    };
    match why {
        F::Refused { problems, more } => {
            let mut s = "用紙は発行していません。先に次の保有者の問題を解決してください。".to_owned();
            for p in problems {
                s.push('\n');
                s.push_str(&problem(p));
            }
            if *more > 0 {
                s.push_str(&format!("\nほか {more} 名"));
            }
            s
        }
        F::Stopped {
            problem: p,
            withdrawn,
            not_withdrawn,
        } => match not_withdrawn {
            None => format!(
                "{}。印刷を中止し、発行した {withdrawn} 枚の用紙は取り消しました。",
                problem(p)
            ),
            Some((n, _)) => format!(
                "{}。印刷を中止しましたが、発行した {n} 枚の用紙を取り消せませんでした（印刷されていない用紙が使える状態です）。",
                problem(p)
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpki_passkey::agent::{Device, DeviceFacts};

    fn facts(authenticator: Option<&'static str>) -> LabelFacts {
        LabelFacts {
            authenticator,
            device: DeviceFacts {
                device: Device::Iphone,
                browser: Some("Safari"),
            },
            registered_on: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("date"),
        }
    }

    #[tokio::test]
    async fn labels_and_browser_names_follow_the_page_language() {
        let ja = crate::lang::scope(false, async {
            (
                automatic_label(&facts(None)),
                automatic_label(&facts(Some("iCloud Keychain"))),
                unsupported_browser(Browser::InApp(Some("LINE")), true),
                unsupported_browser(Browser::Other(None), false),
            )
        })
        .await;
        assert_eq!(ja.0, "iPhone・Safari（2026-12-01 登録）");
        assert_eq!(ja.1, "iCloud キーチェーン（2026-12-01 登録）");
        assert_eq!(ja.2.as_deref(), Some("LINE のアプリ内ブラウザ"));
        assert_eq!(ja.3.as_deref(), Some("Android の別のブラウザ"));
        let en = crate::lang::scope(true, async {
            (
                automatic_label(&facts(None)),
                automatic_label(&facts(Some("iCloud Keychain"))),
                unsupported_browser(Browser::InApp(Some("Rakuten")), true),
                unsupported_browser(Browser::Supported, true),
            )
        })
        .await;
        assert_eq!(en.0, "iPhone, Safari (registered 2026-12-01)");
        assert_eq!(en.1, "iCloud Keychain (registered 2026-12-01)");
        assert_eq!(en.2.as_deref(), Some("the in-app browser of Rakuten"));
        assert_eq!(en.3, None);
        for text in [en.0, en.1, en.2.unwrap_or_default()] {
            assert!(text.is_ascii(), "no Japanese on English pages: {text}");
        }
    }
}
