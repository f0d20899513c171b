//! A request's body as the handler reads it.
//!
//! The HTTP/1.1 front end calls the handler as soon as it has a head. A body
//! that came whole with the head is handed over as it is; any other is
//! *deferred*: read from the connection only when the handler first polls it,
//! so a request refused on its head (no route, no key) never makes the server
//! buffer its body, and `100 Continue` goes out only for a body that is wanted.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::oneshot;

/// Why reading a body failed, as its `io::Error` kind says:
/// - `FileTooLarge`: longer than the server's limit;
/// - `OutOfMemory`: the shared body budget is spent;
/// - `InvalidData`: malformed chunked coding;
/// - anything else: the client went away or stopped sending.
#[derive(Debug)]
pub enum RequestBody {
    /// Read whole; `None` once taken.
    Buffered(Option<Bytes>),
    /// Longer than the front end's limit: reading it fails, as a body over a
    /// length limit does, and the connection closes after the response.
    TooLarge,
    /// Read from the connection when first polled.
    Deferred(Deferred),
    /// An HTTP/2 stream's body, as hyper reads it.
    Streaming(hyper::body::Incoming),
}

/// The handler's side of a deferred body: a request to read it, and the
/// answer the connection sends back.
#[derive(Debug)]
pub struct Deferred {
    ask: Option<oneshot::Sender<()>>,
    delivery: oneshot::Receiver<io::Result<Bytes>>,
    length: Option<u64>,
}

/// The connection's side of a deferred body.
#[derive(Debug)]
pub struct BodyFeeder {
    pub asked: oneshot::Receiver<()>,
    pub deliver: oneshot::Sender<io::Result<Bytes>>,
}

impl RequestBody {
    pub fn empty() -> RequestBody {
        RequestBody::Buffered(None)
    }

    /// A body the connection reads on request, and the connection's end of it.
    pub fn deferred(length: Option<u64>) -> (RequestBody, BodyFeeder) {
        let (ask, asked) = oneshot::channel();
        let (deliver, delivery) = oneshot::channel();
        (
            RequestBody::Deferred(Deferred {
                ask: Some(ask),
                delivery,
                length,
            }),
            BodyFeeder { asked, deliver },
        )
    }

    /// The whole body when it is already buffered; otherwise the body back.
    pub fn into_buffered(self) -> Result<Bytes, RequestBody> {
        match self {
            RequestBody::Buffered(bytes) => Ok(bytes.unwrap_or_default()),
            other => Err(other),
        }
    }
}

impl From<hyper::body::Incoming> for RequestBody {
    fn from(body: hyper::body::Incoming) -> RequestBody {
        RequestBody::Streaming(body)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        match this {
            RequestBody::Buffered(bytes) => Poll::Ready(
                bytes
                    .take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            RequestBody::TooLarge => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "request body too large",
            )))),
            RequestBody::Deferred(deferred) => {
                if let Some(ask) = deferred.ask.take() {
                    let _ = ask.send(());
                }
                let delivered = ready!(Pin::new(&mut deferred.delivery).poll(cx));
                let bytes = match delivered {
                    Ok(Ok(bytes)) => bytes,
                    Ok(Err(e)) => {
                        *this = RequestBody::Buffered(None);
                        return Poll::Ready(Some(Err(e)));
                    }
                    Err(_) => {
                        *this = RequestBody::Buffered(None);
                        return Poll::Ready(Some(Err(io::ErrorKind::ConnectionAborted.into())));
                    }
                };
                *this = RequestBody::Buffered(None);
                Poll::Ready((!bytes.is_empty()).then(|| Ok(Frame::data(bytes))))
            }
            RequestBody::Streaming(body) => Pin::new(body).poll_frame(cx).map_err(io::Error::other),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Buffered(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            RequestBody::TooLarge => false,
            RequestBody::Deferred(d) => d.length == Some(0),
            RequestBody::Streaming(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Buffered(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            RequestBody::TooLarge => SizeHint::default(),
            RequestBody::Deferred(d) => d.length.map(SizeHint::with_exact).unwrap_or_default(),
            RequestBody::Streaming(body) => body.size_hint(),
        }
    }
}
