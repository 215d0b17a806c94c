//! The operator console (`/admin`): enrolment through a single-use link, sign-in with the
//! operator's passkey, holder search, the holder's page, and the manual's section 2 as
//! confirmations with a typed reason (a revocation after a fresh passkey assertion). Thin:
//! the console service decides who is signed in, the lifecycle and sheet services act.

use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use hpki_console::{ConsoleService, SignedInOperator};
use hpki_core::audit::Actor;
use hpki_core::domain::{Holder, Username};
use hpki_core::Error;
use hpki_lifecycle::{Case, CaseResult, Outcome};
use serde::Deserialize;
use serde_json::json;

use crate::client::ClientAddr;
use crate::csrf::Csrf;
use crate::error::{ApiError, PageError};
use crate::lang::t;
use crate::pages::console as page;
use crate::AppState;

/// The console session's cookie, and the sign-in's (which binds the ceremony to the browser).
const SESSION: &str = "hpki-admin";
const SIGNING_IN: &str = "hpki-admin-login";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/enrol/{link}", get(enrol_page))
        .route("/admin/enrol/{link}/options", post(enrol_options))
        .route(
            "/admin/enrol/{link}/finish",
            post(enrol_finish).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/admin/login", get(login_page))
        .route("/admin/login/options", post(login_options))
        .route(
            "/admin/login/finish",
            post(login_finish).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/admin/sign-out", post(sign_out))
        .route("/admin/reauth/options", post(reauth_options))
        .route(
            "/admin/reauth/finish",
            post(reauth_finish).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/admin", get(search))
        .route("/admin/export.csv", get(export))
        .route("/admin/holders/{username}", get(holder_page))
        .route("/admin/holders/{username}/photo", get(photo))
        .route("/admin/holders/{username}/confirm/{action}", post(confirm))
        .route("/admin/holders/{username}/do/{action}", post(act))
        .route("/admin/approvals", get(approvals))
        .route("/admin/sheets", get(expiring_sheets))
        .route("/admin/sheets/reissue", post(reissue_expiring))
        .route("/admin/approvals/{id}/approve", post(approve))
        .route("/admin/approvals/{id}/reject", post(reject))
}

/// A console page's operator: a session, or the sign-in page.
struct Console(SignedInOperator);

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let token = state
            .holder_pages
            .cookies
            .get(&parts.headers, SESSION)
            .unwrap_or("");
        match state.console.session(token).await {
            Ok(who) => Ok(Self(who)),
            Err(Error::Unauthenticated) => Err(Redirect::to("/admin/login").into_response()),
            Err(e) => Err(PageError(e).into_response()),
        }
    }
}

/// A console JSON call: CSRF header, and the session when there must be one. The calls of
/// enrolment and sign-in share the card client's limit per address (names cannot be probed
/// at speed).
struct ConsoleApi(Option<SignedInOperator>);

impl FromRequestParts<AppState> for ConsoleApi {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientAddr(ip) = ClientAddr::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError(Error::Unauthenticated))?;
        if state
            .holder_pages
            .card_limiter
            .take(ip, std::time::Instant::now())
            .is_err()
        {
            tracing::warn!(client = %ip, "console sign-in calls rate-limited");
            return Err(ApiError(Error::RateLimited));
        }
        let csrf = Csrf::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError(e.0))?;
        if !csrf.matches_header(&parts.headers) {
            return Err(ApiError(Error::Unauthenticated));
        }
        let token = state
            .holder_pages
            .cookies
            .get(&parts.headers, SESSION)
            .unwrap_or("");
        Ok(Self(state.console.session(token).await.ok()))
    }
}

fn who<'a>(s: &'a SignedInOperator, csrf: &'a str) -> page::Who<'a> {
    page::Who {
        name: &s.operator.name,
        role: s.operator.role.as_str(),
        csrf,
    }
}

fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn enrol_page(
    State(console): State<ConsoleService>,
    Path(link): Path<String>,
    csrf: Csrf,
) -> Result<Response, PageError> {
    match console.enrolment_operator(&link).await {
        Ok(op) => {
            let p = page::enrol(&op.name, &link, csrf.value());
            Ok(csrf.respond(p))
        }
        Err(Error::NotFound(_)) => Ok(page::enrol_unusable().into_response()),
        Err(e) => Err(e.into()),
    }
}

async fn enrol_options(
    State(console): State<ConsoleService>,
    _: ConsoleApi,
    Path(link): Path<String>,
    _body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    Ok(Json(console.enrolment_options(&link).await?).into_response())
}

async fn enrol_finish(
    State(console): State<ConsoleService>,
    _: ConsoleApi,
    Path(link): Path<String>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let actor = Actor::client(&ip.to_string());
    console
        .finish_enrolment(&actor, &link, &body, user_agent(&headers))
        .await?;
    Ok(Json(json!({ "next": "/admin/login" })).into_response())
}

async fn login_page(csrf: Csrf) -> Response {
    let p = page::login(csrf.value());
    csrf.respond(p)
}

#[derive(Deserialize)]
struct LoginName {
    name: String,
}

/// The sign-in's options; a random value in a short cookie binds the ceremony to this browser.
async fn login_options(
    State(state): State<AppState>,
    _: ConsoleApi,
    Json(who): Json<LoginName>,
) -> Result<Response, ApiError> {
    let browser = hpki_core::secret::new_token("hsb_")?;
    let options = state.console.sign_in_options(&who.name, &browser).await?;
    let mut resp = Json(options).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        state.holder_pages.cookies.set(SIGNING_IN, &browser, 300),
    );
    Ok(resp)
}

#[derive(Deserialize)]
struct LoginAnswer {
    name: String,
    credential: serde_json::Value,
}

