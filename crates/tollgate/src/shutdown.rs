//! Graceful shutdown: once it begins, connections close as soon as they hold
//! no request (HTTP/1: after the current response, with `Connection: close`;
//! h2c: GOAWAY), and the server waits for them up to a grace period before
//! the process exits. API Gateway has no equivalent: it is never restarted
//! by its users.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::listener::ConnectionLimit;

/// How often the drain looks at the count of open connections: only while
/// shutting down, so a poll is simpler than a notification on every close.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// Default grace period: Kubernetes' default `terminationGracePeriodSeconds`.
pub const DEFAULT_GRACE_SECS: u64 = 30;

/// The switch connections watch: false while serving, true once shutting down.
pub fn closing_channel() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// Waits until no client connection is open, or `grace` has passed; returns
/// how many were still open then.
pub async fn drain(connections: &ConnectionLimit, grace: Duration) -> usize {
    let deadline = Instant::now() + grace;
    loop {
        let open = connections.open();
        if open == 0 || Instant::now() >= deadline {
            return open;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// How long the log writers get after the last request: their queues are
/// taken as items arrive and each batch is written at once (one SQLite
/// transaction), so this covers the last requests' access-log lines; a
/// writer stuck longer loses them, as a crash would.
const LOG_SETTLE: Duration = Duration::from_millis(300);

/// Gives the access-log and function-log writers time to write what the
/// last requests queued.
pub async fn settle_logs() {
    tokio::time::sleep(LOG_SETTLE).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_returns_at_once_with_nothing_open() {
        let limit = ConnectionLimit::new(4);
        let started = std::time::Instant::now();
        assert_eq!(drain(&limit, Duration::from_secs(30)).await, 0);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
