//! The per-request context that phases of the pipeline fill and read (request
//! ids, route, timings), and the `$context` object templates and mappings see.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::RngCore;
use serde_json::{json, Value};
use tollgate_model::time::Date;

/// State carried from phase to phase of one request.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    /// `x-amz-apigw-id`: 16 characters ending in `=`.
    pub extended_request_id: String,
    /// `X-Amzn-Trace-Id`: the client's, or made when the request reaches its
    /// integration ([`RequestContext::ensure_trace_id`]); gateway errors before that carry none.
    pub trace_id: String,
    pub started: Instant,
    pub request_time_epoch_ms: u128,
    /// The client's address: the peer's, or the one a trusted proxy
    /// forwarded ([`crate::client_ip`]); what `sourceIp` and `aws:SourceIp` see.
    source: IpAddr,
    /// The TCP peer's address: `source`, or the trusted proxy's.
    pub peer: IpAddr,
    /// `source` as text, made on first use.
    source_ip: OnceLock<String>,
    /// The client's User-Agent, kept as sent (a shared buffer, not a copy).
    pub user_agent: Option<http::HeaderValue>,
    pub http_method: http::Method,
    pub protocol: &'static str,
    pub domain_name: String,
    /// The `Arc<str>` fields are shared with the settings and the compiled
    /// stage: filling them costs a count, not a copy.
    pub account_id: Arc<str>,
    pub api_id: String,
    pub stage: String,
    pub deployment_id: Arc<str>,
    /// The request path after the stage, as the client sent it.
    pub path: String,
    pub resource_id: Arc<str>,
    pub resource_path: Arc<str>,
    pub api_key: Option<String>,
    pub api_key_id: Option<String>,
    /// Who signed an `AWS_IAM` request.
    pub caller: Option<CallerIdentity>,
    /// Time spent waiting on the integration.
    pub integration_latency: Option<std::time::Duration>,
    /// The request body's length, once read.
    pub bytes_in: u64,
    /// The port the client called (`X-Forwarded-Port`).
    pub local_port: u16,
    /// What a Lambda authorizer said of the caller.
    pub authorizer: Option<AuthorizerContext>,
    /// Time spent invoking the authorizer (None when it did not run or was cached).
    pub authorizer_latency: Option<std::time::Duration>,
    /// The status the authorizer's decision came to (200 when it allowed).
    pub authorizer_status: Option<u16>,
    /// When the authorizer was invoked, after the request started.
    pub authorizer_start: Option<std::time::Duration>,
    /// When the integration was called, after the request started.
    pub integration_start: Option<std::time::Duration>,
    /// With `tracingEnabled`: this request's spans.
    pub spans: Option<Spans>,
    /// Whether the stage cache answered (a method that uses it).
    pub cache: Option<crate::outcome::CacheResult>,
}

/// A traced request's span ids: the stage's (the request in the gateway)
/// and the integration's, which the upstream or function gets as its
/// parent (`X-Amzn-Trace-Id: Root=…;Parent={integration};Sampled=1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spans {
    pub stage: [u8; 8],
    pub integration: [u8; 8],
    /// The trace header integrations pass on.
    pub downstream: String,
}

/// A Lambda authorizer's answer for this request, as `$context.authorizer`
/// and a proxy event's `requestContext.authorizer` show it. The answer is
/// shared with the cache entry it came from (a cached authorization copies
/// nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizerContext {
    pub identity: Arc<AuthorizerIdentity>,
    pub latency: Option<std::time::Duration>,
}

/// Whom the authorizer said the caller is.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizerIdentity {
    pub principal_id: String,
    /// Scalar values, as the authorizer returned them.
    pub context: serde_json::Map<String, Value>,
    /// The API key the authorizer named (API key source AUTHORIZER).
    pub usage_identifier_key: Option<String>,
}

impl std::ops::Deref for AuthorizerContext {
    type Target = AuthorizerIdentity;

    fn deref(&self) -> &AuthorizerIdentity {
        &self.identity
    }
}

impl AuthorizerContext {
    /// `$context.authorizer`: every value a string (`1` → `"1"`), as AWS renders them.
    fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        out.insert(
            "principalId".into(),
            Value::String(self.principal_id.clone()),
        );
        for (k, v) in &self.context {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert(k.clone(), Value::String(text));
        }
        Value::Object(out)
    }
}

