//! One upstream connection: its TCP or TLS stream and the bytes read from it
//! that no response has consumed yet.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::BytesMut;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::integration::uri::Origin;

/// What one read asks the kernel for at least.
const READ_CHUNK: usize = 8 * 1024;

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

pub struct Connection {
    stream: Stream,
    /// Read from the stream, not yet consumed by a response.
    pub buf: BytesMut,
    /// When the connection last went back to the pool.
    pub idle_since: Instant,
}

impl Connection {
    /// Opens a connection to `origin`, TLS for https.
    pub async fn open(origin: &Origin, tls: &Arc<rustls::ClientConfig>) -> io::Result<Connection> {
        let tcp = TcpStream::connect((origin.host.as_str(), origin.port)).await?;
        let _ = tcp.set_nodelay(true);
        let stream = if origin.https {
            let name = ServerName::try_from(origin.host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let tls = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await?;
            Stream::Tls(Box::new(tls))
        } else {
            Stream::Plain(tcp)
        };
        Ok(Connection {
            stream,
            buf: BytesMut::new(),
            idle_since: Instant::now(),
        })
    }

    fn tcp(&self) -> &TcpStream {
        match &self.stream {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Whether an idle connection may carry another request: the peer has
    /// neither closed it nor sent anything since the last response ended.
    /// Bytes nobody asked for (a body after a HEAD answer, a response
    /// written while idle) would be read as the next client's response, so
    /// such a connection is never reused.
    ///
    /// Costs no system call while the reactor has seen nothing to read, and
    /// one non-blocking read when it has.
    pub fn reusable(&mut self) -> bool {
        let readiness = {
            let ready = pin!(self.tcp().ready(Interest::READABLE));
            ready.poll(&mut Context::from_waker(Waker::noop()))
        };
        match readiness {
            Poll::Pending => return true,
            Poll::Ready(Err(_)) => return false,
            Poll::Ready(Ok(r)) if r.is_read_closed() || r.is_error() => return false,
            Poll::Ready(Ok(_)) => {}
        }
        // Readable, or a readiness left from the last read: read to find out.
        let mut probe = [0u8; 64];
        match &mut self.stream {
            Stream::Plain(tcp) => {
                matches!(tcp.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            Stream::Tls(tls) => {
                // TLS records that carry no data (session tickets) are taken
                // by rustls and leave the read pending.
                let mut buf = tokio::io::ReadBuf::new(&mut probe);
                let read =
                    pin!(tls.as_mut()).poll_read(&mut Context::from_waker(Waker::noop()), &mut buf);
                read.is_pending()
            }
        }
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.stream {
            Stream::Plain(tcp) => tcp.write_all(bytes).await,
            Stream::Tls(tls) => tls.write_all(bytes).await,
        }
    }

    /// Pushes out what TLS buffered (plain TCP writes straight through).
    pub async fn flush(&mut self) -> io::Result<()> {
        match &mut self.stream {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(tls) => tls.flush().await,
        }
    }

    /// Reads more into `buf`; `Ready(Ok(0))` is the end of the stream.
    pub fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.buf.reserve(READ_CHUNK);
        // A fresh `read_buf` future holds nothing but these borrows, so
        // polling one once is exactly one poll_read into the spare capacity.
        match &mut self.stream {
            Stream::Plain(tcp) => pin!(tcp.read_buf(&mut self.buf)).poll(cx),
            Stream::Tls(tls) => pin!(tls.read_buf(&mut self.buf)).poll(cx),
        }
    }

    /// Reads more into `buf`; `Ok(0)` is the end of the stream.
    pub async fn read_more(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_read_more(cx)).await
    }
}
