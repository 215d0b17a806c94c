//! The world most server tests start from: a server on localhost, a holder with a second
//! certificate and a passkey registered through their sheet (`register_phone`), a confidential
//! relying system; a `Browser` that keeps cookies; the OpenID Connect steps (PKCE, the code's
//! form, the claims of a token).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hpki_passkey::soft::{Authenticator, Faults};
use sha2::{Digest, Sha256};

use super::*;

/// A browser: cookies kept by name, sent back on every request.
pub(crate) struct Browser {
    addr: String,
    pub(crate) cookies: Vec<(String, String)>,
}

impl Browser {
    pub(crate) fn new(server: &Server) -> Self {
        Self::at(&server.addr)
    }

    /// A browser of the server (or load balancer) at `addr`.
    pub(crate) fn at(addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            cookies: Vec::new(),
        }
    }

    pub(crate) fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_send(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Browser::send`], a connection that fails being an error.
    pub(crate) fn try_send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        let jar = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if !jar.is_empty() {
            all.push(("Cookie", &jar));
        }
        let r = try_request_with(&self.addr, method, path, &all, body)?;
        for (k, v) in &r.headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                if let Some((name, value)) = v.split(';').next().and_then(|p| p.split_once('=')) {
                    self.cookies.retain(|(n, _)| n != name);
                    self.cookies.push((name.to_owned(), value.to_owned()));
                }
            }
        }
        Ok(r)
    }

    pub(crate) fn get(&mut self, path: &str) -> Response {
        self.send("GET", path, &[], b"")
    }

    pub(crate) fn post_form(&mut self, path: &str, body: &str) -> Response {
        self.send(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    pub(crate) fn post_json(&mut self, path: &str, csrf: &str, body: &[u8]) -> Response {
        self.try_post_json(path, csrf, body)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub(crate) fn try_post_json(
        &mut self,
        path: &str,
        csrf: &str,
        body: &[u8],
    ) -> Result<Response, String> {
        self.try_send(
            "POST",
            path,
            &[("Content-Type", "application/json"), ("X-CSRF-Token", csrf)],
            body,
        )
    }
}

pub(crate) fn between<'a>(html: &'a str, before: &str, after: &str) -> &'a str {
    let start = html.find(before).map(|i| i + before.len()).expect(before);
    let end = html[start..].find(after).expect(after);
    &html[start..start + end]
}

pub(crate) fn meta_csrf(html: &str) -> String {
    between(html, "name=\"csrf-token\" content=\"", "\"").to_owned()
}

pub(crate) fn path_of(url: &str) -> String {
    let u = url::Url::parse(url).expect("a URL");
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    }
}

pub(crate) fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn param(url: &str, name: &str) -> Option<String> {
    query_of(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub(crate) const REDIRECT: &str = "https://pharmacy.example.jp/hpki/callback";

/// The world of these tests: a server on localhost, a holder with a second certificate and a
/// passkey registered through their sheet, a confidential relying system.
pub(crate) struct World {
    // The server stops before its data directory goes (fields drop in this order).
    pub(crate) server: Server,
    pub(crate) data: std::path::PathBuf,
    pub(crate) phone: Authenticator,
    pub(crate) client_id: String,
    pub(crate) secret: String,
    /// The holder's second certificate.
    pub(crate) serial: String,
    /// The scope the relying system asks for.
    pub(crate) scope: &'static str,
    _dir: TempDir,
}

pub(crate) fn world() -> World {
    world_with(&[])
}

/// The world with configuration overrides for the server.
pub(crate) fn world_with(env: &[(&str, &str)]) -> World {
    world_configured(env, "")
}

/// The world with a configuration file written before `init` (e.g. a PKCS#11 keystore).
pub(crate) fn world_configured(env: &[(&str, &str)], config: &str) -> World {
    let dir = TempDir::new();
    let data = dir.data();
    if !config.is_empty() {
        std::fs::create_dir_all(&data).expect("mkdir");
        std::fs::write(data.join("hpki-second.toml"), config).expect("config");
    }
    // The certificates name the server's address (CRL, OCSP), so that verifiers can fetch.
    let port = free_port();
    ok(
        &data,
        &["init", "--public-url", &format!("http://localhost:{port}")],
    );
    let holder = HolderArgs {
        roman: Some("Taro Yakuzai"),
        ..HolderArgs::default()
    };
    ok(&data, &holder.args(&[]));
    let second = json(&ok(
        &data,
        &["cert", "issue-second", "--holder", "999999", "--json"],
    ));
    let sheet = json(&ok(
        &data,
        &["sheet", "issue", "--holder", "999999", "--json"],
    ));
    let client = json(&ok(
        &data,
        &[
            "client",
            "add",
            "--name",
            "例示薬局システム",
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
    let server = Server::start_on_localhost_port(&data, port, env);
    let phone = register_phone(&server, &sheet);
    World {
        _dir: dir,
        data,
        server,
        phone,
        client_id: client["client_id"].as_str().expect("client_id").to_owned(),
        secret: client["client_secret"].as_str().expect("secret").to_owned(),
        serial: second["serial"].as_str().expect("serial").to_owned(),
        scope: "openid profile hpki",
    }
}

/// A new phone registered through `sheet` (`sheet issue --json`): password, SignIn, Register
/// (manual 1.2), with a software authenticator.
pub(crate) fn register_phone(server: &Server, sheet: &serde_json::Value) -> Authenticator {
    let port = server.addr.rsplit(':').next().expect("port");
    register_phone_at(&server.addr, &format!("http://localhost:{port}"), sheet)
}

/// [`register_phone`] through `addr` (a load balancer's) for the site at `origin`.
pub(crate) fn register_phone_at(
    addr: &str,
    origin: &str,
    sheet: &serde_json::Value,
) -> Authenticator {
    let mut phone = Authenticator::new(origin, "localhost");
    let mut b = Browser::at(addr);
    let url = sheet["url"].as_str().expect("url");
    let page = b.get(&path_of(url));
    let csrf = between(&page.text(), "name=\"csrf\" value=\"", "\"").to_owned();
    let r = b.post_form(
        &path_of(url),
        &format!(
            "csrf={csrf}&password={}",
            sheet["password"].as_str().expect("pw")
        ),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let start = b.get("/register/start");
    let csrf = meta_csrf(&start.text());
    let options = b.post_json("/register/options", &csrf, b"{}");
    assert_eq!(options.status, 200, "{}", options.text());
    let answer = phone.create(&public_key(options.json()), Faults::default());
    let done = b.post_json("/register/finish", &csrf, &answer);
    assert_eq!(done.status, 200, "{}", done.text());
    phone
}

/// The WebAuthn options the login page carries in `data-options` (HTML-escaped JSON).
pub(crate) fn embedded_options(html: &str) -> serde_json::Value {
    let escaped = between(html, "data-options=\"", "\"");
    let text = escaped
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).expect("the page's options are JSON")
}

/// The options as `navigator.credentials` takes them (under `publicKey`, or as they are).
pub(crate) fn public_key(options: serde_json::Value) -> serde_json::Value {
    if options["publicKey"].is_null() {
        options
    } else {
        options["publicKey"].clone()
    }
}

/// A PKCE pair: the verifier and its S256 challenge.
pub(crate) fn pkce() -> (String, String) {
    let verifier = hpki_test_support::random_hex(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// `/oidc/authorize` with these parameters.
pub(crate) fn authorize_path(params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse("http://x/oidc/authorize").expect("url");
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    format!("{}?{}", u.path(), u.query().unwrap_or(""))
}

impl World {
    /// The usual request with `challenge`, `changes` applied (`None` leaves a parameter out).
    pub(crate) fn authorize_for(
        &self,
        challenge: &str,
        changes: &[(&str, Option<&str>)],
    ) -> String {
        let mut params = self.request(challenge);
        for (k, v) in changes {
            params.retain(|(n, _)| n != k);
            if let Some(v) = v {
                params.push((k, v));
            }
        }
        authorize_path(&params)
    }

    /// The usual request's parameters, with `challenge`.
    pub(crate) fn request<'a>(&'a self, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("client_id", &self.client_id),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", self.scope),
            ("state", "st-123"),
            ("nonce", "n-456"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
    }

    /// Opens the login page and answers with the phone: the finish response.
    pub(crate) fn login(&mut self, b: &mut Browser, authorize: &str, faults: Faults) -> Response {
        let page = b.get(authorize);
        assert_eq!(page.status, 200, "{}", page.text());
        assert!(
            page.text().contains("例示薬局システム"),
            "the login page names the system"
        );
        // A holder whose phone is gone cannot sign in: the page says what to do.
        assert!(
            page.text()
                .contains("登録したスマートフォンを紛失したときは"),
            "{}",
            page.text()
        );
        let csrf = meta_csrf(&page.text());
        // The first options come with the page (the script asks for new ones when they age).
        let public_key = public_key(embedded_options(&page.text()));
        assert!(
            public_key["allowCredentials"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "no username, no list: {public_key}"
        );
        assert_eq!(public_key["userVerification"], "required");
        self.phone.counter += 1;
        let answer = self.phone.get_discoverable(&public_key, faults);
        b.post_json("/oidc/login/finish", &csrf, &answer)
    }

    /// The usual request with `challenge`, answered with the phone in a new browser: the
    /// finish response.
    pub(crate) fn login_with(&mut self, challenge: &str) -> Response {
        let mut b = Browser::new(&self.server);
        let authorize = self.authorize_for(challenge, &[]);
        self.login(&mut b, &authorize, Faults::default())
    }

    /// A login that must succeed: the code from the redirect.
    pub(crate) fn code(&mut self, challenge: &str) -> String {
        let r = self.login_with(challenge);
        assert_eq!(r.status, 200, "{}", r.text());
        let to = r.json()["redirect"].as_str().expect("redirect").to_owned();
        assert!(to.starts_with(REDIRECT), "{to}");
        assert_eq!(param(&to, "state").as_deref(), Some("st-123"));
        assert_eq!(
            param(&to, "iss").as_deref(),
            Some(format!("http://localhost:{}", self.port()).as_str())
        );
        param(&to, "code").expect("a code")
    }

    pub(crate) fn issuer(&self) -> String {
        format!("http://localhost:{}", self.port())
    }

    pub(crate) fn port(&self) -> String {
        self.server
            .addr
            .rsplit(':')
            .next()
            .expect("port")
            .to_owned()
    }

    pub(crate) fn token(&self, form: &str, basic: Option<(&str, &str)>) -> Response {
        let auth = basic.map(|(id, secret)| basic_auth(id, secret));
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        request_with(
            &self.server.addr,
            "POST",
            "/oidc/token",
            &headers,
            form.as_bytes(),
        )
    }

    pub(crate) fn exchange(&self, code: &str, verifier: &str) -> Response {
        self.token(
            &code_form(code, verifier, REDIRECT),
            Some((&self.client_id, &self.secret)),
        )
    }

    /// A sign-in that must succeed: the access token of its signing session.
    pub(crate) fn access_token(&mut self) -> String {
        let (verifier, challenge) = pkce();
        let code = self.code(&challenge);
        let r = self.exchange(&code, &verifier);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Registers another relying system named `name`, with a secret, the world's redirect URI
    /// and `extra` arguments of `client add`: its answer (`--json`).
    pub(crate) fn add_client(&self, name: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec![
            "client",
            "add",
            "--name",
            name,
            "--redirect-uri",
            REDIRECT,
            "--secret",
            "--json",
        ];
        args.extend_from_slice(extra);
        json(&ok(&self.data, &args))
    }

    /// The world acts as `client` (an answer of [`World::add_client`]) from now on.
    pub(crate) fn act_as(&mut self, client: &serde_json::Value) {
        self.client_id = client["client_id"].as_str().expect("client_id").to_owned();
        self.secret = client["client_secret"].as_str().expect("secret").to_owned();
    }

    /// A form POST to `path` as the relying system (its secret in HTTP Basic), with a DPoP
    /// proof if given.
    pub(crate) fn client_post(&self, path: &str, form: &str, proof: Option<&str>) -> Response {
        let basic = self.basic();
        let mut headers = vec![
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", basic.as_str()),
        ];
        if let Some(p) = proof {
            headers.push(("DPoP", p));
        }
        request_with(&self.server.addr, "POST", path, &headers, form.as_bytes())
    }

    /// The relying system's `Authorization` header (its client secret in HTTP Basic).
    pub(crate) fn basic(&self) -> String {
        basic_auth(&self.client_id, &self.secret)
    }

    /// The relying system revokes a token (RFC 7009, its client secret in HTTP Basic).
    pub(crate) fn revoke(&self, token: &str) -> Response {
        self.client_post("/oidc/revoke", &format!("token={token}"), None)
    }

    pub(crate) fn userinfo(&self, access_token: &str) -> Response {
        request(
            &self.server.addr,
            "GET",
            "/oidc/userinfo",
            Some(access_token),
            None,
            b"",
        )
    }
}

/// `Authorization: Basic` for a client ID and secret.
pub(crate) fn basic_auth(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// The token request's form for a code.
pub(crate) fn code_form(code: &str, verifier: &str, redirect: &str) -> String {
    format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
        urlencode(redirect)
    )
}

pub(crate) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The claims of a JWT (not checked here: e2e/oidc.mjs has a certified library check them,
/// and `id_tokens_verify_against_the_published_keys` checks the signature).
pub(crate) fn claims_of(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}
