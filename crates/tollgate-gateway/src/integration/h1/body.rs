//! The upstream response body as the client's response streams it. When the
//! body has been read to its end, the connection goes back to its thread's
//! pool; a body dropped early takes its connection down with it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use thread_local::ThreadLocal;

use super::conn::Connection;
use super::pool::ThreadPool;
use crate::integration::uri::Origin;
use tollgate_http1::chunked::{ChunkedDecoder, Decoded};

pub struct UpstreamBody {
    inner: Inner,
}

enum Inner {
    /// Whole (or empty): nothing more to read.
    Buffered(Option<Bytes>),
    Streaming(Box<Streaming>),
    /// An h2c stream, read through hyper.
    Http2(hyper::body::Incoming),
}

struct Streaming {
    /// Taken when the body ends.
    conn: Option<Connection>,
    framing: Framing,
    /// Where the connection goes when the body ends, if it may be reused.
    reuse: Option<Reuse>,
}

enum Framing {
    /// Bytes still to come.
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// A finished connection's way back to its pool.
pub struct Reuse {
    pub pools: Arc<ThreadLocal<ThreadPool>>,
    pub origin: Arc<Origin>,
}

impl UpstreamBody {
    pub fn buffered(bytes: Bytes) -> UpstreamBody {
        UpstreamBody {
            inner: Inner::Buffered((!bytes.is_empty()).then_some(bytes)),
        }
    }

    pub fn http2(body: hyper::body::Incoming) -> UpstreamBody {
        UpstreamBody {
            inner: Inner::Http2(body),
        }
    }

    pub fn length(conn: Connection, left: u64, reuse: Option<Reuse>) -> UpstreamBody {
        Self::streaming(conn, Framing::Length(left), reuse)
    }

    pub fn chunked(conn: Connection, reuse: Option<Reuse>) -> UpstreamBody {
        Self::streaming(conn, Framing::Chunked(ChunkedDecoder::default()), reuse)
    }

    pub fn until_close(conn: Connection) -> UpstreamBody {
        Self::streaming(conn, Framing::UntilClose, None)
    }

    fn streaming(conn: Connection, framing: Framing, reuse: Option<Reuse>) -> UpstreamBody {
        UpstreamBody {
            inner: Inner::Streaming(Box::new(Streaming {
                conn: Some(conn),
                framing,
                reuse,
            })),
        }
    }
}

impl Streaming {
    /// The body is complete: the connection may serve another request.
    fn finish(&mut self) {
        if let (Some(conn), Some(reuse)) = (self.conn.take(), self.reuse.take()) {
            reuse
                .pools
                .get_or(ThreadPool::default)
                .checkin(&reuse.origin, conn);
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match &mut self.framing {
                Framing::Length(0) => {
                    self.finish();
                    return Poll::Ready(None);
                }
                Framing::Length(left) => {
                    if !conn.buf.is_empty() {
                        let take = usize::try_from(*left)
                            .unwrap_or(usize::MAX)
                            .min(conn.buf.len());
                        let data = conn.buf.split_to(take).freeze();
                        *left -= take as u64;
                        if *left == 0 {
                            self.finish();
                        }
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Framing::Chunked(decoder) => match decoder.decode(&mut conn.buf)? {
                    Decoded::Data(data) => return Poll::Ready(Some(Ok(data))),
                    Decoded::Done => {
                        self.finish();
                        return Poll::Ready(None);
                    }
                    Decoded::NeedMore => {}
                },
                Framing::UntilClose => {
                    if !conn.buf.is_empty() {
                        return Poll::Ready(Some(Ok(conn.buf.split().freeze())));
                    }
                }
            }
            if ready!(conn.poll_read_more(cx))? == 0 {
                self.conn = None;
                return match self.framing {
                    Framing::UntilClose => Poll::Ready(None),
                    _ => Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into()))),
                };
            }
        }
    }
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.get_mut().inner {
            Inner::Buffered(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Streaming(s) => s.poll_next(cx).map(|next| next.map(|r| r.map(Frame::data))),
            Inner::Http2(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|next| next.map(|r| r.map_err(io::Error::other))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Buffered(bytes) => bytes.is_none(),
            Inner::Streaming(s) => s.conn.is_none(),
            Inner::Http2(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Buffered(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Inner::Streaming(s) => match s.framing {
                Framing::Length(left) => SizeHint::with_exact(left),
                _ => SizeHint::default(),
            },
            Inner::Http2(body) => body.size_hint(),
        }
    }
}
