//! OpenTelemetry traces over OTLP/HTTP (protobuf), when `[traces] otlp_endpoint` is set: the
//! spans of `tracing` (a server span per request, the keystore's operations inside it) go to
//! the collector in batches from a thread of their own, so a slow or absent collector never
//! holds a request up (a full queue drops spans, not requests). Incoming W3C `traceparent`
//! headers are honoured, so a relying system's trace continues here.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::{Layer, Registry};

use crate::config::TraceSettings;
use crate::Failure;

/// The running exporter: [`Traces::shutdown`] sends what is still queued.
pub struct Traces(SdkTracerProvider);

/// A layer for the subscriber, boxed as the logging layer is.
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

impl Traces {
    /// The exporter for `settings` and the layer that feeds it; from now on incoming trace
    /// contexts are read (W3C trace context).
    pub fn start(settings: &TraceSettings) -> Result<(Self, BoxedLayer), Failure> {
        let client = Ureq(crate::http_client::agent(
            ureq::tls::RootCerts::WebPki,
            Duration::from_secs(10),
        ));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_endpoint(settings.endpoint.as_str())
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("traces.otlp_endpoint: {e}"))?;
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_service_name(settings.service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                settings.sample_ratio,
            ))))
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("hpki-second");
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
        Ok((Self(provider), Box::new(layer)))
    }

    /// Sends the spans still queued and stops the exporter.
    pub fn shutdown(self) {
        if let Err(e) = self.0.shutdown() {
            tracing::warn!(error = %e, "traces: the last spans may not have been sent");
        }
    }
}

/// The exporter's HTTP client: ureq, blocking, which suits the batch processor's own thread
/// (an async client would need a runtime there).
#[derive(Debug)]
struct Ureq(ureq::Agent);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Ureq {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        let (parts, body) = request.into_parts();
        let answer = self.0.run(opentelemetry_http::Request::from_parts(
            parts,
            body.to_vec(),
        ))?;
        let (parts, mut body) = answer.into_parts();
        let bytes = body.read_to_vec()?;
        Ok(opentelemetry_http::Response::from_parts(
            parts,
            opentelemetry_http::Bytes::from(bytes),
        ))
    }
}
