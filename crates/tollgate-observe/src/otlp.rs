//! Spans exported over OTLP/HTTP (`POST {endpoint}/v1/traces`,
//! `application/x-protobuf`), batched by a thread of its own.
//!
//! The protobuf is written here rather than with prost and the generated
//! OpenTelemetry types: an export request is five nested messages of a few
//! scalar fields each, and the generated crates bring a code generator and
//! gRPC stack this project does not otherwise need. Field numbers are those
//! of `opentelemetry/proto/trace/v1/trace.proto` and
//! `collector/trace/v1/trace_service.proto`.
//!
//! Trace ids join X-Ray's and W3C's forms: X-Ray's
//! `Root=1-5759e988-bd862e3fe1be46a994272793` is the W3C trace id
//! `5759e988bd862e3fe1be46a994272793`, and a `Parent=53995c3f42cd8ad8` is a
//! span id, so spans join those of the services behind the gateway.

use std::time::Duration;

use bytes::Bytes;
use tollgate_gateway::upstream::{UpstreamClient, UpstreamRequest, UpstreamTarget};

use crate::queue::{self, Receiver, Sender};

/// Spans waiting for the exporter.
const QUEUE_CAPACITY: usize = 65_536;
/// Most spans per export request, and the longest a span waits.
const BATCH: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Least time between two posts while spans keep coming.
const POST_SPACING: Duration = Duration::from_millis(100);
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Internal = 1,
    Server = 2,
    Client = 3,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Attribute {
    Text(String),
    Int(i64),
}

/// One span, as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanData {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub name: String,
    pub kind: SpanKind,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub attributes: Vec<(&'static str, Attribute)>,
    /// Set for a failed operation: the status is ERROR with this message.
    pub error: Option<String>,
}

/// An X-Ray `Root=1-{8 hex}-{24 hex}` (within a trace header or alone) as
/// a W3C trace id.
pub fn trace_id_of_root(root: &str) -> Option<[u8; 16]> {
    let rest = root.strip_prefix("1-")?;
    let (epoch, random) = rest.split_once('-')?;
    if epoch.len() != 8 || random.len() != 24 {
        return None;
    }
    let mut id = [0u8; 16];
    hex_into(&format!("{epoch}{random}"), &mut id)?;
    Some(id)
}

/// 16 hex digits as a span id.
pub fn span_id_of_hex(text: &str) -> Option<[u8; 8]> {
    let mut id = [0u8; 8];
    hex_into(text, &mut id)?;
    Some(id)
}

fn hex_into(text: &str, out: &mut [u8]) -> Option<()> {
    if text.len() != out.len() * 2 || !text.is_ascii() {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(())
}

/// An `X-Amzn-Trace-Id` header's parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceHeader {
    pub root: Option<String>,
    pub parent: Option<String>,
    /// `Sampled=0` says not to record; absent or 1, record.
    pub sampled: Option<bool>,
}

pub fn parse_trace_header(header: &str) -> TraceHeader {
    let mut out = TraceHeader::default();
    for part in header.split(';') {
        let (key, value) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
        match key {
            "Root" => out.root = Some(value.to_string()),
            "Parent" => out.parent = Some(value.to_string()),
            "Sampled" => out.sampled = Some(value == "1"),
            _ => {}
        }
    }
    out
}

// ---- protobuf --------------------------------------------------------------

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

fn bytes_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(buf, field, 2);
    varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// A nested message, written in place: its length is known only after its
/// fields, so the length's varint is inserted before them (a move of the
/// message's bytes, cheaper than a buffer per message).
fn message(buf: &mut Vec<u8>, field: u32, write: impl FnOnce(&mut Vec<u8>)) {
    key(buf, field, 2);
    let start = buf.len();
    write(buf);
    let mut length = Vec::with_capacity(10);
    varint(&mut length, (buf.len() - start) as u64);
    buf.splice(start..start, length);
}

fn uint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    key(buf, field, 0);
    varint(buf, v);
}

fn fixed64_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    key(buf, field, 1);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn key_value(buf: &mut Vec<u8>, field: u32, k: &str, v: &Attribute) {
    message(buf, field, |kv| {
        bytes_field(kv, 1, k.as_bytes());
        message(kv, 2, |any| match v {
            Attribute::Text(s) => bytes_field(any, 1, s.as_bytes()),
            // int64 as a varint of its two's complement.
            Attribute::Int(i) => uint_field(any, 3, *i as u64),
        });
    });
}

