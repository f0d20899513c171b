//! The request pipeline of DESIGN.md as one readable sequence ([`phases`]),
//! in the order API Gateway runs them (`spec/aws-apigw.md` §2.5), and its one
//! exit ([`finish`]):
//!
//! 1. resolve the API and stage (the deployed table)
//! 2. route to resource and method ([`crate::router`])
//! 3. authorize: what the method's `authorizationType` demands of the head —
//!    a Lambda authorizer's decision, or a signature's head ([`crate::authorize`])
//! 4. admit: API key and throttles, from the head ([`crate::admission`])
//! 5. read the body, within the payload limit and the shared body budget
//! 6. authorize the body (an `AWS_IAM` signature covers it), then count the
//!    request against its quota
//! 7. validate: required parameters from the head, the body against its
//!    model once read ([`crate::validation`])
//! 8. cache lookup: the stage cache ([`crate::cache`])
//! 9. integration request ([`crate::integration::prepare`])
//! 10. integration ([`crate::integration::send`])
//! 11. integration response and method response ([`crate::integration_response`])
//! 12. finish: a gateway response for any failure, the standard headers, and
//!     the outcome record, handed to the observers when the response ends
//!     ([`crate::outcome`])
//!
//! Nothing reads the request body before step 5: a request refused on its
//! head costs no buffering, and `100 Continue` goes out only for a body that
//! is wanted.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body as _;
use tollgate_http1::RequestBody;

use crate::authorize::{authorize_head, Authorization, Authorizers};
use crate::compile::{CompiledMethod, CompiledStage, IntegrationKind};
use crate::context::RequestContext;
use crate::error::{ErrorKind, GatewayError};
use crate::integration::{self, Invocation, MethodRequest};
use crate::invoke::InvokeTarget;
use crate::outcome::{Held, ObservedBody, Outcome};
use crate::response::{add_standard_headers, gateway_response, Body};
use crate::Gateway;
use tollgate_http1::request::RawHead;

/// API Gateway's payload limit.
pub const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// API Gateway's limit on the request line plus all headers (spec §9).
pub const MAX_REQUEST_HEAD: usize = 10_240;

/// A TestInvokeMethod request: the stage compiled for it (its requests skip
/// authorization and usage plans, as AWS's Test button does), and where its
/// outcome record goes (the call's `log` is made from it).
pub(crate) struct TestInvoke {
    pub stage: Arc<CompiledStage>,
    pub tap: tokio::sync::oneshot::Sender<Outcome>,
}

/// The per-request state the phases share and [`finish`] reads.
struct Exchange {
    cx: RequestContext,
    stage: Option<Arc<CompiledStage>>,
    /// The request's headers (gateway responses may map them).
    headers: http::HeaderMap,
    held: Held,
    /// Arrived on the public listener ([`InvokeTarget::public`]).
    public: bool,
    /// The head as an HTTP/1 client sent it (header names' case).
    raw_head: Option<RawHead>,
}

/// Serves one data-plane request.
///
/// Not an `async fn`: an `async fn` keeps each argument twice in its future
/// (as passed, and moved into its body), and futures this size are copied
/// into place on every request. The context is set up before the future is
/// made, which holds only what the phases and [`finish`] need.
pub(crate) fn run(
    gateway: &Gateway,
    target: InvokeTarget,
    request: Request<RequestBody>,
    raw_head: Option<RawHead>,
    peer: std::net::SocketAddr,
    request_id: String,
    test_invoke: Option<TestInvoke>,
) -> impl std::future::Future<Output = Response<ObservedBody>> + '_ {
    let (test_stage, tap) = match test_invoke {
        Some(t) => (Some(t.stage), Some(t.tap)),
        None => (None, None),
    };
    let protocol = match request.version() {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    // Made in place: the context is the larger part of the exchange.
    let mut exchange = Exchange {
        cx: RequestContext::new(request_id, peer, request.method().clone(), protocol),
        stage: None,
        headers: http::HeaderMap::new(),
        held: Held::default(),
        public: target.public,
        raw_head,
    };
    let cx = &mut exchange.cx;
    cx.account_id = gateway.settings.account_id.clone();
    cx.domain_name = target.domain_name;
    cx.api_id = target.api_id;
    cx.stage = target.stage;
    cx.path = target.path;
    cx.local_port = target.port;
    if !gateway.settings.trusted_proxies.is_empty() {
        cx.set_source(crate::client_ip::resolve(
            peer.ip(),
            request.headers(),
            &gateway.settings.trusted_proxies,
        ));
    }
    let head = read_head(&request, cx);
    let (parts, body) = request.into_parts();
    async move {
        let result = phases(gateway, &mut exchange, head, parts, body, test_stage).await;
        finish(gateway, &mut exchange, result, tap)
    }
}

