//! Database URLs: which database, and a form that never shows the password; the SQLite file
//! created private.

use std::fmt;

use hpki_core::store::StoreError;

/// Which database a URL points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// A database URL whose `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        match Backend::of_url(url) {
            Some(_) => Ok(Self(url.to_owned())),
            None => Err("must start with sqlite: or postgres://".to_owned()),
        }
    }

    pub fn backend(&self) -> Backend {
        Backend::of_url(&self.0).unwrap_or(Backend::Sqlite)
    }

    /// The URL with the password replaced, for messages and logs: in the user information
    /// (`user:***@`, also when the password holds `/` or `@`) and in a `password=` query
    /// parameter, whatever its case.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
            return url.clone();
        };
        let (before_query, query) = match url[scheme_end..].find('?') {
            Some(q) => url.split_at(scheme_end + q),
            None => (url.as_str(), ""),
        };
        // The user information ends at the last '@' before the query: a password may hold
        // '/' or '@' unescaped, the host never does.
        let mut out = match before_query[scheme_end..].rfind('@') {
            Some(at) => {
                let user_info = &before_query[scheme_end..scheme_end + at];
                let user = user_info.split(':').next().unwrap_or("");
                let hidden = if user_info.contains(':') { ":***" } else { "" };
                format!(
                    "{}{user}{hidden}{}",
                    &before_query[..scheme_end],
                    &before_query[scheme_end + at..]
                )
            }
            None => before_query.to_owned(),
        };
        if let Some(query) = query.strip_prefix('?') {
            let (query, fragment) = query.split_once('#').unwrap_or((query, ""));
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            out.push('?');
            out.push_str(&pairs.join("&"));
            if !fragment.is_empty() {
                out.push('#');
                out.push_str(fragment);
            }
        }
        out
    }

    /// `text` (a driver's error message) with every form of the password in this URL replaced.
    pub fn scrub(&self, text: &str) -> String {
        let url = &self.0;
        let mut secrets = Vec::new();
        if let Some(scheme_end) = url.find("://").map(|i| i + 3) {
            let before_query = url[scheme_end..].split('?').next().unwrap_or("");
            if let Some(at) = before_query.rfind('@') {
                if let Some((_, password)) = before_query[..at].split_once(':') {
                    secrets.push(password.to_owned());
                }
            }
        }
        if let Some((_, query)) = url.split_once('?') {
            for pair in query.split(['&', '#']) {
                if let Some((key, value)) = pair.split_once('=') {
                    if key.eq_ignore_ascii_case("password") {
                        secrets.push(value.to_owned());
                    }
                }
            }
        }
        let mut out = text.to_owned();
        for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
            let decoded = percent_decode(&secret);
            out = out.replace(&secret, "***");
            if !decoded.is_empty() {
                out = out.replace(&decoded, "***");
            }
        }
        out
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The URL without its password (in the user information or a `password=` parameter),
    /// and the password, decoded: for a client program that takes the password from its
    /// environment rather than from its command line.
    pub(crate) fn split_password(&self) -> (String, Option<String>) {
        let url = &self.0;
        let mut password = None;
        let (base, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        let mut out = base.to_owned();
        if let Some(scheme_end) = base.find("://").map(|i| i + 3) {
            if let Some(at) = base[scheme_end..].rfind('@') {
                let user_info = &base[scheme_end..scheme_end + at];
                if let Some((user, secret)) = user_info.split_once(':') {
                    password = Some(percent_decode(secret));
                    out = format!("{}{user}{}", &base[..scheme_end], &base[scheme_end + at..]);
                }
            }
        }
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| match pair.split_once('=') {
                Some((key, value)) if key.eq_ignore_ascii_case("password") => {
                    password = Some(percent_decode(value));
                    false
                }
                _ => !pair.is_empty(),
            })
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
        (out, password)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// An SQLite database holds the registry and the audit log: a new file is created readable by
/// its owner only (SQLite gives its -wal and -shm files the same mode), not with the umask's
/// 0644 that opening with `mode=rwc` would give it.
pub(crate) fn create_private_sqlite_file(url: &DatabaseUrl) -> Result<(), StoreError> {
    let rest = url.expose();
    let rest = rest
        .strip_prefix("sqlite://")
        .or_else(|| rest.strip_prefix("sqlite:"))
        .unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path.starts_with(':') || std::path::Path::new(path).exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create {path}: {e}"
        ))),
    }
}

/// `%2F` and the like decoded (lossily): the form a driver may print a password in.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(((hex(h).unwrap_or(0) << 4) | hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
