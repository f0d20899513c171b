//! `tollgate cors enable`: the API Gateway calls the console's "Enable
//! CORS" makes for one resource, sent to Tollgate (or to AWS: they are plain
//! API Gateway configuration), or printed with `--dry-run`:
//!
//! 1. an `OPTIONS` method (no authorization, no API key) with a MOCK
//!    integration answering preflights with `Access-Control-Allow-*`;
//! 2. `Access-Control-Allow-Origin` on the 200 responses of the resource's
//!    methods whose integrations are not proxies (a proxy's backend adds its
//!    own, as the guide's Lambda does);
//! 3. the same headers on the DEFAULT_4XX and DEFAULT_5XX gateway
//!    responses, so that a refusal (403, 429) is readable by the page.
//!
//! The API must then be deployed, as in the console.

use anyhow::bail;
use serde_json::{json, Value};
use tollgate_aws::sigv4::Credentials;

use crate::control_client::{CallBody, ControlClient};

pub struct CorsArgs {
    pub endpoint: String,
    pub region: String,
    pub credentials: Credentials,
    pub rest_api_id: String,
    pub resource_id: String,
    pub allow_origin: String,
    /// None: the resource's methods and OPTIONS.
    pub allow_methods: Option<String>,
    pub allow_headers: String,
    pub dry_run: bool,
}

/// One control-plane call.
struct Call {
    method: http::Method,
    path: String,
    body: Option<Value>,
    why: String,
}

/// The headers' values as API Gateway's mapping literals (`'…'`).
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', ""))
}

/// Plans the calls, then makes them (or prints them), in order.
pub fn enable(args: CorsArgs, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let client = ControlClient::new(&args.endpoint, &args.region, args.credentials.clone())?;
    let send = |call: &Call| {
        let body = call.body.clone().map_or(CallBody::None, CallBody::Json);
        client.send(&call.method, &call.path, &body)
    };
    let base = format!(
        "/restapis/{}/resources/{}",
        args.rest_api_id, args.resource_id
    );
    let (status, resource) = send(&Call {
        method: http::Method::GET,
        path: format!("{base}?embed=methods"),
        body: None,
        why: "read the resource and its methods".into(),
    })?;
    if status != 200 {
        bail!(
            "cannot read resource {} of API {}: {status} {resource}",
            args.resource_id,
            args.rest_api_id
        );
    }
    let methods: Vec<String> = resource["resourceMethods"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let allow_methods = args.allow_methods.clone().unwrap_or_else(|| {
        let mut all: Vec<String> = methods
            .iter()
            .flat_map(|m| {
                if m == "ANY" {
                    vec!["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"]
                        .into_iter()
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                } else {
                    vec![m.clone()]
                }
            })
            .filter(|m| m != "OPTIONS")
            .collect();
        all.push("OPTIONS".into());
        all.sort();
        all.dedup();
        all.join(",")
    });
    let cors_headers = |prefix: &str| -> Value {
        json!({
            format!("{prefix}.header.Access-Control-Allow-Headers"): literal(&args.allow_headers),
            format!("{prefix}.header.Access-Control-Allow-Methods"): literal(&allow_methods),
            format!("{prefix}.header.Access-Control-Allow-Origin"): literal(&args.allow_origin),
        })
    };
    let declared = json!({
        "method.response.header.Access-Control-Allow-Headers": false,
        "method.response.header.Access-Control-Allow-Methods": false,
        "method.response.header.Access-Control-Allow-Origin": false,
    });
    let mut calls = Vec::new();
    if !methods.iter().any(|m| m == "OPTIONS") {
        calls.push(Call {
            method: http::Method::PUT,
            path: format!("{base}/methods/OPTIONS"),
            body: Some(json!({"authorizationType": "NONE", "apiKeyRequired": false})),
            why: "the preflight method (no authorization, no API key)".into(),
        });
    }
    calls.push(Call {
        method: http::Method::PUT,
        path: format!("{base}/methods/OPTIONS/responses/200"),
        body: Some(json!({"responseParameters": declared, "responseModels": {"application/json": "Empty"}})),
        why: "its 200 response declares the CORS headers".into(),
    });
    calls.push(Call {
        method: http::Method::PUT,
        path: format!("{base}/methods/OPTIONS/integration"),
        body: Some(json!({"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}})),
        why: "a MOCK integration answers it".into(),
    });
    calls.push(Call {
        method: http::Method::PUT,
        path: format!("{base}/methods/OPTIONS/integration/responses/200"),
        body: Some(json!({"responseParameters": cors_headers("method.response"), "responseTemplates": {"application/json": ""}})),
        why: "with the allowed origin, methods and headers".into(),
    });
    for method in methods.iter().filter(|m| *m != "OPTIONS") {
        let integration = resource["resourceMethods"][method]["methodIntegration"]["type"]
            .as_str()
            .unwrap_or_default();
        if matches!(integration, "AWS_PROXY" | "HTTP_PROXY" | "") {
            writeln!(
                out,
                "note: {method} has a {} integration: its backend must send Access-Control-Allow-Origin itself (the guide's Lambda does)",
                if integration.is_empty() { "missing" } else { integration }
            )?;
            continue;
        }
        calls.push(Call {
            method: http::Method::PATCH,
            path: format!("{base}/methods/{method}/responses/200"),
            body: Some(json!({"patchOperations": [{"op": "add", "path": "/responseParameters/method.response.header.Access-Control-Allow-Origin", "value": "false"}]})),
            why: format!("{method}'s 200 response declares Access-Control-Allow-Origin"),
        });
        calls.push(Call {
            method: http::Method::PATCH,
            path: format!("{base}/methods/{method}/integration/responses/200"),
            body: Some(json!({"patchOperations": [{"op": "add", "path": "/responseParameters/method.response.header.Access-Control-Allow-Origin", "value": literal(&args.allow_origin)}]})),
            why: format!("{method}'s integration response sets it"),
        });
    }
    for kind in ["DEFAULT_4XX", "DEFAULT_5XX"] {
        calls.push(Call {
            method: http::Method::PUT,
            path: format!("/restapis/{}/gatewayresponses/{kind}", args.rest_api_id),
            body: Some(json!({"responseParameters": cors_headers("gatewayresponse")})),
            why: format!(
                "{kind} responses (403, 429, 5xx) carry the headers, so the page can read them"
            ),
        });
    }
    for call in &calls {
        let body = call
            .body
            .as_ref()
            .map(|b| format!(" {b}"))
            .unwrap_or_default();
        writeln!(out, "# {}\n{} {}{body}", call.why, call.method, call.path)?;
        if args.dry_run {
            continue;
        }
        let (status, answer) = send(call)?;
        if !(200..300).contains(&status) {
            bail!("{} {} failed: {status} {answer}", call.method, call.path);
        }
    }
    writeln!(
        out,
        "{}: deploy the API for it to take effect (aws apigateway create-deployment --rest-api-id {} --stage-name STAGE)",
        if args.dry_run { "dry run, nothing sent" } else { "done" },
        args.rest_api_id
    )?;
    Ok(())
}