/// The signer of an `AWS_IAM` request, as `$context.identity` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub access_key: String,
    pub account_id: String,
    /// `caller` and `user`: the access key id (Tollgate's credentials have
    /// no IAM user ids of their own).
    pub user: String,
    /// `arn:aws:iam::{account}:user/{access key id}`.
    pub user_arn: String,
}

impl RequestContext {
    /// Inlined: the context (hundreds of bytes) is then written where the
    /// caller keeps it, not made apart and copied there.
    #[inline]
    pub fn new(
        request_id: String,
        peer: SocketAddr,
        http_method: http::Method,
        protocol: &'static str,
    ) -> RequestContext {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        RequestContext {
            request_id,
            extended_request_id: new_extended_request_id(),
            trace_id: String::new(),
            started: Instant::now(),
            request_time_epoch_ms: now.as_millis(),
            source: peer.ip(),
            peer: peer.ip(),
            source_ip: OnceLock::new(),
            user_agent: None,
            http_method,
            protocol,
            domain_name: String::new(),
            account_id: Arc::default(),
            api_id: String::new(),
            stage: String::new(),
            deployment_id: Arc::default(),
            path: String::new(),
            resource_id: Arc::default(),
            resource_path: Arc::default(),
            api_key: None,
            api_key_id: None,
            caller: None,
            integration_latency: None,
            bytes_in: 0,
            local_port: 80,
            authorizer: None,
            authorizer_latency: None,
            authorizer_status: None,
            authorizer_start: None,
            integration_start: None,
            spans: None,
            cache: None,
        }
    }

    /// `$context.identity.sourceIp`. Formatted once and kept: a proxied
    /// request needs it for `X-Forwarded-For` and again for `$context`.
    pub fn source_ip(&self) -> &str {
        self.source_ip.get_or_init(|| ip_text(self.source))
    }

    /// The client's address ([`RequestContext::source_ip`] as an address).
    pub fn source(&self) -> IpAddr {
        self.source
    }

    /// Sets the client's address (a trusted proxy named it), forgetting
    /// any text made of the old one.
    pub fn set_source(&mut self, source: IpAddr) {
        self.source = source;
        self.source_ip = OnceLock::new();
    }

