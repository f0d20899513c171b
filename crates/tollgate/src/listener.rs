//! Accepting connections: the accept loop, the limit on open connections,
//! and the hand-over of connections to the worker threads.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::app::App;
use crate::connection::serve_connection;

/// A connection handed to a worker thread, with its slot.
pub type Handoff = tokio::sync::mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr, Slot)>;

/// The limit on open client connections, shared by every listener.
#[derive(Debug)]
pub struct ConnectionLimit {
    open: AtomicUsize,
    max: usize,
}

/// One open connection's place under the [`ConnectionLimit`]; dropping it
/// frees the place.
#[derive(Debug)]
pub struct Slot(Arc<ConnectionLimit>);

impl Drop for Slot {
    fn drop(&mut self) {
        let open = self.0.open.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!("tollgate_open_connections").set(open as f64);
    }
}

impl ConnectionLimit {
    pub fn new(max: usize) -> Arc<ConnectionLimit> {
        Arc::new(ConnectionLimit {
            open: AtomicUsize::new(0),
            max,
        })
    }

    /// A slot, unless `max` connections are open.
    fn acquire(self: &Arc<Self>) -> Option<Slot> {
        let mut open = self.open.load(Ordering::Relaxed);
        loop {
            if open >= self.max {
                return None;
            }
            match self.open.compare_exchange_weak(
                open,
                open + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    metrics::gauge!("tollgate_open_connections").set((open + 1) as f64);
                    return Some(Slot(self.clone()));
                }
                Err(now) => open = now,
            }
        }
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// What a connection over the limit is told before it is closed: a 503 in
/// API Gateway's error shape (most clients read it before they see the
/// close).
const OVER_CONNECTION_LIMIT: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
x-amzn-errortype: ServiceUnavailableException\r\n\
content-length: 33\r\n\
connection: close\r\n\r\n\
{\"message\":\"Service Unavailable\"}";

/// Accepts connections until `shutdown` resolves and deals them round-robin
/// between this thread and `workers`: the kernel would otherwise wake one
/// thread for most connections and leave the other cores idle (measured).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()>,
    workers: &[Handoff],
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let mut next = 0usize;
    let mut accept_errors = AcceptErrors::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    if let Some(pause) = accept_errors.failed(&e) {
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {},
                            () = &mut shutdown => return Ok(()),
                        }
                    }
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let Some(slot) = app.limits.connections.acquire() else {
            metrics::counter!("tollgate_connections_refused_total").increment(1);
            // One non-blocking write into an empty socket buffer, then close.
            let _ = stream.try_write(OVER_CONNECTION_LIMIT);
            continue;
        };
        let _ = stream.set_nodelay(true);
        next = (next + 1) % (workers.len() + 1);
        if let Some(worker) = next.checked_sub(1).and_then(|i| workers.get(i)) {
            match stream.into_std() {
                Ok(std_stream) => {
                    if let Err(returned) = worker.send((std_stream, peer, slot)) {
                        // The worker is gone (shutting down): serve it here.
                        let (std_stream, peer, slot) = returned.0;
                        if let Ok(stream) = tokio::net::TcpStream::from_std(std_stream) {
                            tokio::spawn(serve_connection(app.clone(), stream, peer, slot));
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot hand a connection over"),
            }
        } else {
            tokio::spawn(serve_connection(app.clone(), stream, peer, slot));
        }
    }
}

/// How long the accept loop pauses when the process or the system is out of
/// file descriptors or memory: accepting again at once would fail again at
/// once, and spin a core (nginx pauses 500 ms in the same case).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// How often a run of failed accepts is logged.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Failed accepts: counted in `tollgate_accept_errors_total`, logged at most
/// once per [`ACCEPT_LOG_INTERVAL`] with the number left out.
#[derive(Default)]
struct AcceptErrors {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    /// Records a failed accept; returns how long to pause before the next.
    fn failed(&mut self, e: &std::io::Error) -> Option<Duration> {
        // EMFILE, ENFILE, ENOBUFS, ENOMEM: resources, not the peer.
        let exhausted = matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12));
        let kind = if exhausted { "resources" } else { "other" };
        metrics::counter!("tollgate_accept_errors_total", "kind" => kind).increment(1);
        let now = Instant::now();
        if self
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= ACCEPT_LOG_INTERVAL)
        {
            tracing::warn!(error = %e, since_last_log = self.unlogged, "accept failed");
            self.last_logged = Some(now);
            self.unlogged = 0;
        } else {
            self.unlogged += 1;
        }
        exhausted.then_some(ACCEPT_PAUSE)
    }
}

/// Serves connections handed over by [`serve`] until the sender goes away.
pub async fn serve_handed_over(
    app: Arc<App>,
    mut connections: tokio::sync::mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr, Slot)>,
) {
    // This thread's own copy (the parts inside are still shared): every
    // request clones the handle, and a count that only this core touches
    // does not bounce between the cores' caches.
    let app = Arc::new(App::clone(&app));
    while let Some((std_stream, peer, slot)) = connections.recv().await {
        match tokio::net::TcpStream::from_std(std_stream) {
            Ok(stream) => {
                tokio::spawn(serve_connection(app.clone(), stream, peer, slot));
            }
            Err(e) => tracing::warn!(error = %e, "cannot take a handed-over connection"),
        }
    }
}
