//! A SigV4-signed client of API Gateway's control plane (Tollgate's or
//! AWS's), for the commands that configure a gateway from the command line
//! (`tollgate cors enable`, `tollgate apply`).

use std::time::{Duration, SystemTime};

use anyhow::Context;
use bytes::Bytes;
use serde_json::Value;
use tollgate_aws::sigv4::{self, Credentials};
use tollgate_gateway::upstream::{UpstreamClient, UpstreamRequest, UpstreamTarget};

/// Where and as whom the calls go.
pub struct ControlClient {
    endpoint: String,
    region: String,
    credentials: Credentials,
    client: UpstreamClient,
    runtime: tokio::runtime::Runtime,
}

/// A call's body: JSON, or a file sent as it is with its content type.
pub enum CallBody {
    None,
    Json(Value),
    Raw { content_type: String, bytes: Bytes },
}

impl ControlClient {
    pub fn new(endpoint: &str, region: &str, credentials: Credentials) -> anyhow::Result<Self> {
        Ok(ControlClient {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region: region.to_string(),
            credentials,
            client: UpstreamClient::default(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    /// Sends one call; the answer's status and JSON body (null if not JSON).
    pub fn send(
        &self,
        method: &http::Method,
        path_and_query: &str,
        body: &CallBody,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path_and_query}", self.endpoint);
        let target = UpstreamTarget::parse(&url).with_context(|| format!("not a URL: {url}"))?;
        let (content_type, bytes) = match body {
            CallBody::None => ("application/json".to_string(), Bytes::new()),
            CallBody::Json(value) => (
                "application/json".to_string(),
                Bytes::from(value.to_string()),
            ),
            CallBody::Raw {
                content_type,
                bytes,
            } => (content_type.clone(), bytes.clone()),
        };
        let request = http::Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(())?;
        let (mut parts, ()) = request.into_parts();
        sigv4::sign(
            &mut parts,
            &bytes,
            &self.credentials,
            &self.region,
            "apigateway",
            SystemTime::now(),
        );
        let upstream = UpstreamRequest {
            method: method.clone(),
            target,
            headers: parts.headers,
            body: bytes,
            response_header_rule: None,
        };
        self.runtime.block_on(async {
            let response = self
                .client
                .send(upstream, Duration::from_secs(60))
                .await
                .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
            let status = response.status().as_u16();
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .map_err(|e| anyhow::anyhow!("{url}: {e}"))?
                .to_bytes();
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok((status, value))
        })
    }
}
