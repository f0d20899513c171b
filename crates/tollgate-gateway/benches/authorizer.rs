//! The cost of the authorize phase with a Lambda authorizer, against the
//! same phase for a method without one (`NONE`), in the same run:
//!
//! - `cached, next token`: 10 000 callers' tokens, each answered once
//!   before measuring; every iteration presents the next token in a fixed
//!   shuffled order, so every request is a cache hit on a different entry
//!   (policy evaluation included). The function never runs while measuring
//!   (checked).
//! - `uncached (in-process function)`: TTL 0, the function an in-process
//!   stand-in that answers at once: Tollgate's own work around an
//!   invocation (the event, the answer's parsing, the policy). A real
//!   function's time comes on top: `bench/lambda.sh` measures it through a
//!   warm Python authorizer.
//!
//! `cargo bench -p tollgate-gateway --bench authorizer`

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use tollgate_gateway::bench_support::authorize;
use tollgate_gateway::fixtures::{
    allow_all_answer, keyed_state, shuffled, with_token_authorizer, API, STAGE,
};
use tollgate_gateway::{FunctionInvoker, FunctionResult, Gateway, GatewaySettings, InvokeFailure};

const TOKENS: usize = 10_000;

/// Answers every invocation at once with a policy allowing the whole API.
struct AllowAll {
    answer: Bytes,
    invocations: AtomicU64,
}

impl FunctionInvoker for AllowAll {
    fn invoke<'a>(
        &'a self,
        _function: &'a str,
        _payload: Bytes,
        _deadline: Instant,
        _trace_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<FunctionResult, InvokeFailure>> + Send + 'a>> {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        let answer = self.answer.clone();
        Box::pin(async move { Ok(FunctionResult::Success(answer)) })
    }
}

fn gateway(ttl_seconds: Option<i64>) -> (Gateway, Arc<AllowAll>) {
    let mut state = keyed_state(10, 1, None, None);
    if let Some(ttl) = ttl_seconds {
        with_token_authorizer(&mut state, "bench-authorizer", ttl);
    }
    let function = Arc::new(AllowAll {
        answer: Bytes::from(allow_all_answer("bench-user")),
        invocations: AtomicU64::new(0),
    });
    let gateway = Gateway::new(GatewaySettings::default()).with_function_invoker(function.clone());
    gateway.update(&state, &[]);
    (gateway, function)
}

/// Runs one authorization to its end: nothing here waits (the cache, or a
/// function that answers at once), so one poll finishes it.
fn authorize_now(gateway: &Gateway, headers: &http::HeaderMap) {
    let mut future = std::pin::pin!(authorize(
        gateway,
        API,
        STAGE,
        "GET",
        "/api/v1/jobs/x",
        headers
    ));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(())) => {}
        other => panic!("the authorization did not allow at once: {other:?}"),
    }
}

fn token_headers(i: usize) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    let value = format!(
        "Bearer token-{i:08}-{:016x}",
        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
    headers.insert(http::header::AUTHORIZATION, value.parse().expect("ASCII"));
    headers
}

fn authorize_phase(c: &mut Criterion) {
    let mut group = c.benchmark_group("authorize");
    let headers: Vec<_> = shuffled(TOKENS).into_iter().map(token_headers).collect();

    let (none, _) = gateway(None);
    let mut next = 0;
    group.bench_function("NONE (baseline), next token", |b| {
        b.iter(|| {
            authorize_now(&none, &headers[next]);
            next = (next + 1) % headers.len();
        })
    });

    let (cached, function) = gateway(Some(300));
    for h in &headers {
        authorize_now(&cached, h);
    }
    let warmed = function.invocations.load(Ordering::Relaxed);
    assert_eq!(
        warmed, TOKENS as u64,
        "one invocation per token to fill the cache"
    );
    let mut next = 0;
    group.bench_function("cached, next token", |b| {
        b.iter(|| {
            authorize_now(&cached, &headers[next]);
            next = (next + 1) % headers.len();
        })
    });
    assert_eq!(
        function.invocations.load(Ordering::Relaxed),
        warmed,
        "every measured request was answered from the cache"
    );

    let (uncached, function) = gateway(Some(0));
    let mut next = 0;
    group.bench_function("uncached (in-process function)", |b| {
        b.iter(|| {
            authorize_now(&uncached, &headers[next]);
            next = (next + 1) % headers.len();
        })
    });
    assert!(function.invocations.load(Ordering::Relaxed) > 0);
    group.finish();
}

criterion_group!(benches, authorize_phase);
criterion_main!(benches);
