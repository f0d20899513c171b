//! The access-log observer: for a stage with `accessLogSettings`, one line
//! per request (refused and failed ones included) in the stage's log group,
//! in a stream of this instance. The line is rendered on the writer's side
//! of the queue; the request's thread only clones its outcome.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tollgate_gateway::{Observer, Outcome};
use tollgate_model::State;

use crate::access_log::AccessLogFormat;
use crate::logs::writer::LogLine;
use crate::queue::{self, Sender};

/// Where one stage's access log goes.
#[derive(Debug)]
struct Target {
    group: Arc<str>,
    format: AccessLogFormat,
}

/// Stages by api id, then stage name.
type Targets = HashMap<String, HashMap<String, Arc<Target>>>;

/// Requests waiting to be rendered.
const QUEUE_CAPACITY: usize = 65_536;

pub struct AccessLogs {
    targets: ArcSwap<Targets>,
    requests: Sender<(Arc<Target>, Box<Outcome>)>,
}

/// `arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]` → NAME.
pub fn group_of_arn(arn: &str) -> Option<&str> {
    let (_, rest) = arn.strip_prefix("arn:")?.split_once(":log-group:")?;
    let name = rest.strip_suffix(":*").unwrap_or(rest);
    (!name.is_empty()).then_some(name)
}

impl AccessLogs {
    /// Starts the renderer, which hands lines to `lines` (the log writer)
    /// in the stream `stream` (this instance's).
    pub fn start(lines: Sender<LogLine>, stream: &str) -> std::io::Result<Arc<AccessLogs>> {
        let (requests, receiver) = queue::bounded("access_logs", QUEUE_CAPACITY);
        let stream: Arc<str> = Arc::from(stream);
        std::thread::Builder::new()
            .name("tollgate-access-logs".into())
            .spawn(move || {
                while let Ok((target, outcome)) = receiver.recv() {
                    let target: Arc<Target> = target;
                    let outcome: Box<Outcome> = outcome;
                    lines.send(LogLine {
                        group: target.group.clone(),
                        stream: stream.clone(),
                        timestamp_ms: outcome.request_time_epoch_ms as i64,
                        message: target.format.render(&outcome),
                    });
                }
            })?;
        Ok(Arc::new(AccessLogs {
            targets: ArcSwap::from_pointee(Targets::new()),
            requests,
        }))
    }

    /// Takes the stages' access-log settings from `state`.
    pub fn update(&self, state: &State) {
        let mut targets = Targets::new();
        for (api_id, doc) in &state.rest_apis {
            for (name, stage) in &doc.stages {
                let Some(settings) = &stage.access_log_settings else {
                    continue;
                };
                let (Some(arn), Some(format)) = (&settings.destination_arn, &settings.format)
                else {
                    continue;
                };
                let Some(group) = group_of_arn(arn) else {
                    tracing::warn!(api = %api_id, stage = %name, %arn, "an access-log destination that names no log group: nothing is logged for this stage");
                    continue;
                };
                targets.entry(api_id.clone()).or_default().insert(
                    name.clone(),
                    Arc::new(Target {
                        group: Arc::from(group),
                        format: AccessLogFormat::parse(format),
                    }),
                );
            }
        }
        self.targets.store(Arc::new(targets));
    }

    /// Requests dropped because the renderer was behind.
    pub fn dropped(&self) -> u64 {
        self.requests.dropped()
    }
}

impl Observer for AccessLogs {
    fn observe(&self, outcome: &Outcome) {
        let targets = self.targets.load();
        let Some(target) = targets
            .get(outcome.api_id.as_str())
            .and_then(|stages| stages.get(outcome.stage.as_str()))
        else {
            return;
        };
        self.requests
            .send((target.clone(), Box::new(outcome.clone())));
    }
}
