//! A holder's sheet as a browser sees it (`/r/{token}`): the page, its CSRF cookie and form,
//! password attempts; how many attempts the sheet has used; a sheet issued on the command line.

use std::path::Path;

use super::*;

/// A browser's view of `/r/{token}`: its cookie jar (the CSRF cookie) and the form's value.
pub(crate) struct Visit {
    addr: String,
    path: String,
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

pub(crate) fn set_cookie_pair(r: &Response) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.split(';').next().unwrap_or("").to_owned())
        .next()
}

pub(crate) fn form_csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + 64].to_owned()
}

impl Visit {
    pub(crate) fn open(server: &Server, url: &str) -> (Self, Response) {
        Self::open_with(server, url, &[])
    }

    /// Opens the sheet's page with extra request headers (a load balancer's).
    pub(crate) fn open_with(
        server: &Server,
        url: &str,
        headers: &[(&str, &str)],
    ) -> (Self, Response) {
        Self::open_at(&server.addr, url, headers)
    }

    /// Opens the sheet's page through `addr` (a server's, or a load balancer's).
    pub(crate) fn open_at(addr: &str, url: &str, headers: &[(&str, &str)]) -> (Self, Response) {
        // The path of the sheet's address, whatever the public URL it names.
        let path = url[url.find("/r/").expect("a sheet's address")..].to_owned();
        let r = request_with(addr, "GET", &path, headers, b"");
        let cookie = set_cookie_pair(&r).unwrap_or_default();
        let csrf = if r.status == 200 {
            form_csrf(&r.text())
        } else {
            String::new()
        };
        (
            Self {
                addr: addr.to_owned(),
                path,
                cookie,
                csrf,
            },
            r,
        )
    }

    pub(crate) fn post(&self, body: &str) -> Response {
        self.post_with(body, &[])
    }

    /// Posts the form with extra request headers.
    pub(crate) fn post_with(&self, body: &str, extra: &[(&str, &str)]) -> Response {
        self.try_post_with(body, extra)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Visit::post_with`], a connection that fails being an error.
    pub(crate) fn try_post_with(
        &self,
        body: &str,
        extra: &[(&str, &str)],
    ) -> Result<Response, String> {
        let mut headers = vec![
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", self.cookie.as_str()),
        ];
        headers.extend_from_slice(extra);
        try_request_with(&self.addr, "POST", &self.path, &headers, body.as_bytes())
    }

    /// A wrong password of the right form, with `X-Forwarded-For` when given: the status.
    pub(crate) fn wrong_password_from(&self, forwarded: Option<&str>) -> u16 {
        let extra: &[(&str, &str)] = match forwarded {
            Some(f) => &[("X-Forwarded-For", f)],
            None => &[],
        };
        self.post_with(&self.wrong_password_form(), extra).status
    }

    /// A wrong password of the right form: the answer, or the connection's failure.
    pub(crate) fn try_wrong_password(&self) -> Result<Response, String> {
        self.try_post_with(&self.wrong_password_form(), &[])
    }

    fn wrong_password_form(&self) -> String {
        format!("csrf={}&password=WRANGPATH3477", self.csrf)
    }

    pub(crate) fn password(&self, password: &str) -> Response {
        self.post(&format!("csrf={}&password={password}", self.csrf))
    }
}

/// `application/x-www-form-urlencoded` of a value: every byte but letters and digits escaped.
pub(crate) fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) fn attempts_used(data: &Path, holder: &str) -> u64 {
    let shown = json(&ok(data, &["sheet", "show", "--holder", holder, "--json"]));
    let all = shown.as_array().expect("array");
    all.last().expect("a sheet")["attempts_used"]
        .as_u64()
        .expect("attempts")
}

pub(crate) fn issued(data: &Path, holder: &str) -> (String, String) {
    let s = json(&ok(data, &["sheet", "issue", "--holder", holder, "--json"]));
    (
        s["url"].as_str().expect("url").to_owned(),
        s["password"].as_str().expect("password").to_owned(),
    )
}
