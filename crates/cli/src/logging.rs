//! Logs, and the layer that exports traces when configured: logs go to stderr, so that
//! `--json` output on stdout stays clean. A request's log lines carry its span
//! (`request{http.request.method=… http.route=…}`), without the fields meant for the trace
//! exporter (`otel.*`).

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::prelude::*;

use crate::config::LogFormat;
use crate::traces::BoxedLayer;

/// Installs the logs at `level` in `format`, and `traces` (a layer with its own level) beside.
pub fn init_logging(format: LogFormat, level: &str, traces: Option<BoxedLayer>) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs: BoxedLayer = match format {
        LogFormat::Human => Box::new(logs.fmt_fields(WithoutOtel).with_filter(filter)),
        LogFormat::Json => Box::new(logs.json().flatten_event(true).with_filter(filter)),
    };
    let layers: Vec<BoxedLayer> = std::iter::once(logs).chain(traces).collect();
    let _ = tracing_subscriber::registry().with(layers).try_init();
}

/// The human format's fields as `tracing-subscriber` writes them (the message bare, the others
/// `name=value`, space apart), less the `otel.*` ones.
struct WithoutOtel;

impl<'w> FormatFields<'w> for WithoutOtel {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> std::fmt::Result {
        let mut visit = Fields {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visit);
        visit.result
    }
}

struct Fields<'w> {
    writer: Writer<'w>,
    first: bool,
    result: std::fmt::Result,
}

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.result.is_err() || field.name().starts_with("otel.") {
            return;
        }
        let space = if self.first { "" } else { " " };
        self.first = false;
        self.result = if field.name() == "message" {
            write!(self.writer, "{space}{value:?}")
        } else {
            write!(self.writer, "{space}{}={value:?}", field.name())
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otel_fields_stay_out_of_the_human_logs() {
        let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = written.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(WithoutOtel)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                otel.name = "GET /readyz",
                http.route = "/readyz",
                http.response.status_code = tracing::field::Empty
            );
            span.record("http.response.status_code", 503_i64);
            let _inside = span.enter();
            tracing::warn!(failing = "keystore", "not ready");
        });
        let text = String::from_utf8(written.lock().expect("lock").clone()).expect("utf-8");
        assert!(
            text.contains(
                "request{http.route=\"/readyz\" http.response.status_code=503}: \
                 hpki_second::logging::tests: not ready failing=\"keystore\""
            ),
            "{text}"
        );
        assert!(!text.contains("otel"), "{text}");
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