/// An `ExportTraceServiceRequest` of `spans`, from service `service`.
pub fn encode_export(service: &str, spans: &[SpanData]) -> Vec<u8> {
    let mut buf = Vec::new();
    message(&mut buf, 1, |resource_spans| {
        message(resource_spans, 1, |resource| {
            key_value(
                resource,
                1,
                "service.name",
                &Attribute::Text(service.into()),
            );
            key_value(
                resource,
                1,
                "cloud.provider",
                &Attribute::Text("aws".into()),
            );
            key_value(
                resource,
                1,
                "cloud.platform",
                &Attribute::Text("aws_api_gateway".into()),
            );
        });
        message(resource_spans, 2, |scope_spans| {
            message(scope_spans, 1, |scope| {
                bytes_field(scope, 1, b"tollgate");
                bytes_field(scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
            });
            for span in spans {
                message(scope_spans, 2, |s| encode_span(s, span));
            }
        });
    });
    buf
}

fn encode_span(buf: &mut Vec<u8>, span: &SpanData) {
    bytes_field(buf, 1, &span.trace_id);
    bytes_field(buf, 2, &span.span_id);
    if let Some(parent) = &span.parent_span_id {
        bytes_field(buf, 4, parent);
    }
    bytes_field(buf, 5, span.name.as_bytes());
    uint_field(buf, 6, span.kind as u64);
    fixed64_field(buf, 7, span.start_unix_nanos);
    fixed64_field(buf, 8, span.end_unix_nanos.max(span.start_unix_nanos));
    for (k, v) in &span.attributes {
        key_value(buf, 9, k, v);
    }
    message(buf, 15, |status| match &span.error {
        Some(text) => {
            bytes_field(status, 2, text.as_bytes());
            uint_field(status, 3, 2);
        }
        None => uint_field(status, 3, 1),
    });
}

// ---- the exporter -----------------------------------------------------------

/// Where spans go.
pub struct Exporter {
    spans: Sender<SpanData>,
}

impl Exporter {
    /// Starts exporting to `endpoint` (e.g. `http://127.0.0.1:4318`).
    pub fn start(
        endpoint: &str,
        service: &str,
        client: UpstreamClient,
    ) -> std::io::Result<Exporter> {
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let target = UpstreamTarget::parse(&url).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the OTLP endpoint {endpoint} is not an http(s) URL"),
            )
        })?;
        let (spans, receiver) = queue::bounded("spans", QUEUE_CAPACITY);
        let service = service.to_string();
        std::thread::Builder::new()
            .name("tollgate-otlp".into())
            .spawn(move || export_all(receiver, target, service, client))?;
        Ok(Exporter { spans })
    }

    pub fn export(&self, span: SpanData) {
        self.spans.send(span);
    }

    /// Waits (at most `limit`) until the spans exported so far are posted.
    pub fn flush(&self, limit: Duration) -> bool {
        self.spans.flush(limit)
    }
}

fn export_all(
    receiver: Receiver<SpanData>,
    target: UpstreamTarget,
    service: String,
    client: UpstreamClient,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the OTLP exporter cannot start");
            return;
        }
    };
    let mut last_post: Option<std::time::Instant> = None;
    while let Some(mut batch) = queue::next_batch(&receiver, FLUSH_EVERY, BATCH) {
        if !batch.is_empty() {
            // Under steady traffic, let spans gather between posts: a post
            // costs as much as many spans. A full batch, or one a flush
            // waits for, goes at once.
            if let Some(since) = last_post.map(|t| t.elapsed()) {
                if since < POST_SPACING && batch.len() < BATCH && !receiver.flush_pending() {
                    std::thread::sleep(POST_SPACING - since);
                    queue::drain_into(&receiver, &mut batch, BATCH);
                }
            }
            last_post = Some(std::time::Instant::now());
            let body = Bytes::from(encode_export(&service, &batch));
            let sent = runtime.block_on(post(&client, &target, body));
            if let Err(reason) = sent {
                metrics::counter!("tollgate_spans_dropped_total").increment(batch.len() as u64);
                tracing::warn!(spans = batch.len(), %reason, "spans could not be exported");
            }
        }
        receiver.take_flushes().done();
    }
}

async fn post(client: &UpstreamClient, target: &UpstreamTarget, body: Bytes) -> Result<(), String> {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-protobuf"),
    );
    let request = UpstreamRequest {
        method: http::Method::POST,
        target: target.clone(),
        headers,
        body,
        response_header_rule: None,
    };
    let response = client
        .send(request, EXPORT_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let _ = http_body_util::BodyExt::collect(response.into_body()).await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the collector answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_ids_are_w3c_ids() {
        let header = parse_trace_header(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        );
        let root = header.root.as_deref().expect("a root");
        assert_eq!(
            trace_id_of_root(root),
            Some([
                0x57, 0x59, 0xe9, 0x88, 0xbd, 0x86, 0x2e, 0x3f, 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27,
                0x27, 0x93
            ])
        );
        assert_eq!(
            header.parent.as_deref().and_then(span_id_of_hex),
            Some([0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8])
        );
        assert_eq!(header.sampled, Some(true));
        assert_eq!(trace_id_of_root("1-xyz-abc"), None);
        assert_eq!(trace_id_of_root("1-5759e988-bd862e3fe1be46a99427279"), None);
    }

    #[test]
    fn encodes_varints_and_fixed_fields() {
        let mut buf = Vec::new();
        varint(&mut buf, 300);
        assert_eq!(buf, [0xac, 0x02]);
        let span = SpanData {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: None,
            name: "GET /x".into(),
            kind: SpanKind::Server,
            start_unix_nanos: 5,
            end_unix_nanos: 9,
            attributes: vec![("http.status_code", Attribute::Int(200))],
            error: None,
        };
        let encoded = encode_export("svc", &[span]);
        // The span's trace id field: tag 0x0a, length 16, then the bytes.
        let needle = [&[0x0a, 16][..], &[1u8; 16][..]].concat();
        assert!(encoded
            .windows(needle.len())
            .any(|w| w == needle.as_slice()));
        // Start time: tag (7 << 3 | 1) = 0x39, then 8 little-endian bytes.
        let start = [&[0x39][..], &5u64.to_le_bytes()[..]].concat();
        assert!(encoded.windows(start.len()).any(|w| w == start.as_slice()));
    }
}
