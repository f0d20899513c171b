//! A request's body as the pipeline reads it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// The HTTP/1.1 front end reads a body whole before it calls the handler (the
/// gateway needs it whole anyway: mappings, quota costs and the integration
/// read it); hyper's HTTP/2 server streams it.
#[derive(Debug)]
pub enum RequestBody {
    /// Read whole; `None` once taken.
    Buffered(Option<Bytes>),
    /// Longer than the front end's limit: reading it fails, as a body over a
    /// length limit does, and the connection closes after the response.
    TooLarge,
    Streaming(hyper::body::Incoming),
}

impl RequestBody {
    pub fn empty() -> RequestBody {
        RequestBody::Buffered(None)
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
        match self.get_mut() {
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
            RequestBody::Streaming(body) => Pin::new(body).poll_frame(cx).map_err(io::Error::other),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Buffered(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            RequestBody::TooLarge => false,
            RequestBody::Streaming(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Buffered(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            RequestBody::TooLarge => SizeHint::default(),
            RequestBody::Streaming(body) => body.size_hint(),
        }
    }
}