/// What the phases check of the request's head before anything else.
#[derive(Debug, Clone, Copy)]
struct HeadCheck {
    /// The request line and headers as they were sent over HTTP/1.1.
    size: usize,
    /// The body length the head declares.
    declared_length: Option<usize>,
}

/// One pass over the request's headers: what [`HeadCheck`] holds, and the
/// context's User-Agent and the client's trace id. Each header looked up by
/// name instead would cost a hash of its name.
fn read_head(request: &Request<RequestBody>, cx: &mut RequestContext) -> HeadCheck {
    let mut size = request.method().as_str().len()
        + request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().len())
            .unwrap_or(1)
        + "  HTTP/1.1\r\n".len();
    let mut declared_length = None;
    // Of a repeated header, the first value counts (as `HeaderMap::get`).
    let (mut length_seen, mut trace_seen) = (false, false);
    for (name, value) in request.headers() {
        size += name.as_str().len() + 2 + value.len() + 2;
        if *name == http::header::CONTENT_LENGTH {
            if !length_seen {
                length_seen = true;
                declared_length = value.to_str().ok().and_then(|v| v.parse::<usize>().ok());
            }
        } else if *name == http::header::USER_AGENT {
            if cx.user_agent.is_none() {
                cx.user_agent = Some(value.clone());
            }
        } else if *name == crate::response::TRACE_ID && !trace_seen {
            trace_seen = true;
            if let Some(trace) = value.to_str().ok().filter(|t| t.starts_with("Root=")) {
                cx.trace_id = trace.to_string();
            }
        }
    }
    HeadCheck {
        size,
        declared_length,
    }
}

