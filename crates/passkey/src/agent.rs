//! What the User-Agent says about the holder's phone and browser: the facts behind the
//! automatic label of a device credential, and whether the page is open in a browser that can
//! register a passkey (manual 1.1: Safari on iOS, Chrome on Android; not in-app or other
//! browsers). Facts only: names here are product names; the web words them in the page's
//! language.

/// The browser the page is open in, as far as the registration site cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Browser {
    /// Safari on iOS / iPadOS, or Chrome on Android: supported.
    Supported,
    /// An app's built-in browser (LINE, Facebook, …; `None`: an app that does not say which):
    /// open the page in Safari/Chrome.
    InApp(Option<&'static str>),
    /// Another browser on iOS or Android (Samsung Internet, Firefox, …; `None`: one we do not
    /// know by name).
    Other(Option<&'static str>),
    /// A desktop or unknown browser: nothing is said (it may have a platform authenticator).
    Unknown,
}

/// The phone's platform, for guidance ("open it in Safari" or "in Chrome").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    Ios,
    Android,
    Other,
}

pub fn platform(ua: &str) -> Platform {
    if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        Platform::Ios
    } else if ua.contains("Android") {
        Platform::Android
    } else {
        Platform::Other
    }
}

const IN_APP: &[(&str, &str)] = &[
    ("Line/", "LINE"),
    ("FBAN", "Facebook"),
    ("FBAV", "Facebook"),
    ("Instagram", "Instagram"),
    ("YJApp", "Yahoo! JAPAN"),
    ("YahooJ", "Yahoo! JAPAN"),
    ("Rakuten", "Rakuten"),
    ("Twitter", "X (Twitter)"),
    ("TikTok", "TikTok"),
    ("musical_ly", "TikTok"),
    ("MicroMessenger", "WeChat"),
    ("KAKAOTALK", "KakaoTalk"),
    ("GSA/", "Google app"),
];

/// An Android WebView that names no app.
const UNNAMED_WEBVIEW: &str = "; wv)";

const OTHER_BROWSERS: &[(&str, &str)] = &[
    ("SamsungBrowser", "Samsung Internet"),
    ("EdgiOS", "Edge"),
    ("EdgA", "Edge"),
    ("FxiOS", "Firefox"),
    ("Firefox", "Firefox"),
    ("OPR/", "Opera"),
    ("OPiOS", "Opera"),
    ("YaBrowser", "Yandex"),
    ("UCBrowser", "UC Browser"),
    ("DuckDuckGo", "DuckDuckGo"),
    ("Brave", "Brave"),
    ("Vivaldi", "Vivaldi"),
    ("CriOS", "Chrome (iOS)"),
];

/// Classifies the browser by its User-Agent.
pub fn browser(ua: &str) -> Browser {
    let p = platform(ua);
    if p == Platform::Other {
        return Browser::Unknown;
    }
    if let Some((_, name)) = IN_APP.iter().find(|(needle, _)| ua.contains(needle)) {
        return Browser::InApp(Some(name));
    }
    if ua.contains(UNNAMED_WEBVIEW) {
        return Browser::InApp(None);
    }
    if let Some((_, name)) = OTHER_BROWSERS
        .iter()
        .find(|(needle, _)| ua.contains(needle))
    {
        // Chrome on iOS uses Safari's engine and the iCloud Keychain; the manual still asks for
        // Safari, so it is guided there too.
        return Browser::Other(Some(name));
    }
    match p {
        Platform::Ios if ua.contains("Safari/") && ua.contains("Version/") => Browser::Supported,
        Platform::Android if ua.contains("Chrome/") && !ua.contains("Version/") => {
            Browser::Supported
        }
        _ => Browser::Other(None),
    }
}

/// The kind of device, as far as the User-Agent tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Iphone,
    Ipad,
    Android,
    Mac,
    Windows,
    Linux,
    Unknown,
}

impl Device {
    /// The product name (`None` for an unknown device: the web says "device" in its language).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::Iphone => Some("iPhone"),
            Self::Ipad => Some("iPad"),
            Self::Android => Some("Android"),
            Self::Mac => Some("Mac"),
            Self::Windows => Some("Windows"),
            Self::Linux => Some("Linux"),
            Self::Unknown => None,
        }
    }
}

/// The device and browser behind an automatic label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceFacts {
    pub device: Device,
    /// The browser's product name; `None` when the User-Agent does not say.
    pub browser: Option<&'static str>,
}

