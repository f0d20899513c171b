//! The one observer the gateway calls: it clones the outcome record into a
//! bounded queue, and a thread of its own writes the access log line and
//! the metrics. A full queue drops the record (counted as
//! `tollgate_observe_dropped_total{queue="outcomes"}`), never the request.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tollgate_gateway::{Observer, Outcome};
use tollgate_model::State;

use crate::access_logs::AccessLogs;
use crate::execution_logs::ExecutionLogs;
use crate::metrics::requests::{self, DetailedMetrics};
use crate::metrics::MetricStore;
use crate::queue::{self, Sender};

/// Outcomes waiting for the observers' thread.
const QUEUE_CAPACITY: usize = 65_536;

pub struct Hub {
    outcomes: Sender<Box<Outcome>>,
    access_logs: Arc<AccessLogs>,
    execution_logs: Arc<ExecutionLogs>,
    detailed: Arc<ArcSwap<DetailedMetrics>>,
}

impl Hub {
    pub fn start(
        access_logs: Arc<AccessLogs>,
        execution_logs: Arc<ExecutionLogs>,
        metrics: Arc<MetricStore>,
    ) -> std::io::Result<Hub> {
        let (outcomes, receiver) = queue::bounded::<Box<Outcome>>("outcomes", QUEUE_CAPACITY);
        let detailed = Arc::new(ArcSwap::from_pointee(DetailedMetrics::default()));
        let (logs, settings) = (access_logs.clone(), detailed.clone());
        let execution = execution_logs.clone();
        std::thread::Builder::new()
            .name("tollgate-observers".into())
            .spawn(move || {
                while let Some(batch) = queue::next_batch(&receiver, Duration::from_secs(1), 1024) {
                    let detailed = settings.load();
                    for outcome in batch {
                        logs.accept(&outcome);
                        execution.accept(&outcome);
                        requests::record(&metrics, &detailed, &outcome);
                    }
                }
            })?;
        Ok(Hub {
            outcomes,
            access_logs,
            execution_logs,
            detailed,
        })
    }

    /// Follows the stages' log and metrics settings.
    pub fn update(&self, state: &State) {
        self.access_logs.update(state);
        self.execution_logs.update(state);
        self.detailed
            .store(Arc::new(DetailedMetrics::from_state(state)));
    }

    /// Records dropped because the observers' thread was behind.
    pub fn dropped(&self) -> u64 {
        self.outcomes.dropped()
    }
}

impl Observer for Hub {
    fn observe(&self, outcome: &Outcome) {
        self.outcomes.send(Box::new(outcome.clone()));
    }
}