/// Steps 1–11: the response, or the error that ends the request.
async fn phases(
    gateway: &Gateway,
    ex: &mut Exchange,
    head: HeadCheck,
    parts: http::request::Parts,
    body: RequestBody,
    // A TestInvokeMethod request's stage; `None`: the deployed stage the
    // invoke URL names.
    test_stage: Option<Arc<CompiledStage>>,
) -> Result<Response<Body>, GatewayError> {
    if head.size > MAX_REQUEST_HEAD {
        return Err(ErrorKind::RequestHeadTooLarge.into());
    }
    // A body declared past the payload limit is refused at the door, as
    // AWS's front end does, before anything else looks at the request.
    if head.declared_length.is_some_and(|len| len > MAX_PAYLOAD) {
        return Err(ErrorKind::RequestTooLarge.into());
    }
    let test_invoke = test_stage.is_some();

    // 1. resolve: one atomic load; the request keeps this stage to the end,
    // so a redeploy mid-request never mixes versions.
    let stage = match test_stage {
        Some(stage) => stage,
        None => gateway
            .stage(&ex.cx.api_id, &ex.cx.stage)
            .ok_or(ErrorKind::UnknownStage)?,
    };
    ex.cx.deployment_id = stage.deployment_id.clone();
    ex.stage = Some(stage.clone());
    // A PRIVATE API is not there for the public listener: the answer an
    // unknown stage gets, so its existence is not told either.
    if stage.private && ex.public {
        return Err(ErrorKind::UnknownStage.because("a PRIVATE API on the public listener"));
    }

    // 2. route
    let (method, path_params) = route(&stage, &parts.method, &ex.cx.path)?;
    ex.cx.resource_id = method.resource_id.clone();
    ex.cx.resource_path = method.resource_path.clone();

    // 2b. the API's resource policy, for APIs that have one
    if let (Some(policy), false) = (&stage.resource_policy, test_invoke) {
        crate::resource_policy::check(
            policy,
            &gateway.settings.iam.region,
            &parts.headers,
            &ex.cx,
        )?;
    }

    // 3. authorize (from the head)
    // `NONE` asks nothing of the head: no authorize step to wait on.
    let signature = if test_invoke || method.authorization == Authorization::None {
        crate::authorize::SignatureCheck::None
    } else {
        let with = Authorizers {
            iam: &gateway.settings.iam,
            functions: gateway.functions.as_deref(),
            cache: &gateway.authorizer_cache,
        };
        authorize_head(
            &method.authorization,
            &parts,
            ex.raw_head.as_ref(),
            &path_params,
            &stage,
            &with,
            &mut ex.cx,
        )
        .await?
    };

    // 4. admit: key and throttles (from the head)
    let admitted = if test_invoke {
        None
    } else {
        Some(
            gateway
                .usage_plans
                .admit(&stage, &method, &parts.headers, &mut ex.cx)?,
        )
    };

    // 7a. validate the parameters (from the head, before the body is read)
    let query = parts
        .uri
        .query()
        .map(integration::parse_query)
        .unwrap_or_default();
    if let Some(validation) = &method.validation {
        validation.check_parameters(&parts.headers, &query, &path_params)?;
    }

    // 5. body
    let body = match body.into_buffered() {
        // Came whole with the head: nothing to wait for.
        Ok(bytes) if bytes.len() <= MAX_PAYLOAD => bytes,
        Ok(_) => return Err(ErrorKind::RequestTooLarge.into()),
        Err(body) => read_body(gateway, body, &mut ex.held).await?,
    };
    ex.cx.bytes_in = body.len() as u64;

    // 6. the signature over the body, then the quota
    signature.verify_body(&parts, &body, &mut ex.cx)?;
    if let Some(admitted) = admitted {
        ex.held.admission = Some(
            gateway
                .usage_plans
                .count(admitted, &method, &body, &ex.cx)
                .await?,
        );
    }

    // 7b. validate the body against its model: refused before the
    // integration, so not counted (as a 415 from request mapping).
    if let Some(validation) = &method.validation {
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if let Err(e) = validation.check_body(content_type, &body) {
            if let Some(admission) = ex.held.admission.take() {
                admission.refund();
            }
            return Err(e);
        }
    }
    // 8. cache lookup
    let mut keep = None;
    let mut ignored_cache_control = false;
    if let Some(caching) = method
        .caching
        .as_ref()
        .filter(|c| c.applies_to(&parts.method))
    {
        let key = caching.key(&parts.method, &query, &parts.headers, &path_params);
        let mut fresh = crate::cache::asks_for_fresh(&parts.headers);
        if fresh && caching.require_authorization && ex.cx.caller.is_none() {
            match caching.strategy {
                crate::cache::Strategy::FailWith403 => return Err(ErrorKind::AccessDenied {
                    explicit: false,
                }
                .because(
                    "Cache-Control: max-age=0 from a caller not allowed to invalidate the cache",
                )),
                crate::cache::Strategy::SucceedWithResponseHeader => {
                    fresh = false;
                    ignored_cache_control = true;
                }
                crate::cache::Strategy::SucceedWithoutResponseHeader => fresh = false,
            }
        }
        let hit = if fresh { None } else { caching.cache.get(&key) };
        match hit {
            Some(cached) => {
                ex.cx.cache = Some(crate::outcome::CacheResult::Hit);
                let mut response = crate::cache::respond(&cached);
                if ignored_cache_control {
                    response.headers_mut().insert(
                        crate::cache::IGNORED_HEADER,
                        http::HeaderValue::from_static(
                            "Cache-Control ignored: not authorized to invalidate",
                        ),
                    );
                }
                return Ok(response);
            }
            None => {
                ex.cx.cache = Some(crate::outcome::CacheResult::Miss);
                keep = Some((caching.cache.clone(), key, caching.ttl()));
            }
        }
    }

    // 8b. an idempotent submission: run once, replayed after.
    let mut idempotent = None;
    if let Some(store) = gateway.idempotency.as_deref() {
        let enabled = stage
            .variables
            .get(crate::idempotency::STAGE_VARIABLE)
            .is_some_and(|v| v == "true")
            && matches!(parts.method, http::Method::POST | http::Method::PATCH);
        if let Some(key) = enabled
            .then(|| crate::idempotency::key_of(&parts.headers))
            .transpose()?
            .flatten()
        {
            let scope = crate::idempotency::scope(
                &stage.api_id,
                &stage.stage_name,
                ex.cx.api_key_id.as_deref(),
                parts.method.as_str(),
                &method.resource_path,
                &key,
            );
            let fingerprint = crate::idempotency::fingerprint(&body);
            let now = ex.cx.request_time_epoch_ms as i64;
            match store.begin(&scope, &fingerprint, now).await {
                Ok(crate::idempotency::Begin::Proceed) => idempotent = Some((store, scope)),
                Ok(crate::idempotency::Begin::Replay(stored)) => {
                    return Ok(crate::idempotency::replay(&stored))
                }
                Ok(crate::idempotency::Begin::InFlight) => {
                    return Err(ErrorKind::IdempotencyInFlight.into())
                }
                Ok(crate::idempotency::Begin::Mismatch) => {
                    return Err(ErrorKind::IdempotencyMismatch.into())
                }
                // Fails closed: without its record, a repeat could run twice.
                Err(e) => {
                    return Err(ErrorKind::Overloaded
                        .because(format_args!("the idempotency store failed: {e}")))
                }
            }
        }
    }

    let method_request = MethodRequest {
        query,
        raw_query: parts.uri.query().map(str::to_string),
        method: parts.method,
        headers: parts.headers,
        path_params,
        body,
        raw_head: ex.raw_head.take(),
    };
    if stage.tracing_enabled {
        ex.cx.begin_spans();
    } else {
        ex.cx.ensure_trace_id();
    }
    // Pinned where it is made: awaited by value, the integration's future
    // (kilobytes) would be copied into place first.
    let mut outcome = std::pin::pin!(integrate(
        gateway,
        &stage,
        &method,
        &method_request,
        &mut ex.cx
    ))
    .await;
    ex.headers = method_request.headers;
    if let Some((store, scope)) = idempotent {
        let now = ex.cx.request_time_epoch_ms as i64;
        outcome = match outcome {
            Ok(response) => crate::idempotency::keep(store, &scope, response, now).await,
            Err(e) => {
                let _ = store.abandon(&scope).await;
                Err(e)
            }
        };
    }
    if let Some((cache, key, ttl)) = keep {
        outcome = outcome.map(|response| {
            let mut response = crate::cache::keep(response, cache, key, ttl);
            if ignored_cache_control {
                response.headers_mut().insert(
                    crate::cache::IGNORED_HEADER,
                    http::HeaderValue::from_static(
                        "Cache-Control ignored: not authorized to invalidate",
                    ),
                );
            }
            response
        });
    }
    if outcome
        .as_ref()
        .is_err_and(|e| e.kind == ErrorKind::UnsupportedMediaType)
    {
        // Refused by request mapping, before the integration: not counted.
        if let Some(admission) = ex.held.admission.take() {
            admission.refund();
        }
    }
    outcome
}

