//! Tollgate's observers (`spec/aws-apigw.md` §8, §10): what the data plane
//! did, readable with AWS's own APIs and today's tools.
//!
//! Every request's [`tollgate_gateway::Outcome`] leaves the request's thread
//! through a bounded queue ([`queue`]); background writers turn it into
//! access-log lines in CloudWatch Logs ([`logs`]), metrics and traces. A
//! full queue drops the record, counts it and says so in the log; it never
//! slows or fails a request.

pub mod access_log;
pub mod access_logs;
pub mod logs;
pub mod queue;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tollgate_model::State;

use crate::access_logs::AccessLogs;
use crate::logs::{LogLine, LogStore};
use crate::queue::Sender;

/// How often retention policies are applied.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// Why the observers could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the log store: {0}")]
    LogStore(#[from] logs::store::StoreError),
    #[error("cannot start a writer thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Every observer of one Tollgate instance, and the stores they write.
pub struct Observatory {
    pub logs: Arc<LogStore>,
    /// Lines for CloudWatch Logs (function logs write here too).
    pub lines: Sender<LogLine>,
    pub access_logs: Arc<AccessLogs>,
}

impl Observatory {
    /// Opens the log store in `data_dir` and starts the writers; this
    /// instance writes its lines to streams named `instance`.
    pub fn start(data_dir: &Path, instance: &str) -> Result<Observatory, StartError> {
        let logs = Arc::new(LogStore::open(data_dir)?);
        let lines = logs::writer::start(logs.clone())?;
        let access_logs = AccessLogs::start(lines.clone(), instance)?;
        let retention = Arc::downgrade(&logs);
        std::thread::Builder::new()
            .name("tollgate-log-retention".into())
            .spawn(move || loop {
                std::thread::sleep(RETENTION_EVERY);
                let Some(store) = retention.upgrade() else {
                    return;
                };
                if let Err(e) = store.enforce_retention(logs::writer::now_ms()) {
                    tracing::warn!(error = %e, "log retention could not be applied");
                }
            })?;
        Ok(Observatory {
            logs,
            lines,
            access_logs,
        })
    }

    /// Follows the configuration (stages' log settings).
    pub fn update(&self, state: &State) {
        self.access_logs.update(state);
    }
}

/// This instance's name in log streams: the host's name.
pub fn instance_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tollgate".into())
}
