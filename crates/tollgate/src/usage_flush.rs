//! Writes the data plane's usage counts to the store in batches: often enough
//! that a kill -9 loses at most one interval of counts, never on the request path.

use std::sync::Arc;
use std::time::Duration;

use tollgate_control::ControlPlane;
use tollgate_gateway::Gateway;

/// How often counts are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(20);

/// Writes whatever is pending once.
pub async fn flush_once(control: &Arc<ControlPlane>, gateway: &Arc<Gateway>) {
    let pending = gateway.unflushed_usage();
    if pending.is_empty() {
        return;
    }
    let control = control.clone();
    let written =
        tokio::task::spawn_blocking(move || control.record_usage(&pending).map(|()| pending)).await;
    match written {
        Ok(Ok(pending)) => gateway.usage_flushed(&pending),
        Ok(Err(e)) => tracing::error!(error = %e, "cannot write usage counts; will retry"),
        Err(e) => tracing::error!(error = %e, "usage writer failed; will retry"),
    }
}

/// Flushes every [`FLUSH_INTERVAL`] until `stop` turns true, then once more.
pub async fn run(
    control: Arc<ControlPlane>,
    gateway: Arc<Gateway>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(FLUSH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => flush_once(&control, &gateway).await,
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
        }
    }
    flush_once(&control, &gateway).await;
}