/// Steps 9–11: integration request, integration, integration response.
async fn integrate(
    gateway: &Gateway,
    stage: &CompiledStage,
    method: &CompiledMethod,
    request: &MethodRequest,
    cx: &mut RequestContext,
) -> Result<Response<Body>, GatewayError> {
    let integration = method.integration.as_ref().map_err(|reason| {
        tracing::warn!(api = %stage.api_id, resource = %method.resource_path, %reason, "method cannot be served");
        ErrorKind::ApiConfiguration.because(reason)
    })?;
    let context = if integration.needs_context {
        cx.to_json()
    } else {
        serde_json::Value::Null
    };
    let prepared = {
        let inv = Invocation {
            stage,
            method,
            integration,
            request,
            cx,
            context: &context,
        };
        // 9. integration request
        integration::prepare(&inv)?
    };
    // 10. integration
    let backends = integration::Backends {
        client: &gateway.client,
        functions: gateway.functions.as_deref(),
    };
    if cx.spans.is_some() {
        // Only a traced request's record keeps it (one more clock read).
        cx.integration_start = Some(cx.started.elapsed());
    }
    // Pinned where it is made (awaited by value, it is copied into place).
    let raw = std::pin::pin!(integration::send(prepared, &backends, integration, cx)).await?;
    // 11. integration response and method response: HTTP_PROXY's is the
    // upstream's answer as it is (no step to wait on).
    if integration.kind == IntegrationKind::HttpProxy {
        return Ok(integration::http_proxy::method_response(raw));
    }
    let inv = Invocation {
        stage,
        method,
        integration,
        request,
        cx,
        context: &context,
    };
    crate::integration_response::respond(&inv, raw).await
}