    /// The hop this gateway appends to `X-Forwarded-For`: the peer's
    /// address (behind a trusted proxy, the proxy's, after the client the
    /// proxy already named).
    pub fn forwarded_for_hop(&self) -> std::borrow::Cow<'_, str> {
        if self.peer == self.source {
            std::borrow::Cow::Borrowed(self.source_ip())
        } else {
            std::borrow::Cow::Owned(ip_text(self.peer))
        }
    }

    /// [`RequestContext::source_ip`]'s text, taken out of the context (for
    /// the outcome record, once the context has served).
    pub fn take_source_ip(&mut self) -> String {
        match self.source_ip.take() {
            Some(text) => text,
            None => ip_text(self.source),
        }
    }

    /// The trace header integrations pass on: with tracing, this request's
    /// integration span as the parent; without, the trace id as it is.
    pub fn downstream_trace(&self) -> &str {
        match &self.spans {
            Some(spans) => &spans.downstream,
            None => &self.trace_id,
        }
    }

    /// Starts this request's spans (`tracingEnabled`), unless the client's
    /// trace header says `Sampled=0`.
    pub fn begin_spans(&mut self) {
        self.ensure_trace_id();
        if self.trace_id.split(';').any(|p| p.trim() == "Sampled=0") {
            return;
        }
        let Some(root) = self
            .trace_id
            .split(';')
            .find_map(|p| p.trim().strip_prefix("Root="))
        else {
            return;
        };
        let mut ids = [0u8; 16];
        rand::rng().fill_bytes(&mut ids);
        let (mut stage, mut integration) = ([0u8; 8], [0u8; 8]);
        stage.copy_from_slice(&ids[..8]);
        integration.copy_from_slice(&ids[8..]);
        let hex: String = integration.iter().map(|b| format!("{b:02x}")).collect();
        self.spans = Some(Spans {
            stage,
            integration,
            downstream: format!("Root={root};Parent={hex};Sampled=1"),
        });
    }

    /// Makes a trace id unless the client sent one.
    pub fn ensure_trace_id(&mut self) {
        if self.trace_id.is_empty() {
            self.trace_id = new_trace_id((self.request_time_epoch_ms / 1000) as u64);
        }
    }

    /// `$context` as templates, mappings and logs see it (spec §6.1).
    pub fn to_json(&self) -> Value {
        let domain_prefix = self.domain_name.split('.').next().unwrap_or_default();
        let caller = self.caller.as_ref();
        let mut context = json!({
            "accountId": &*self.account_id,
            "apiId": self.api_id,
            "awsEndpointRequestId": self.request_id,
            "deploymentId": &*self.deployment_id,
            "domainName": self.domain_name,
            "domainPrefix": domain_prefix,
            "extendedRequestId": self.extended_request_id,
            "httpMethod": self.http_method.as_str(),
            "path": format!("/{}{}", self.stage, self.path),
            "protocol": self.protocol,
            "requestId": self.request_id,
            "requestTime": clf_time(self.request_time_epoch_ms),
            "requestTimeEpoch": self.request_time_epoch_ms as u64,
            "resourceId": &*self.resource_id,
            "resourcePath": &*self.resource_path,
            "stage": self.stage,
            "xrayTraceId": self.trace_id,
            "identity": {
                "accessKey": caller.map(|c| c.access_key.as_str()),
                "accountId": caller.map(|c| c.account_id.as_str()),
                "apiKey": self.api_key,
                "apiKeyId": self.api_key_id,
                "caller": caller.map(|c| c.user.as_str()),
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": self.source_ip(),
                "user": caller.map(|c| c.user.as_str()),
                "userAgent": self.user_agent.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default(),
                "userArn": caller.map(|c| c.user_arn.as_str()),
            },
        });
        if let Some(authorizer) = &self.authorizer {
            context["authorizer"] = authorizer.to_json();
        }
        context
    }
}

/// The characters of an `x-amz-apigw-id`.
const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// An `x-amz-apigw-id`: 15 random alphanumerics and `=`.
///
/// Each random byte picks its character by `% 62`, so the first 8 characters
/// come up 5 times in 256 rather than 4: harmless for an id, and cheaper than
/// rejection sampling on every request.
fn new_extended_request_id() -> String {
    let mut b = [0u8; 15];
    rand::rng().fill_bytes(&mut b);
    let mut id = [b'='; 16];
    for (c, x) in id.iter_mut().zip(b) {
        *c = ALPHANUMERIC[usize::from(x % 62)];
    }
    // Alphanumerics and `=`: always UTF-8.
    String::from_utf8(id.to_vec()).unwrap_or_default()
}

/// An X-Ray trace id: `Root=1-{epoch hex}-{24 hex}`.
fn new_trace_id(epoch_secs: u64) -> String {
    let mut b = [0u8; 12];
    rand::rng().fill_bytes(&mut b);
    trace_id_text(epoch_secs, &b)
}

/// `Root=1-{epoch_secs:08x}-{hex of random}`, written without `fmt` into one
/// buffer, validated as UTF-8 once rather than part by part.
fn trace_id_text(epoch_secs: u64, random: &[u8; 12]) -> String {
    const PREFIX: &[u8] = b"Root=1-";
    // 16 digits for the 8 epoch bytes; the only way encode_to_slice fails
    // is a size mismatch.
    let mut epoch = [0u8; 16];
    let _ = hex::encode_to_slice(epoch_secs.to_be_bytes(), &mut epoch);
    // At least 8 digits, as `{:08x}`; a ninth after 2106.
    let digits = (16 - epoch_secs.leading_zeros() as usize / 4).max(8);
    let mut text = [0u8; PREFIX.len() + 16 + 1 + 24];
    let epoch_end = PREFIX.len() + digits;
    text[..PREFIX.len()].copy_from_slice(PREFIX);
    text[PREFIX.len()..epoch_end].copy_from_slice(&epoch[16 - digits..]);
    text[epoch_end] = b'-';
    let _ = hex::encode_to_slice(random, &mut text[epoch_end + 1..epoch_end + 25]);
    String::from_utf8(text[..epoch_end + 25].to_vec()).unwrap_or_default()
}