async fn login_finish(
    State(state): State<AppState>,
    _: ConsoleApi,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    Json(answer): Json<LoginAnswer>,
) -> Result<Response, ApiError> {
    let browser = state
        .holder_pages
        .cookies
        .get(&headers, SIGNING_IN)
        .unwrap_or("")
        .to_owned();
    let actor = Actor::client(&ip.to_string());
    let response = answer.credential.to_string();
    let (token, _) = state
        .console
        .finish_sign_in(&actor, &answer.name, &browser, response.as_bytes())
        .await?;
    let secs = state.console.settings().absolute.num_seconds();
    let mut resp = Json(json!({ "next": "/admin" })).into_response();
    let cookies = &state.holder_pages.cookies;
    resp.headers_mut()
        .append(header::SET_COOKIE, cookies.set(SESSION, &token, secs));
    resp.headers_mut()
        .append(header::SET_COOKIE, cookies.set(SIGNING_IN, "", 0));
    Ok(resp)
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

async fn sign_out(
    State(state): State<AppState>,
    Console(who): Console,
    csrf: Csrf,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, PageError> {
    let sent = form.ok().and_then(|Form(f)| f.csrf);
    if !csrf.matches(sent.as_deref()) {
        return Ok(Redirect::to("/admin").into_response());
    }
    state.console.sign_out(&who.actor(), &who).await?;
    let mut resp = Redirect::to("/admin/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        state.holder_pages.cookies.set(SESSION, "", 0),
    );
    Ok(resp)
}

async fn reauth_options(
    State(console): State<ConsoleService>,
    ConsoleApi(who): ConsoleApi,
    _body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let who = who.ok_or(ApiError(Error::Unauthenticated))?;
    Ok(Json(console.reauth_options(&who).await?).into_response())
}

async fn reauth_finish(
    State(console): State<ConsoleService>,
    ConsoleApi(who): ConsoleApi,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let who = who.ok_or(ApiError(Error::Unauthenticated))?;
    console.finish_reauth(&who.actor(), &who, &body).await?;
    Ok(Json(json!({ "ok": true })).into_response())
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    Console(op): Console,
    Query(q): Query<SearchQuery>,
    csrf: Csrf,
) -> Result<Response, PageError> {
    let query = q.q.unwrap_or_default();
    let w = who(&op, csrf.value());
    let p = if query.trim().is_empty() {
        page::search(&w, "", None, None)
    } else {
        match state.holders.search(&query, 100).await {
            Ok(found) => page::search(
                &w,
                &query,
                Some(page::Found {
                    holders: &found.holders,
                    total: found.total,
                }),
                None,
            ),
            Err(Error::Invalid(_)) => page::search(
                &w,
                &query,
                None,
                Some(t(
                    "登録番号・ユーザー名・氏名の一部を入力してください。",
                    "Type part of a registry number, username or name.",
                )),
            ),
            Err(e) => return Err(e.into()),
        }
    };
    Ok(csrf.respond(p))
}

fn username(raw: &str) -> Result<Username, PageError> {
    Username::parse(raw).map_err(|_| PageError(Error::NotFound(format!("holder {raw:?}"))))
}

async fn find(state: &AppState, raw: &str) -> Result<Holder, PageError> {
    Ok(state.holders.show(&username(raw)?).await?)
}

#[derive(Deserialize)]
struct HolderQuery {
    before: Option<i64>,
    done: Option<String>,
    requested: Option<i64>,
}

async fn holder_page(
    State(state): State<AppState>,
    Console(op): Console,
    Path(raw): Path<String>,
    Query(q): Query<HolderQuery>,
    csrf: Csrf,
) -> Result<Response, PageError> {
    let holder = find(&state, &raw).await?;
    let certificates: Vec<page::CertificateLine> = state
        .ca
        .holder_certificates(&holder)
        .await?
        .into_iter()
        .map(|c| page::CertificateLine {
            serial: c.serial,
            kind: c.kind,
            status: match c.status {
                hpki_core::domain::CertificateStatus::Valid => "valid",
                hpki_core::domain::CertificateStatus::Revoked { .. } => "revoked",
                hpki_core::domain::CertificateStatus::Expired => "expired",
                hpki_core::domain::CertificateStatus::NotYetValid => "not_yet_valid",
            },
            not_after: c.not_after,
        })
        .collect();
    let devices = state.devices.devices_of(&holder).await?;
    let sheet_views = state.sheets.show(&holder.username).await?;
    let sheets: Vec<page::SheetLine> = sheet_views
        .iter()
        .rev()
        .map(|s| page::SheetLine {
            state: match s.state.as_str() {
                "active" => "active",
                "locked" => "locked",
                "expired" => "expired",
                "superseded" => "superseded",
                _ => "revoked",
            },
            attempts: format!("{} / {}", s.attempts_used, s.max_attempts),
            issued_at: s.issued_at,
            expires_at: s.expires_at,
        })
        .collect();
    let mut signatures = Vec::new();
    for s in state.csc.signatures(&holder.username, None, 20).await? {
        let name = state
            .oidc
            .client_name(&s.client_id)
            .await?
            .unwrap_or_else(|| s.client_id.clone());
        signatures.push((s.at, name, s.hashes.len()));
    }
    // The holder's trail: events about them, their certificates and their sheets.
    let mut targets = vec![holder.username.to_string()];
    targets.extend(certificates.iter().map(|c| c.serial.clone()));
    targets.extend(sheet_views.iter().map(|s| format!("sheet:{}", s.sheet_id)));
    const PAGE: u32 = 50;
    let events = state.audit.trail(&targets, q.before, PAGE).await?;
    let older = (events.len() == PAGE as usize)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    let trail: Vec<page::TrailLine> = events
        .into_iter()
        .map(|e| page::TrailLine {
            seq: e.seq,
            at: chrono::DateTime::from_timestamp_micros(e.at_micros).unwrap_or_default(),
            actor: e.actor,
            action: e.action,
            target: e.target,
        })
        .collect();
    let notice = match (q.requested, q.done.as_deref().and_then(Action::parse)) {
        (Some(id), _) => Some(page::done_notice(if crate::lang::english() {
            format!("Request {id} is waiting for another operator with the approver role (dual control): nothing has changed yet.")
        } else {
            format!("依頼 {id} は、承認者（approver）の承認を待っています（二者承認）。まだ何も変わっていません。")
        })),
        (None, Some(a)) => Some(page::done_notice(a.done().to_owned())),
        (None, None) => None,
    };
    let p = page::holder(&page::HolderPage {
        who: who(&op, csrf.value()),
        holder: &holder,
        certificates: &certificates,
        devices: &devices,
        sheets: &sheets,
        signatures: &signatures,
        trail: &trail,
        older,
        may_change: op.operator.role.may_change(),
        notice,
    });
    Ok(csrf.respond(p))
}

async fn photo(
    State(state): State<AppState>,
    _: Console,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let photo = state.holders.photo(&username(&raw)?).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        photo.jpeg().to_vec(),
    )
        .into_response())
}