/// Step 2: the method for the request's method and path. Only API
/// Gateway's methods reach a method definition: ANY covers these seven, and
/// any other token (TRACE, CONNECT, `get`) is answered as a method that is
/// not defined, never forwarded.
fn route(
    stage: &CompiledStage,
    http_method: &http::Method,
    path: &str,
) -> Result<(Arc<CompiledMethod>, Vec<crate::router::PathParam>), GatewayError> {
    if !is_api_gateway_method(http_method) {
        return Err(ErrorKind::MissingAuthenticationToken.because(format_args!(
            "method {http_method} is not one API Gateway serves"
        )));
    }
    let matched = stage
        .router
        .find(path)
        .ok_or(ErrorKind::MissingAuthenticationToken)?;
    let method = matched
        .method(http_method.as_str())
        .ok_or(ErrorKind::MissingAuthenticationToken)?
        .clone();
    Ok((method, matched.params))
}

/// DELETE, GET, HEAD, OPTIONS, PATCH, POST and PUT: the methods API Gateway serves.
fn is_api_gateway_method(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::DELETE
            | http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::PATCH
            | http::Method::POST
            | http::Method::PUT
    )
}

/// Step 5: a body still to be read (a deferred HTTP/1 body, an HTTP/2
/// stream), whole, within the payload limit (413 beyond it) and the shared
/// body budget (503 beyond it). A declared length past the limit was refused
/// at the door ([`phases`]).
async fn read_body(
    gateway: &Gateway,
    body: RequestBody,
    held: &mut Held,
) -> Result<Bytes, GatewayError> {
    let streamed = matches!(body, RequestBody::Streaming(_));
    let mut permit = streamed.then(|| gateway.settings.body_budget.permit());
    let mut body = std::pin::pin!(body);
    let mut collected = bytes::BytesMut::new();
    loop {
        let frame = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx));
        let frame = match tokio::time::timeout(gateway.settings.body_timeout, frame).await {
            Ok(frame) => frame,
            Err(_) => {
                return Err(ErrorKind::BadRequestBody.because("the client stopped sending its body"))
            }
        };
        let Some(frame) = frame else { break };
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Err(e) => return Err(body_error(&e)),
        };
        if collected.len() + data.len() > MAX_PAYLOAD {
            return Err(ErrorKind::RequestTooLarge.into());
        }
        // HTTP/2 bodies are collected here; the HTTP/1 front end takes its
        // bodies from the budget itself.
        if let Some(permit) = permit.as_mut() {
            if !permit.grow(data.len()) {
                return Err(ErrorKind::Overloaded.because("the request body budget is spent"));
            }
        }
        collected.extend_from_slice(&data);
    }
    held.body_permit = permit;
    Ok(collected.freeze())
}

