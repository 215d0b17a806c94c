//! The service's public base URL: what holders' phones and relying systems reach, and so the
//! origin and RP ID of passkeys, the base of CRL and OCSP addresses, and of the sheet's QR code.

use crate::domain::sheet::SheetToken;
use crate::domain::InvalidInput;

/// A public base URL, parsed once: http or https, a host, no query, fragment or credentials.
/// Kept without a trailing slash, so that paths are appended with `join("/…")`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicUrl {
    url: url::Url,
    /// `url` without its trailing slash.
    base: String,
}

impl PublicUrl {
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let bad = |m: String| InvalidInput::new("public_url", m);
        let url = url::Url::parse(s.trim()).map_err(|e| bad(format!("{s:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(format!("{s:?} must start with http:// or https://")));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad(format!("{s:?} has no host")));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(bad(format!(
                "{s:?} must not carry a query, a fragment or credentials"
            )));
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        Ok(Self { url, base })
    }

    /// The base without a trailing slash, e.g. `https://hpki.example.jp`.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// Whether browsers reach it over TLS (then cookies are `Secure` and HSTS is sent).
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The origin, e.g. `https://hpki.example.jp` (WebAuthn's expected origin).
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// The host, which is the WebAuthn relying party ID.
    pub fn rp_id(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The host when it is a domain name, as a WebAuthn relying party ID must be: passkeys
    /// cannot be bound to an IP address.
    pub fn domain(&self) -> Result<&str, InvalidInput> {
        match self.url.host() {
            Some(url::Host::Domain(d)) => Ok(d),
            _ => Err(InvalidInput::new(
                "public_url",
                format!(
                    "the host of {} is an IP address; passkeys (WebAuthn) need a domain name, e.g. https://hpki.example.jp or http://localhost:8080",
                    self.base
                ),
            )),
        }
    }

    /// `path` (starting with `/`) under the base.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The address printed as the sheet's QR code: the one place that knows it is `/r/{token}`.
    pub fn sheet_url(&self, token: &SheetToken) -> String {
        self.join(&Self::sheet_path(token.expose()))
    }

    /// The path of a sheet's page, from the token as it stands in a URL.
    pub fn sheet_path(token: &str) -> String {
        format!("/r/{token}")
    }
}

impl std::fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

impl std::fmt::Debug for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicUrl({})", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_once_and_builds_every_address() {
        let u = PublicUrl::parse(" https://hpki.example.jp/ ").expect("parses");
        assert_eq!(u.as_str(), "https://hpki.example.jp");
        assert!(u.is_https());
        assert_eq!(u.origin(), "https://hpki.example.jp");
        assert_eq!(u.rp_id(), "hpki.example.jp");
        assert_eq!(u.domain(), Ok("hpki.example.jp"));
        for ip in ["http://127.0.0.1:8080", "https://[::1]", "http://10.0.0.1"] {
            let e = PublicUrl::parse(ip).expect("a URL").domain().err();
            assert!(e.is_some_and(|e| e.message.contains("IP address")), "{ip}");
        }
        assert_eq!(u.join("/ocsp"), "https://hpki.example.jp/ocsp");
        let token = SheetToken::parse(&"a".repeat(32)).expect("token");
        assert_eq!(
            u.sheet_url(&token),
            format!("https://hpki.example.jp/r/{}", "a".repeat(32))
        );
        let local = PublicUrl::parse("http://localhost:8080").expect("parses");
        assert!(!local.is_https());
        assert_eq!(local.origin(), "http://localhost:8080");
        assert_eq!(local.rp_id(), "localhost");
        for bad in [
            "ftp://x",
            "not a url",
            "https://x/?q=1",
            "https://x/#f",
            "https://u:p@x/",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