/// The manual's section 2 as console actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Reissue,
    Suspend,
    Resume,
    LostCard,
    LostCardAll,
    LostPhoneDevice,
    LostPhoneSecond,
    Renew,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "reissue" => Self::Reissue,
            "suspend" => Self::Suspend,
            "resume" => Self::Resume,
            "lost-card" => Self::LostCard,
            "lost-card-all" => Self::LostCardAll,
            "lost-phone-device" => Self::LostPhoneDevice,
            "lost-phone-second" => Self::LostPhoneSecond,
            "renew" => Self::Renew,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Reissue => "reissue",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::LostCard => "lost-card",
            Self::LostCardAll => "lost-card-all",
            Self::LostPhoneDevice => "lost-phone-device",
            Self::LostPhoneSecond => "lost-phone-second",
            Self::Renew => "renew",
        }
    }

    /// A revocation: done only after a fresh passkey assertion.
    fn revokes(self) -> bool {
        matches!(
            self,
            Self::LostCard | Self::LostCardAll | Self::LostPhoneSecond
        )
    }

    fn title(self) -> &'static str {
        match self {
            Self::Reissue => t("初期登録用 QR の再発行", "Reissue the registration sheet"),
            Self::Suspend => t("利用の停止", "Suspend the holder"),
            Self::Resume => t("利用の再開", "Resume the holder"),
            Self::LostCard => t(
                "HPKI カード紛失（カードの証明書のみ）",
                "HPKI card lost (card certificates only)",
            ),
            Self::LostCardAll => t(
                "HPKI カード紛失（セカンド電子証明書も）",
                "HPKI card lost (and the second certificate)",
            ),
            Self::LostPhoneDevice => t(
                "スマートフォン紛失（端末の削除）",
                "Phone lost (delete the device)",
            ),
            Self::LostPhoneSecond => t(
                "スマートフォン紛失（セカンド電子証明書の失効）",
                "Phone lost (revoke the second certificate)",
            ),
            Self::Renew => t(
                "セカンド電子証明書と用紙の発行",
                "A new second certificate and sheet",
            ),
        }
    }

    fn effect(self) -> &'static str {
        match self {
            Self::Reissue => t("新しい用紙を発行します。今の用紙は使えなくなります（マニュアル 2.1.2・2.1.3）。",
                               "A new sheet is issued; the current one stops working (manual 2.1.2, 2.1.3)."),
            Self::Suspend => t("用紙・登録サイト・サインイン・署名のすべてが使えなくなります。再開するまで続きます。",
                               "The sheet, the registration site, sign-in and signing all stop until resumed."),
            Self::Resume => t("停止を解除し、すべてを元どおり使えるようにします。", "Lifts the suspension; everything works again."),
            Self::LostCard => t("HPKI カードの署名用・認証用の証明書を失効します（OCSP・CRL に即時反映）。セカンド電子証明書とスマートフォンでのサインイン・署名はそのまま使えます（マニュアル 2.2.1）。",
                                "Revokes the HPKI card's signing and authentication certificates (in OCSP and the CRL at once). The second certificate, phone sign-in and signing keep working (manual 2.2.1)."),
            Self::LostCardAll => t("HPKI カードの証明書とセカンド電子証明書を失効します。サインインと署名はできなくなります（マニュアル 2.2.1）。",
                                   "Revokes the card certificates and the second certificate; sign-in and signing stop (manual 2.2.1)."),
            Self::LostPhoneDevice => t("この端末の認証情報を削除します。その端末ではサインインも署名もできなくなり、新しい用紙で新しい端末を登録できます（マニュアル 2.2.2）。",
                                       "Deletes this device credential: it cannot sign in or sign any more, and a new phone can be registered with a new sheet (manual 2.2.2)."),
            Self::LostPhoneSecond => t("セカンド電子証明書を失効します（OCSP・CRL に即時反映）。署名はできなくなります（マニュアル 2.2.2）。",
                                       "Revokes the second certificate (in OCSP and the CRL at once); signing stops (manual 2.2.2)."),
            Self::Renew => t("新しい鍵でセカンド電子証明書を発行し、新しい用紙も発行します（失効の後に）。",
                             "Issues a second certificate with a new key and a new sheet (after a revocation)."),
        }
    }

    fn done(self) -> &'static str {
        match self {
            Self::Reissue | Self::Renew => t("発行しました。", "Issued."),
            Self::Suspend => t("利用を停止しました。", "The holder is suspended."),
            Self::Resume => t("利用を再開しました。", "The holder is active again."),
            Self::LostCard => t(
                "HPKI カードの証明書を失効しました。セカンド電子証明書は有効です。",
                "The card certificates are revoked; the second certificate stays valid.",
            ),
            Self::LostCardAll => t(
                "HPKI カードの証明書とセカンド電子証明書を失効しました。",
                "The card certificates and the second certificate are revoked.",
            ),
            Self::LostPhoneDevice => t(
                "端末の認証情報を削除しました。",
                "The device credential is deleted.",
            ),
            Self::LostPhoneSecond => t(
                "セカンド電子証明書を失効しました。",
                "The second certificate is revoked.",
            ),
        }
    }
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: Option<String>,
    reason: Option<String>,
    device: Option<i64>,
}