/// What a failed body read means for the client (`RequestBody`'s kinds).
fn body_error(e: &std::io::Error) -> GatewayError {
    match e.kind() {
        std::io::ErrorKind::FileTooLarge => ErrorKind::RequestTooLarge.into(),
        std::io::ErrorKind::OutOfMemory => {
            ErrorKind::Overloaded.because("the request body budget is spent")
        }
        _ => ErrorKind::BadRequestBody.because(format_args!("reading the request body: {e}")),
    }
}

/// Step 12, every request's one way out: the response (a gateway response
/// for a failure), its standard headers, and the outcome record, which the
/// observers get when the response has ended.
///
/// Takes the exchange by reference, and from it what the outcome keeps: the
/// exchange is large, and each move of it is a copy.
fn finish(
    gateway: &Gateway,
    ex: &mut Exchange,
    result: Result<Response<Body>, GatewayError>,
    tap: Option<tokio::sync::oneshot::Sender<Outcome>>,
) -> Response<ObservedBody> {
    let Exchange {
        cx,
        stage,
        headers,
        held,
        ..
    } = ex;
    let (response, error) = match result {
        Ok(mut response) => {
            add_standard_headers(response.headers_mut(), cx);
            (response, None)
        }
        Err(e) => (
            gateway_response(stage.as_deref(), &e.kind, cx, headers),
            Some(e),
        ),
    };
    let status = response.status();
    let bodiless = cx.http_method == http::Method::HEAD
        || status == http::StatusCode::NO_CONTENT
        || status == http::StatusCode::NOT_MODIFIED
        || status.is_informational();
    let started = cx.started;
    let outcome = outcome_of(cx, stage.as_deref(), status.as_u16(), error);
    let observers = gateway.observers.load_full();
    let (parts, body) = response.into_parts();
    let held = std::mem::take(held);
    let body = ObservedBody::new(body, outcome, observers, started, held, tap, bodiless);
    Response::from_parts(parts, body)
}

/// The outcome record, from what the phases left in the context.
fn outcome_of(
    cx: &mut RequestContext,
    stage: Option<&CompiledStage>,
    status: u16,
    error: Option<GatewayError>,
) -> Outcome {
    let take = std::mem::take::<String>;
    let (error_type, error_code, cause) = match error {
        Some(e) => (
            Some(e.kind.response_type()),
            Some(e.kind.error_type()),
            e.cause.map(String::from),
        ),
        None => (None, None, None),
    };
    let trace = cx.spans.take().map(|spans| {
        Box::new(crate::outcome::TraceRecord {
            header: cx.trace_id.clone(),
            stage_span: spans.stage,
            integration_span: spans.integration,
            integration_start: cx.integration_start,
            authorizer_start: cx.authorizer_start,
        })
    });
    Outcome {
        source_ip: cx.take_source_ip(),
        request_id: take(&mut cx.request_id),
        extended_request_id: take(&mut cx.extended_request_id),
        trace_id: take(&mut cx.trace_id),
        api_id: take(&mut cx.api_id),
        api_name: stage.map(|s| s.api_name.clone()).unwrap_or_default(),
        stage: take(&mut cx.stage),
        path: take(&mut cx.path),
        resource_path: std::mem::take(&mut cx.resource_path),
        http_method: std::mem::take(&mut cx.http_method),
        protocol: cx.protocol,
        status,
        error_type,
        error_code,
        user_agent: cx.user_agent.take(),
        api_key_id: cx.api_key_id.take(),
        request_time_epoch_ms: cx.request_time_epoch_ms,
        latency: std::time::Duration::ZERO,
        integration_latency: cx.integration_latency,
        authorizer_latency: cx.authorizer_latency,
        authorizer_status: cx.authorizer_status,
        trace,
        bytes_in: cx.bytes_in,
        bytes_out: 0,
        cache: cx.cache,
        cause,
        ending: Default::default(),
    }
}