/// The device and browser, for an automatic label ("iPhone・Safari" once worded).
pub fn describe(ua: &str) -> DeviceFacts {
    let device = if ua.contains("iPhone") {
        Device::Iphone
    } else if ua.contains("iPad") {
        Device::Ipad
    } else if ua.contains("Android") {
        Device::Android
    } else if ua.contains("Mac OS X") {
        Device::Mac
    } else if ua.contains("Windows") {
        Device::Windows
    } else if ua.contains("Linux") {
        Device::Linux
    } else {
        Device::Unknown
    };
    let browser = match browser(ua) {
        Browser::Supported if device == Device::Android => Some("Chrome"),
        Browser::Supported => Some("Safari"),
        Browser::InApp(n) | Browser::Other(n) => n,
        Browser::Unknown => [
            ("Edg/", "Edge"),
            ("Firefox/", "Firefox"),
            ("Chrome/", "Chrome"),
            ("Safari/", "Safari"),
        ]
        .into_iter()
        .find(|(needle, _)| ua.contains(needle))
        .map(|(_, name)| name),
    };
    DeviceFacts { device, browser }
}

/// Authenticator models by AAGUID (from the community list of passkey providers'
/// AAGUIDs): the name used in the automatic label when the authenticator says which it is.
const AAGUIDS: &[(&str, &str)] = &[
    (
        "ea9b8d664d011d213ce4b6b48cb575d4",
        "Google Password Manager",
    ),
    ("adce000235bcc60a648b0b25f1f05503", "Chrome on Mac"),
    ("fbfc3007154e4ecc8c0b6e020557d7bd", "iCloud Keychain"),
    (
        "dd4ec289e01d41c9bb8970fa845d4bf2",
        "iCloud Keychain (managed)",
    ),
    ("08987058cadc4b81b6e130de50dcbe96", "Windows Hello"),
    ("9ddd1817af5a4672a2b93e3dd95000a9", "Windows Hello"),
    ("6028b017b1d44c02b4b3afcdafc96bb2", "Windows Hello"),
    ("53414d53554e47000000000000000000", "Samsung Pass"),
    ("bada5566a7aa401fbd9645619a55120d", "1Password"),
    ("d548826e79b4db40a3d811116f7e8349", "Bitwarden"),
];

/// The authenticator's name, if its AAGUID is one we know.
pub fn authenticator_name(aaguid_hex: &str) -> Option<&'static str> {
    AAGUIDS
        .iter()
        .find(|(id, _)| *id == aaguid_hex)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPHONE_SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    const ANDROID_CHROME: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
    const LINE_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.9.0";
    const YAHOO_ANDROID: &str = "Mozilla/5.0 (Linux; Android 13; SO-51C Build/64.1.C.2.141; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 YJApp-ANDROID jp.co.yahoo.android.yjtop/4.0.0";
    const SAMSUNG: &str = "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36";
    const CHROME_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1";
    const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

    #[test]
    fn browsers_are_told_apart() {
        assert_eq!(browser(IPHONE_SAFARI), Browser::Supported);
        assert_eq!(browser(ANDROID_CHROME), Browser::Supported);
        assert_eq!(browser(LINE_IOS), Browser::InApp(Some("LINE")));
        assert_eq!(browser(YAHOO_ANDROID), Browser::InApp(Some("Yahoo! JAPAN")));
        assert_eq!(browser(SAMSUNG), Browser::Other(Some("Samsung Internet")));
        assert_eq!(browser(CHROME_IOS), Browser::Other(Some("Chrome (iOS)")));
        assert_eq!(
            browser("Mozilla/5.0 (Linux; Android 13; wv) AppleWebKit/537.36 Version/4.0 Chrome/120 Mobile"),
            Browser::InApp(None)
        );
        assert_eq!(browser(DESKTOP), Browser::Unknown);
        assert_eq!(browser(""), Browser::Unknown);
    }

    #[test]
    fn labels_name_the_device_and_browser() {
        let facts = |device, browser| DeviceFacts { device, browser };
        assert_eq!(
            describe(IPHONE_SAFARI),
            facts(Device::Iphone, Some("Safari"))
        );
        assert_eq!(
            describe(ANDROID_CHROME),
            facts(Device::Android, Some("Chrome"))
        );
        assert_eq!(describe(DESKTOP), facts(Device::Linux, Some("Chrome")));
        assert_eq!(describe("curl/8"), facts(Device::Unknown, None));
        assert_eq!(
            authenticator_name("ea9b8d664d011d213ce4b6b48cb575d4"),
            Some("Google Password Manager")
        );
        assert_eq!(authenticator_name("00000000000000000000000000000000"), None);
    }
}