/// An auditor sees no actions; a request anyway is refused with the reason (the page to
/// answer with, or none when the operator may act).
fn refused_role(op: &SignedInOperator) -> Option<Response> {
    (!op.operator.role.may_change()).then(|| {
        page::forbidden(t(
            "監査担当（auditor）は閲覧のみで、手続きはできません。",
            "An auditor only reads and cannot carry out cases.",
        ))
        .into_response()
    })
}

async fn confirm(
    State(state): State<AppState>,
    Console(op): Console,
    Path((raw, name)): Path<(String, String)>,
    csrf: Csrf,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, PageError> {
    if let Some(resp) = refused_role(&op) {
        return Ok(resp);
    }
    let holder = find(&state, &raw).await?;
    let Some(action) = Action::parse(&name) else {
        return Err(Error::NotFound(format!("action {name:?}")).into());
    };
    let form = form.map(|Form(f)| f).ok();
    if !csrf.matches(form.as_ref().and_then(|f| f.csrf.as_deref())) {
        return Ok(Redirect::to(&format!("/admin/holders/{}", holder.username)).into_response());
    }
    let u = holder.username.to_string();
    let written = holder.name_kanji.written();
    let p = page::confirm(&page::Confirm {
        who: who(&op, csrf.value()),
        username: &u,
        name: &written,
        action: action.name(),
        title: action.title(),
        effect: action.effect(),
        device: form.and_then(|f| f.device),
        needs_reauth: action.revokes(),
        problem: None,
    });
    Ok(csrf.respond(p))
}

async fn act(
    State(state): State<AppState>,
    Console(op): Console,
    Path((raw, name)): Path<(String, String)>,
    csrf: Csrf,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, PageError> {
    if let Some(resp) = refused_role(&op) {
        return Ok(resp);
    }
    let holder = find(&state, &raw).await?;
    let Some(action) = Action::parse(&name) else {
        return Err(Error::NotFound(format!("action {name:?}")).into());
    };
    let Ok(Form(form)) = form else {
        return Ok(Redirect::to(&format!("/admin/holders/{}", holder.username)).into_response());
    };
    let u = holder.username.to_string();
    let back = Redirect::to(&format!("/admin/holders/{u}")).into_response();
    if !csrf.matches(form.csrf.as_deref()) {
        return Ok(back);
    }
    let reason = form.reason.clone().unwrap_or_default();
    let now = state.console.now();
    let again = |problem: &'static str| {
        let written = holder.name_kanji.written();
        let p = page::confirm(&page::Confirm {
            who: who(&op, csrf.value()),
            username: &u,
            name: &written,
            action: action.name(),
            title: action.title(),
            effect: action.effect(),
            device: form.device,
            needs_reauth: action.revokes(),
            problem: Some(problem),
        });
        let mut resp = p.into_response();
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        resp
    };
    if reason.trim().is_empty() {
        return Ok(again(t("理由を入力してください。", "Give the reason.")));
    }
    if action.revokes() && !op.recently_authenticated(now, state.console.settings().reauth) {
        return Ok(again(t(
            "失効の前に、パスキーでもう一度本人確認をしてください。",
            "Confirm it is you with your passkey before a revocation.",
        )));
    }
    if action == Action::Reissue {
        // Printed at once when the font is at hand (the PDF is the only place the password is
        // kept after this page); a holder who cannot be printed (no photo) is said why and
        // nothing is issued.
        let (s, pdf) = match &state.printing {
            Some(p) => {
                let mut sink = crate::sheet_pdf::SheetPdf::new(Vec::new(), &p.font, &p.settings)
                    .map_err(Error::Internal)?;
                match state
                    .sheets
                    .issue_printed(&op.actor(), &holder.username, &mut sink)
                    .await
                {
                    Ok(s) => {
                        let bytes = sink.finish().map_err(Error::Internal)?;
                        (
                            s,
                            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                        )
                    }
                    Err(Error::Unprintable(why)) => {
                        return Ok(page::forbidden(&why.to_string()).into_response())
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None => (
                state.sheets.issue(&op.actor(), &holder.username).await?,
                None,
            ),
        };
        let w = who(&op, csrf.value());
        let p = page::sheet_issued(
            &w,
            &page::Issued {
                username: &u,
                url: &s.url,
                password: &s.password,
                expires: s.expires_at,
                certificate: None,
                pdf: pdf.as_deref(),
            },
        );
        return Ok(csrf.respond(p));
    }
    let case = match action {
        Action::Suspend => Case::Suspend,
        Action::Resume => Case::Resume,
        Action::LostCard => Case::LostCard { also_second: false },
        Action::LostCardAll => Case::LostCard { also_second: true },
        Action::LostPhoneDevice => match form.device {
            Some(device) => Case::LostPhoneDevice { device },
            None => return Ok(back),
        },
        Action::LostPhoneSecond => Case::LostPhoneSecond,
        Action::Renew | Action::Reissue => Case::RenewSecond,
    };
    match state
        .lifecycle
        .carry_out(&op.operator, &holder.username, case, &reason)
        .await?
    {
        Outcome::Pending { request } => {
            return Ok(
                Redirect::to(&format!("/admin/holders/{u}?requested={}", request.id))
                    .into_response(),
            )
        }
        Outcome::Done {
            result: CaseResult::Renewal(r),
        } => {
            let w = who(&op, csrf.value());
            let serial = r.certificate.as_ref().map(|c| c.serial.as_str());
            let p = page::sheet_issued(
                &w,
                &page::Issued {
                    username: &u,
                    url: &r.sheet.url,
                    password: &r.sheet.password,
                    expires: r.sheet.expires_at,
                    certificate: serial,
                    pdf: None,
                },
            );
            return Ok(csrf.respond(p));
        }
        Outcome::Done { .. } => {}
    }
    Ok(Redirect::to(&format!("/admin/holders/{u}?done={}", action.name())).into_response())
}

#[derive(Deserialize)]
struct ApprovalsQuery {
    done: Option<String>,
}

async fn approvals(
    State(state): State<AppState>,
    Console(op): Console,
    Query(q): Query<ApprovalsQuery>,
    csrf: Csrf,
) -> Result<Response, PageError> {
    let pending = state.lifecycle.pending_requests().await?;
    let approver = op.operator.role == hpki_core::store::OperatorRole::Approver;
    let lines: Vec<page::RequestLine<'_>> = pending
        .iter()
        .map(|r| {
            let case: Option<Case> = serde_json::from_str(&r.params).ok();
            page::RequestLine {
                id: r.id,
                holder: &r.holder,
                title: Action::parse(&r.action).map_or("", Action::title),
                reason: &r.reason,
                requested_by: &r.requested_by,
                requested_at: r.requested_at,
                expires_at: r.expires_at,
                decidable: approver && r.requested_by != op.operator.name,
                revokes: case.is_some_and(Case::revokes),
            }
        })
        .collect();
    let notice = q.done.map(|d| {
        page::done_notice(
            match d.as_str() {
                "approved" => t("承認し、実行しました。", "Approved and carried out."),
                _ => t("却下しました。", "Rejected."),
            }
            .to_owned(),
        )
    });
    let p = page::approvals(&who(&op, csrf.value()), &lines, notice);
    Ok(csrf.respond(p))
}

#[derive(Deserialize)]
struct DecideForm {
    csrf: Option<String>,
    reason: Option<String>,
}

async fn approve(
    State(state): State<AppState>,
    Console(op): Console,
    Path(id): Path<i64>,
    csrf: Csrf,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Result<Response, PageError> {
    let sent = form.ok().and_then(|Form(f)| f.csrf);
    if !csrf.matches(sent.as_deref()) {
        return Ok(Redirect::to("/admin/approvals").into_response());
    }
    // Approving a revocation needs a fresh assertion, as doing one does.
    let revokes = state
        .lifecycle
        .pending_requests()
        .await?
        .iter()
        .find(|r| r.id == id)
        .and_then(|r| serde_json::from_str::<Case>(&r.params).ok())
        .is_some_and(Case::revokes);
    if revokes && !op.recently_authenticated(state.console.now(), state.console.settings().reauth) {
        return Ok(page::forbidden(t(
            "失効を承認する前に、パスキーでもう一度本人確認をしてください（承認待ちの画面で）。",
            "Confirm it is you with your passkey (on the approvals page) before approving a revocation.",
        ))
        .into_response());
    }
    match state.lifecycle.approve(&op.operator, id).await {
        // A renewal's new sheet: its address and password are shown to the approver, once.
        Ok(CaseResult::Renewal(r)) => {
            let w = who(&op, csrf.value());
            let serial = r.certificate.as_ref().map(|c| c.serial.as_str());
            let p = page::sheet_issued(
                &w,
                &page::Issued {
                    username: &r.sheet.username,
                    url: &r.sheet.url,
                    password: &r.sheet.password,
                    expires: r.sheet.expires_at,
                    certificate: serial,
                    pdf: None,
                },
            );
            Ok(csrf.respond(p))
        }
        Ok(_) => Ok(Redirect::to("/admin/approvals?done=approved").into_response()),
        Err(Error::Forbidden(why)) => Ok(page::forbidden(&why).into_response()),
        Err(e) => Err(e.into()),
    }
}

async fn reject(
    State(state): State<AppState>,
    Console(op): Console,
    Path(id): Path<i64>,
    csrf: Csrf,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Ok(Form(form)) = form else {
        return Ok(Redirect::to("/admin/approvals").into_response());
    };
    if !csrf.matches(form.csrf.as_deref()) {
        return Ok(Redirect::to("/admin/approvals").into_response());
    }
    let reason = form.reason.unwrap_or_default();
    match state.lifecycle.reject(&op.operator, id, &reason).await {
        Ok(()) => Ok(Redirect::to("/admin/approvals?done=rejected").into_response()),
        Err(Error::Forbidden(why)) => Ok(page::forbidden(&why).into_response()),
        Err(e) => Err(e.into()),
    }
}

/// Every match of a search as CSV (auditors too: exports are reading).
async fn export(
    State(state): State<AppState>,
    Console(op): Console,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let query = q.q.unwrap_or_default();
    let found = state
        .holders
        .search(&query, hpki_core::services::search::MAX_LIMIT)
        .await?;
    let csv = hpki_core::services::search::holders_csv(&found.holders)?;
    tracing::info!(operator = %op.operator.name, matches = found.total, "holder search exported");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"holders.csv\"",
            ),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        csv,
    )
        .into_response())
}

#[derive(Deserialize)]
struct WithinQuery {
    within: Option<String>,
}

/// Days from a form field (full-width digits too), 1 to 365; 14 when left empty.
fn days(raw: Option<&str>) -> Option<u32> {
    use unicode_normalization::UnicodeNormalization;
    match raw.map(|r| r.nfkc().collect::<String>()) {
        None => Some(14),
        Some(r) if r.trim().is_empty() => Some(14),
        Some(r) => r.trim().parse().ok().filter(|d| (1..=365).contains(d)),
    }
}

async fn expiring_sheets(
    State(state): State<AppState>,
    Console(op): Console,
    Query(q): Query<WithinQuery>,
    csrf: Csrf,
) -> Result<Response, PageError> {
    let (within, problem) = match days(q.within.as_deref()) {
        Some(d) => (d, None),
        None => (
            14,
            Some(t(
                "日数は 1 から 365 の数で入力してください。",
                "Give the days as a number from 1 to 365.",
            )),
        ),
    };
    let views = state
        .sheets
        .expiring_within(chrono::Duration::days(i64::from(within)))
        .await?;
    let lines: Vec<page::Expiring<'_>> = views
        .iter()
        .map(|v| page::Expiring {
            username: &v.username,
            expires_at: v.expires_at,
            attempts: format!("{} / {}", v.attempts_used, v.max_attempts),
        })
        .collect();
    let p = page::expiring(
        &who(&op, csrf.value()),
        within,
        &lines,
        op.operator.role.may_change(),
        problem,
    );
    Ok(csrf.respond(p))
}

#[derive(Deserialize)]
struct ReissueForm {
    csrf: Option<String>,
    within: Option<String>,
}

/// Reissues every sheet that expires within the days (and gives holders without one theirs)
/// in one print run: the PDF is the answer. A holder who cannot be printed stops the run
/// before anything is issued, with the reasons.
async fn reissue_expiring(
    State(state): State<AppState>,
    Console(op): Console,
    csrf: Csrf,
    form: Result<Form<ReissueForm>, FormRejection>,
) -> Result<Response, PageError> {
    if let Some(resp) = refused_role(&op) {
        return Ok(resp);
    }
    let Ok(Form(form)) = form else {
        return Ok(Redirect::to("/admin/sheets").into_response());
    };
    if !csrf.matches(form.csrf.as_deref()) {
        return Ok(Redirect::to("/admin/sheets").into_response());
    }
    let Some(within) = days(form.within.as_deref()) else {
        return Ok(Redirect::to("/admin/sheets").into_response());
    };
    let Some(printing) = &state.printing else {
        return Ok(page::forbidden(t(
            "このサーバーには印刷用のフォントがないため、まとめて印刷できません。hpki-second sheet issue --all-pending --expiring-within … --out … を使ってください。",
            "This server has no sheet font, so it cannot print; use hpki-second sheet issue --all-pending --expiring-within … --out ….",
        ))
        .into_response());
    };
    let mut sink = crate::sheet_pdf::SheetPdf::new(Vec::new(), &printing.font, &printing.settings)
        .map_err(Error::Internal)?;
    let usable_for = chrono::Duration::days(i64::from(within));
    let run = match state
        .sheets
        .print_needing(&op.actor(), &mut sink, usable_for)
        .await
    {
        Ok(run) => run,
        Err(Error::Unprintable(why)) => {
            return Ok(page::forbidden(&why.to_string()).into_response())
        }
        Err(e) => return Err(e.into()),
    };
    if run.printed == 0 {
        return Ok(Redirect::to(&format!("/admin/sheets?within={within}")).into_response());
    }
    let pdf = sink.finish().map_err(Error::Internal)?;
    tracing::info!(operator = %op.operator.name, printed = run.printed, "sheets reissued and printed from the console");
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"sheets-{}.pdf\"", run.printed),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        pdf,
    )
        .into_response())
}
