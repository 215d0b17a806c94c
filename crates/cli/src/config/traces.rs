//! `[traces]`, checked: where OpenTelemetry traces go.

use super::raw::RawTraces;

/// Traces over OTLP/HTTP to a collector.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSettings {
    /// The collector's traces endpoint, in full (`…/v1/traces`).
    pub endpoint: url::Url,
    pub service_name: String,
    /// The share of new traces kept (0.0–1.0).
    pub sample_ratio: f64,
}

/// The settings, `None` when off; or the key that is wrong and why.
pub(super) fn check(raw: &RawTraces) -> Result<Option<TraceSettings>, (&'static str, String)> {
    let endpoint = raw.otlp_endpoint.trim();
    if endpoint.is_empty() {
        return Ok(None);
    }
    let endpoint = url::Url::parse(endpoint)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            (
                "traces.otlp_endpoint",
                format!("{endpoint:?} is not an http(s) URL, e.g. http://127.0.0.1:4318/v1/traces"),
            )
        })?;
    if !(0.0..=1.0).contains(&raw.sample_ratio) {
        return Err((
            "traces.sample_ratio",
            format!("{} must be between 0.0 and 1.0", raw.sample_ratio),
        ));
    }
    let service_name = raw.service_name.trim();
    if service_name.is_empty() {
        return Err(("traces.service_name", "must not be empty".into()));
    }
    Ok(Some(TraceSettings {
        endpoint,
        service_name: service_name.to_owned(),
        sample_ratio: raw.sample_ratio,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(endpoint: &str, ratio: f64) -> RawTraces {
        RawTraces {
            otlp_endpoint: endpoint.into(),
            sample_ratio: ratio,
            ..RawTraces::default()
        }
    }

    #[test]
    fn off_unless_an_endpoint_is_given_and_then_checked() {
        assert_eq!(check(&RawTraces::default()), Ok(None));
        let on = check(&raw("http://127.0.0.1:4318/v1/traces", 0.25))
            .expect("valid")
            .expect("on");
        assert_eq!(on.endpoint.as_str(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(
            (on.service_name.as_str(), on.sample_ratio),
            ("hpki-second", 0.25)
        );
        for (bad, key) in [
            (raw("127.0.0.1:4318", 1.0), "traces.otlp_endpoint"),
            (
                raw("ftp://collector/v1/traces", 1.0),
                "traces.otlp_endpoint",
            ),
            (
                raw("http://collector/v1/traces", 1.5),
                "traces.sample_ratio",
            ),
            (
                raw("http://collector/v1/traces", -0.1),
                "traces.sample_ratio",
            ),
        ] {
            assert_eq!(check(&bad).map_err(|e| e.0), Err(key), "{bad:?}");
        }
    }
}
