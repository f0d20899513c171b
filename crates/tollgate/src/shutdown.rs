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

/// Longest wait for the observers to write what the last requests produced
/// (access-log lines, metrics, spans): they are told to flush and say when
/// done, so this bounds only a writer that is stuck (its lines are then
/// lost, as in a crash).
pub const OBSERVERS_FLUSH_LIMIT: Duration = Duration::from_secs(10);

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
