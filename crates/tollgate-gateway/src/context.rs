//! The per-request context that phases of the pipeline fill and read (request
//! ids, route, timings), and the `$context` object templates and mappings see.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::distr::{Alphanumeric, SampleString};
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
    pub peer: SocketAddr,
    pub user_agent: String,
    pub http_method: String,
    pub protocol: &'static str,
    pub domain_name: String,
    pub account_id: String,
    pub api_id: String,
    pub stage: String,
    pub deployment_id: String,
    /// The request path after the stage, as the client sent it.
    pub path: String,
    pub resource_id: String,
    pub resource_path: String,
    pub api_key: Option<String>,
    pub api_key_id: Option<String>,
}

impl RequestContext {
    pub fn new(
        request_id: String,
        peer: SocketAddr,
        http_method: &str,
        protocol: &'static str,
    ) -> RequestContext {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        RequestContext {
            request_id,
            extended_request_id: format!("{}=", Alphanumeric.sample_string(&mut rand::rng(), 15)),
            trace_id: String::new(),
            started: Instant::now(),
            request_time_epoch_ms: now.as_millis(),
            peer,
            user_agent: String::new(),
            http_method: http_method.to_string(),
            protocol,
            domain_name: String::new(),
            account_id: String::new(),
            api_id: String::new(),
            stage: String::new(),
            deployment_id: String::new(),
            path: String::new(),
            resource_id: String::new(),
            resource_path: String::new(),
            api_key: None,
            api_key_id: None,
        }
    }

    /// `$context.identity.sourceIp`.
    pub fn source_ip(&self) -> String {
        self.peer.ip().to_string()
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
        json!({
            "accountId": self.account_id,
            "apiId": self.api_id,
            "awsEndpointRequestId": self.request_id,
            "deploymentId": self.deployment_id,
            "domainName": self.domain_name,
            "domainPrefix": domain_prefix,
            "extendedRequestId": self.extended_request_id,
            "httpMethod": self.http_method,
            "path": format!("/{}{}", self.stage, self.path),
            "protocol": self.protocol,
            "requestId": self.request_id,
            "requestTime": clf_time(self.request_time_epoch_ms),
            "requestTimeEpoch": self.request_time_epoch_ms as u64,
            "resourceId": self.resource_id,
            "resourcePath": self.resource_path,
            "stage": self.stage,
            "xrayTraceId": self.trace_id,
            "identity": {
                "accountId": null,
                "apiKey": self.api_key,
                "apiKeyId": self.api_key_id,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": self.source_ip(),
                "user": null,
                "userAgent": self.user_agent,
                "userArn": null,
            },
        })
    }
}

/// An X-Ray trace id: `Root=1-{epoch hex}-{24 hex}`.
fn new_trace_id(epoch_secs: u64) -> String {
    use std::fmt::Write;
    let mut b = [0u8; 12];
    rand::rng().fill_bytes(&mut b);
    let mut out = String::with_capacity(40);
    let _ = write!(out, "Root=1-{epoch_secs:08x}-");
    out.push_str(&hex::encode(b));
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
        let mut cx = RequestContext::new("r".into(), peer, "GET", "HTTP/1.1");
        assert!(cx.trace_id.is_empty());
        cx.ensure_trace_id();
        assert_eq!(cx.extended_request_id.len(), 16);
        assert!(cx.extended_request_id.ends_with('='));
        assert!(cx.trace_id.starts_with("Root=1-"));
        assert_eq!(cx.trace_id.len(), "Root=1-".len() + 8 + 1 + 24);
    }
}