/// The text `IpAddr`'s `Display` gives, with IPv4 (nearly every peer)
/// written by hand: `to_string` goes through the formatting machinery.
fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut out = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
    out
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Common Log Format time, `dd/MMM/yyyy:HH:mm:ss +0000`.
pub fn clf_time(epoch_ms: u128) -> String {
    let secs = (epoch_ms / 1000) as i64;
    let date = Date::from_epoch_seconds(secs);
    let in_day = secs.rem_euclid(86_400);
    format!(
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        date.day,
        MONTHS[(date.month as usize).saturating_sub(1) % 12],
        date.year,
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_clf_time() {
        assert_eq!(clf_time(1_583_349_317_135), "04/Mar/2020:19:15:17 +0000");
    }

    #[test]
    fn ids_have_aws_shapes() {
        let peer: SocketAddr = ([127, 0, 0, 1], 9).into();
        let mut cx = RequestContext::new("r".into(), peer, http::Method::GET, "HTTP/1.1");
        assert!(cx.trace_id.is_empty());
        cx.ensure_trace_id();
        assert_eq!(cx.extended_request_id.len(), 16);
        assert!(cx.extended_request_id.ends_with('='));
        assert!(cx.trace_id.starts_with("Root=1-"));
        assert_eq!(cx.trace_id.len(), "Root=1-".len() + 8 + 1 + 24);
    }

    #[test]
    fn behind_a_trusted_proxy_the_proxy_is_the_forwarded_hop() {
        let peer: SocketAddr = ([10, 0, 0, 1], 9).into();
        let mut cx = RequestContext::new("r".into(), peer, http::Method::GET, "HTTP/1.1");
        assert_eq!(cx.forwarded_for_hop(), "10.0.0.1");
        cx.set_source("203.0.113.7".parse().expect("an address"));
        assert_eq!(cx.source_ip(), "203.0.113.7");
        assert_eq!(cx.forwarded_for_hop(), "10.0.0.1");
    }

    #[test]
    fn extended_request_ids_are_random_alphanumerics() {
        let peer: SocketAddr = ([127, 0, 0, 1], 9).into();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = RequestContext::new("r".into(), peer, http::Method::GET, "HTTP/1.1")
                .extended_request_id;
            assert_eq!(id.len(), 16, "{id}");
            assert!(id[..15].bytes().all(|c| c.is_ascii_alphanumeric()), "{id}");
            assert!(id.ends_with('='), "{id}");
            assert!(seen.insert(id));
        }
        let chars: std::collections::HashSet<char> =
            seen.iter().flat_map(|id| id[..15].chars()).collect();
        assert_eq!(chars.len(), 62, "every alphanumeric turns up");
    }

    #[test]
    fn trace_ids_match_their_format_string() {
        let random: [u8; 12] = std::array::from_fn(|i| (i as u8) * 23);
        for epoch in [0, 1, 0x5e5f_fe45, 0xffff_ffff, 0x1_0000_0000, u64::MAX] {
            assert_eq!(
                trace_id_text(epoch, &random),
                format!("Root=1-{epoch:08x}-00172e455c738aa1b8cfe6fd")
            );
        }
    }

    #[test]
    fn source_ip_is_the_address_as_display_writes_it() {
        let addrs: [IpAddr; 7] = [
            [127, 0, 0, 1].into(),
            [0, 0, 0, 0].into(),
            [255, 255, 255, 255].into(),
            [10, 99, 100, 9].into(),
            [192, 168, 20, 199].into(),
            "::1".parse().unwrap(),
            "::ffff:1.2.3.4".parse().unwrap(),
        ];
        for ip in addrs {
            let cx = RequestContext::new("r".into(), (ip, 9).into(), http::Method::GET, "HTTP/1.1");
            assert_eq!(cx.source_ip(), ip.to_string());
            assert_eq!(cx.to_json()["identity"]["sourceIp"], ip.to_string());
        }
        for a in 0..=255u8 {
            let ip = IpAddr::from([a, 255 - a, a / 3, 7]);
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }
}
