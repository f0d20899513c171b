//! What happened to one request, for the observers (access logs, metrics,
//! traces): one [`Outcome`] per request, handed over when the last byte of
//! its response has gone to the client, the client went away, or the body
//! failed midway. Whatever the request held (its in-flight count, its share
//! of the body budget) is let go at the same moment.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};

use crate::response::Body;

/// One request, as the observers see it.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub request_id: String,
    pub extended_request_id: String,
    /// Empty when the request ended before its integration.
    pub trace_id: String,
    pub api_id: String,
    pub api_name: Arc<str>,
    pub stage: String,
    /// The request path after the stage.
    pub path: String,
    /// The matched resource (`/api/{proxy+}`); empty when nothing matched.
    pub resource_path: Arc<str>,
    pub http_method: http::Method,
    pub protocol: &'static str,
    pub status: u16,
    /// The gateway-response type of a failed request (`THROTTLED`, …).
    pub error_type: Option<&'static str>,
    /// `x-amzn-ErrorType` of a failed request.
    pub error_code: Option<&'static str>,
    pub source_ip: String,
    /// As sent (a shared buffer, not a copy).
    pub user_agent: Option<http::HeaderValue>,
    pub api_key_id: Option<String>,
    pub request_time_epoch_ms: u128,
    /// From the request's head to its end (see [`Ending`]).
    pub latency: Duration,
    /// Time spent waiting on the integration, when one was called.
    pub integration_latency: Option<Duration>,
    /// Time spent invoking the Lambda authorizer (None when it did not run
    /// or its answer came from the cache).
    pub authorizer_latency: Option<Duration>,
    /// What the Lambda authorizer's decision came to: 200 allowed, 401,
    /// 403, or 500 when it failed.
    pub authorizer_status: Option<u16>,
    /// With `tracingEnabled`: what the spans are made of.
    pub trace: Option<Box<TraceRecord>>,
    /// The request body's length.
    pub bytes_in: u64,
    /// Response body bytes handed to the client.
    pub bytes_out: u64,
    pub cache: Option<CacheResult>,
    /// Why it failed, for operators; never sent to the client.
    pub cause: Option<String>,
    pub ending: Ending,
}

/// A traced request's span ids and timings (offsets from its start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRecord {
    /// The request's `X-Amzn-Trace-Id` (Root, and the client's Parent if any).
    pub header: String,
    pub stage_span: [u8; 8],
    /// The span the integration was told is its parent.
    pub integration_span: [u8; 8],
    pub integration_start: Option<Duration>,
    pub authorizer_start: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    Hit,
    Miss,
}

/// How the response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ending {
    /// The whole response went out.
    #[default]
    Completed,
    /// The client went away before the end of the response.
    ClientGone,
    /// The response body failed midway (the integration's stream broke).
    BodyFailed,
}

/// Receives every request's outcome. Called on the request's own thread
/// when its response ends: an observer does no more there than hand the
/// record on (a bounded queue to a writer of its own). The record is shared,
/// so handing it on copies a pointer, not its strings.
pub trait Observer: Send + Sync {
    fn observe(&self, outcome: &Arc<Outcome>);
}

/// What a request holds until its response has ended.
#[derive(Debug, Default)]
pub struct Held {
    /// Its place in a usage plan's in-flight count (`tollgate:concurrency`).
    pub admission: Option<crate::admission::Admission>,
    /// Its body's share of the shared body budget (HTTP/2 bodies; the
    /// HTTP/1 front end holds its own).
    pub body_permit: Option<tollgate_http1::BudgetPermit>,
}

/// The pending outcome, its observers and what the request holds: boxed
/// whole in [`ObservedBody`], so that the response it rides in stays small
/// as it is moved on its way to the client.
struct Pending {
    /// Not shared until the observers get it, so it is completed in place.
    outcome: Arc<Outcome>,
    observers: Arc<Vec<Arc<dyn Observer>>>,
    started: Instant,
    /// Dropped when the outcome is handed over.
    held: Held,
    /// Also told, once (TestInvokeMethod reads its log from it).
    tap: Option<tokio::sync::oneshot::Sender<Outcome>>,
}

impl Pending {
    fn finish(mut self: Box<Self>, ending: Ending, bytes_out: u64) {
        drop(std::mem::take(&mut self.held));
        let latency = self.started.elapsed();
        if let Some(outcome) = Arc::get_mut(&mut self.outcome) {
            outcome.ending = ending;
            outcome.bytes_out = bytes_out;
            outcome.latency = latency;
        }
        for observer in self.observers.iter() {
            observer.observe(&self.outcome);
        }
        if let Some(tap) = self.tap.take() {
            let outcome = Arc::try_unwrap(self.outcome).unwrap_or_else(|shared| (*shared).clone());
            let _ = tap.send(outcome);
        }
    }
}

/// A response body that hands its request's outcome to the observers when
/// it ends.
pub struct ObservedBody {
    inner: Body,
    pending: Option<Box<Pending>>,
    bytes_out: u64,
    /// No body is sent for this response (HEAD, 204, 304): being dropped
    /// unread is its normal end.
    bodiless: bool,
}

impl ObservedBody {
    pub fn new(
        inner: Body,
        outcome: Outcome,
        observers: Arc<Vec<Arc<dyn Observer>>>,
        started: Instant,
        held: Held,
        tap: Option<tokio::sync::oneshot::Sender<Outcome>>,
        bodiless: bool,
    ) -> ObservedBody {
        ObservedBody {
            inner,
            pending: Some(Box::new(Pending {
                outcome: Arc::new(outcome),
                observers,
                started,
                held,
                tap,
            })),
            bytes_out: 0,
            bodiless,
        }
    }

    fn end(&mut self, ending: Ending) {
        if let Some(pending) = self.pending.take() {
            pending.finish(ending, self.bytes_out);
        }
    }
}

impl http_body::Body for ObservedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes_out += data.len() as u64;
                }
            }
            Poll::Ready(Some(Err(_))) => this.end(Ending::BodyFailed),
            Poll::Ready(None) => this.end(Ending::Completed),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        let ending = if self.bodiless || self.inner.is_end_stream() {
            Ending::Completed
        } else {
            Ending::ClientGone
        };
        self.end(ending);
    }
}
