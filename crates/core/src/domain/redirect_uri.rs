//! Redirect URIs of relying systems: web applications' https addresses, and native apps'
//! loopback listeners and private-use schemes (RFC 8252).

use serde::Serialize;

use super::InvalidInput;

/// A redirect URI as registered. A request's URI must be the same, byte for byte (OAuth 2.0
/// Security BCP: exact matching), except that a loopback IP literal matches with any port
/// (RFC 8252 §7.3: a native app listens on the port the system gives it). No fragment, no
/// user name or password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

/// What a registered redirect URI is: how a request's must match it, and which clients may
/// register it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    /// `https`: a web application's, or a native app's claimed address.
    Https,
    /// `http` on `127.0.0.1` or `[::1]`: a native app's loopback listener, any port
    /// (RFC 8252 §7.3).
    Loopback,
    /// `http` on `localhost`: exact match only. RFC 8252 §8.3 advises the IP literal instead:
    /// the name may resolve to something else, and a listener on it may answer on an
    /// interface other than the loopback.
    Localhost,
    /// A private-use scheme in reverse-domain form (`jp.example.pharmacy:/callback`,
    /// RFC 8252 §7.1): a native app's, so public clients only.
    PrivateUse,
}

impl RedirectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Https => "https",
            Self::Loopback => "loopback",
            Self::Localhost => "localhost",
            Self::PrivateUse => "private-use scheme",
        }
    }
}

/// The kind of a parsed URL, if it may be a redirect URI at all.
fn redirect_kind(url: &url::Url) -> Option<RedirectKind> {
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => Some(RedirectKind::Https),
        ("http", Some(url::Host::Ipv4(ip))) if ip.is_loopback() => Some(RedirectKind::Loopback),
        ("http", Some(url::Host::Ipv6(ip))) if ip.is_loopback() => Some(RedirectKind::Loopback),
        ("http", Some(url::Host::Domain("localhost"))) => Some(RedirectKind::Localhost),
        ("http" | "https", _) => None,
        (scheme, _) => {
            // Reverse-domain form: two labels or more, each of letters, digits and hyphens
            // (the URL parser has lower-cased the scheme already).
            let labels: Vec<&str> = scheme.split('.').collect();
            let label_ok = |l: &&str| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            (labels.len() >= 2 && labels.iter().all(label_ok)).then_some(RedirectKind::PrivateUse)
        }
    }
}

impl RedirectUri {
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let field = "redirect_uri";
        let s = s.trim();
        let url = url::Url::parse(s)
            .map_err(|e| InvalidInput::new(field, format!("{s:?} is not an absolute URL: {e}")))?;
        if redirect_kind(&url).is_none() {
            return Err(InvalidInput::new(
                field,
                format!(
                    "{s:?} must use https, http on a loopback address (127.0.0.1 or [::1]; \
                     localhost only for development), or a private-use scheme in reverse-domain \
                     form (jp.example.pharmacy:/callback)"
                ),
            ));
        }
        if url.fragment().is_some() {
            return Err(InvalidInput::new(
                field,
                format!("{s:?} must not have a #fragment"),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidInput::new(
                field,
                format!("{s:?} must not have a user name or password"),
            ));
        }
        if s.len() > 1024 {
            return Err(InvalidInput::new(field, "is longer than 1024 characters"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> RedirectKind {
        url::Url::parse(&self.0)
            .ok()
            .as_ref()
            .and_then(redirect_kind)
            // Parsed when registered: never reached.
            .unwrap_or(RedirectKind::Https)
    }

    /// Where to send the holder back when a request names `requested`: this URI when it is
    /// the same, byte for byte; or, for a loopback IP literal, `requested` when it differs
    /// only in its port (RFC 8252 §7.3). Else `None`.
    pub fn matching(&self, requested: &str) -> Option<RedirectUri> {
        if requested == self.0 {
            return Some(self.clone());
        }
        if self.kind() != RedirectKind::Loopback || requested.len() > 1024 {
            return None;
        }
        let registered = url::Url::parse(&self.0).ok()?;
        let asked = url::Url::parse(requested).ok()?;
        let same_but_port = asked.scheme() == registered.scheme()
            && asked.host() == registered.host()
            && asked.path() == registered.path()
            && asked.query() == registered.query()
            && asked.username().is_empty()
            && asked.password().is_none()
            && asked.fragment().is_none()
            // What is sent back is the text asked for: it must say what the parser read.
            && asked.as_str() == requested;
        same_but_port.then(|| Self(requested.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> RedirectUri {
        RedirectUri::parse(s).unwrap_or_else(|e| panic!("{s}: {}", e.message))
    }

    #[test]
    fn each_kind_is_told_apart_and_other_schemes_are_refused() {
        for (s, kind) in [
            ("https://pharmacy.example.jp/cb", RedirectKind::Https),
            ("http://127.0.0.1/callback", RedirectKind::Loopback),
            ("http://127.0.0.1:8765/callback", RedirectKind::Loopback),
            ("http://[::1]/callback", RedirectKind::Loopback),
            ("http://localhost:8080/callback", RedirectKind::Localhost),
            ("jp.example.pharmacy:/callback", RedirectKind::PrivateUse),
            ("JP.Example.Pharmacy:/callback", RedirectKind::PrivateUse),
            ("com.example-app.desk://oauth", RedirectKind::PrivateUse),
        ] {
            assert_eq!(uri(s).kind(), kind, "{s}");
        }
        for bad in [
            "http://pharmacy.example.jp/cb",
            "http://10.0.0.1/cb",
            "http://127.0.0.1.nip.io/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "myapp:/callback",
            "jp..pharmacy:/callback",
            "https://pharmacy.example.jp/cb#frag",
            "https://user:pw@pharmacy.example.jp/cb",
            "/relative",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_loopback_ip_matches_any_port_and_nothing_else_loosely() {
        let registered = uri("http://127.0.0.1/callback?app=rx");
        for (asked, to) in [
            ("http://127.0.0.1/callback?app=rx", true),
            ("http://127.0.0.1:51234/callback?app=rx", true),
            ("http://127.0.0.1:1/callback?app=rx", true),
            ("http://127.0.0.1:51234/callback", false),
            ("http://127.0.0.1:51234/callback?app=rx&x=1", false),
            ("http://127.0.0.1:51234/callback/?app=rx", false),
            ("http://127.0.0.1:51234/Callback?app=rx", false),
            ("http://[::1]:51234/callback?app=rx", false),
            ("http://localhost:51234/callback?app=rx", false),
            ("https://127.0.0.1:51234/callback?app=rx", false),
            ("http://a@127.0.0.1:51234/callback?app=rx", false),
            ("http://127.0.0.1:51234/callback?app=rx#x", false),
            ("http://127.0.0.1:051234/callback?app=rx", false),
        ] {
            assert_eq!(
                registered.matching(asked).map(|u| u.as_str().to_owned()),
                to.then(|| asked.to_owned()),
                "{asked}"
            );
        }
        let v6 = uri("http://[::1]:8080/cb");
        assert!(v6.matching("http://[::1]:40000/cb").is_some());
        // Every other kind: byte for byte.
        for (registered, asked) in [
            ("http://localhost:8080/cb", "http://localhost:9090/cb"),
            (
                "https://pharmacy.example.jp/cb",
                "https://pharmacy.example.jp:8443/cb",
            ),
            (
                "jp.example.pharmacy:/callback",
                "jp.example.pharmacy:/callback/",
            ),
        ] {
            let r = uri(registered);
            assert_eq!(r.matching(registered), Some(r.clone()));
            assert_eq!(r.matching(asked), None, "{asked}");
        }
    }
}
