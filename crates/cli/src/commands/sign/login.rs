//! Signing the holder in as a native app: the system browser with a loopback redirect
//! (RFC 8252: a listener on 127.0.0.1 on a port the system gives, PKCE), or the device grant
//! (RFC 8628: a QR code in the terminal for the registered phone, then polling).

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::dpop::ProofKey;
use super::session::Session;
use super::{refused, Service, SignArgs};
use crate::Failure;

/// What the sign-in asks for: an ID token, and a signing session.
const SCOPE: &str = "openid service";

pub(super) fn sign_in(service: &Service, args: &SignArgs) -> Result<Session, Failure> {
    // The session's own key: its access token is bound to it (DPoP).
    let key = ProofKey::generate()?;
    let tokens = if args.device {
        device(service, &key)?
    } else {
        browser(service, args.no_browser, &key)?
    };
    let access_token = tokens["access_token"]
        .as_str()
        .ok_or_else(|| Failure::from("the token endpoint answered no access token"))?
        .to_owned();
    let expires_in = tokens["expires_in"].as_i64().unwrap_or(0);
    Ok(Session {
        issuer: service.issuer.clone(),
        client_id: service.client_id.clone(),
        access_token,
        expires_at: chrono::Utc::now().timestamp() + expires_in,
        dpop_key: Some(key.to_stored()),
    })
}

fn random() -> Result<String, Failure> {
    let mut raw = [0u8; 32];
    hpki_core::secret::os_random(&mut raw).map_err(|e| Failure::from(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(raw))
}

/// The system browser, back to a listener on the loopback address.
fn browser(service: &Service, no_browser: bool, key: &ProofKey) -> Result<Value, Failure> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Failure::from(format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Failure::from(e.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let (verifier, state) = (random()?, random()?);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&service.endpoint("authorization_endpoint")?)
        .map_err(|e| Failure::from(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("client_id", &service.client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", SCOPE)
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let opened = !no_browser && open_browser(url.as_str());
    if !opened {
        eprintln!(
            "ブラウザで次のアドレスを開き、登録済みのスマートフォンでサインインしてください。"
        );
        eprintln!("Open this address in a browser and sign in with your registered phone:");
    }
    // On a line of its own (scripts and tests read it).
    println!("authorization: {url}");
    let _ = std::io::stdout().flush();
    let query = callback(&listener, &state)?;
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = param("error") {
        return Err(Failure::from(format!(
            "the sign-in ended: {error} {}",
            param("error_description").unwrap_or_default()
        )));
    }
    if param("iss").as_deref() != Some(service.issuer.as_str()) {
        return Err(Failure::from(
            "the answer does not come from this service (iss): not used",
        ));
    }
    let code = param("code").ok_or_else(|| Failure::from("the answer has no code"))?;
    let token_url = service.endpoint("token_endpoint")?;
    let (status, tokens) = service.form(
        &token_url,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
            ("client_id", &service.client_id),
        ],
        Some(key),
    )?;
    if status != 200 {
        return Err(refused("the code's exchange", status, &tokens));
    }
    Ok(tokens)
}

/// Opens `url` in the system browser; whether that was started.
fn open_browser(url: &str) -> bool {
    let mut command = if cfg!(target_os = "windows") {
        let mut c = std::process::Command::new("rundll32");
        c.args(["url.dll,FileProtocolHandler", url]);
        c
    } else if cfg!(target_os = "macos") {
        let mut c = std::process::Command::new("open");
        c.arg(url);
        c
    } else {
        let mut c = std::process::Command::new("xdg-open");
        c.arg(url);
        c
    };
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

/// Waits (10 minutes at most) for the browser's request to `/callback` with this `state`,
/// answers it with a page that says to go back to the application, and returns its query.
/// Other requests (a favicon, another state) are answered 404 and waited past.
fn callback(listener: &std::net::TcpListener, state: &str) -> Result<String, Failure> {
    let deadline = Instant::now() + Duration::from_secs(600);
    listener
        .set_nonblocking(true)
        .map_err(|e| Failure::from(e.to_string()))?;
    loop {
        if Instant::now() > deadline {
            return Err(Failure::from("no sign-in within 10 minutes"));
        }
        let (stream, _) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            Err(e) => return Err(Failure::from(e.to_string())),
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("");
        let query = target
            .strip_prefix("/callback?")
            .map(str::to_owned)
            .filter(|q| {
                url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "state" && v == state)
            });
        let page = if query.is_some() {
            "<!doctype html><html lang=\"ja\"><meta charset=\"utf-8\"><title>hpki-second</title>\
             <p>サインインしました。アプリに戻ってください。</p>\
             <p lang=\"en\">Signed in: go back to the application.</p></html>"
        } else {
            ""
        };
        let status = if query.is_some() {
            "200 OK"
        } else {
            "404 Not Found"
        };
        let _ = write!(
            reader.get_mut(),
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{page}",
            page.len()
        );
        if let Some(q) = query {
            return Ok(q);
        }
    }
}

/// The device grant: the QR code here, the phone approves, the token endpoint polled.
fn device(service: &Service, key: &ProofKey) -> Result<Value, Failure> {
    let device_url = service.endpoint("device_authorization_endpoint")?;
    let (status, grant) = service.form(
        &device_url,
        &[("client_id", &service.client_id), ("scope", SCOPE)],
        None,
    )?;
    if status != 200 {
        return Err(refused("the device authorization", status, &grant));
    }
    let complete = grant["verification_uri_complete"].as_str().unwrap_or("");
    let user_code = grant["user_code"].as_str().unwrap_or("");
    let qr = qrcode::QrCode::new(complete.as_bytes())
        .map_err(|e| Failure::from(format!("the QR code: {e}")))?;
    let picture = qr
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    eprintln!("{picture}");
    eprintln!("登録済みのスマートフォンのカメラでこの QR コードを読み取り、サインインを承認してください。");
    eprintln!("Scan this QR code with your registered phone's camera and approve the sign-in.");
    eprintln!(
        "（読み取れないときは {} を開き、コード {user_code} を入力してください / or open it and type the code）",
        grant["verification_uri"].as_str().unwrap_or("")
    );
    // On a line of its own (scripts and tests read it).
    println!("verification: {complete}");
    let _ = std::io::stdout().flush();
    let token_url = service.endpoint("token_endpoint")?;
    let device_code = grant["device_code"].as_str().unwrap_or_default();
    let mut interval = grant["interval"].as_u64().unwrap_or(5);
    let deadline =
        Instant::now() + Duration::from_secs(grant["expires_in"].as_u64().unwrap_or(600));
    loop {
        std::thread::sleep(Duration::from_secs(interval));
        if Instant::now() > deadline {
            return Err(Failure::from(
                "the code expired before the holder approved it",
            ));
        }
        let (status, answer) = service.form(
            &token_url,
            &[
                ("grant_type", hpki_core::domain::oidc::DEVICE_CODE_GRANT),
                ("device_code", device_code),
                ("client_id", &service.client_id),
            ],
            Some(key),
        )?;
        match (status, answer["error"].as_str()) {
            (200, _) => return Ok(answer),
            (_, Some("authorization_pending")) => {}
            (_, Some("slow_down")) => interval += 5,
            (503, _) => {}
            (_, Some("access_denied")) => {
                return Err(Failure::from("the holder refused the sign-in on the phone"))
            }
            (_, Some("expired_token")) => {
                return Err(Failure::from(
                    "the code expired before the holder approved it: run the command again",
                ))
            }
            _ => return Err(refused("the device grant", status, &answer)),
        }
    }
}
