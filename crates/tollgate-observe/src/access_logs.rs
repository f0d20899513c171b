//! Access logs: for a stage with `accessLogSettings`, one line per request
//! (refused and failed ones included) in the stage's log group, in a
//! stream of this instance. Rendered on the observers' thread ([`crate::hub`]),
//! never on the request's.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tollgate_gateway::Outcome;
use tollgate_model::State;

use crate::access_log::AccessLogFormat;
use crate::logs::writer::LogLine;
use crate::queue::Sender;

/// Where one stage's access log goes.
#[derive(Debug)]
struct Target {
    group: Arc<str>,
    format: AccessLogFormat,
}

/// Stages by api id, then stage name.
type Targets = HashMap<String, HashMap<String, Arc<Target>>>;

pub struct AccessLogs {
    targets: ArcSwap<Targets>,
    lines: Sender<LogLine>,
    stream: Arc<str>,
}

/// `arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]` → NAME.
pub fn group_of_arn(arn: &str) -> Option<&str> {
    let (_, rest) = arn.strip_prefix("arn:")?.split_once(":log-group:")?;
    let name = rest.strip_suffix(":*").unwrap_or(rest);
    (!name.is_empty()).then_some(name)
}

impl AccessLogs {
    /// Lines go to `lines` (the log writer), in the stream `stream`.
    pub fn new(lines: Sender<LogLine>, stream: &str) -> AccessLogs {
        AccessLogs {
            targets: ArcSwap::from_pointee(Targets::new()),
            lines,
            stream: Arc::from(stream),
        }
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

    /// Writes the request's line, if its stage logs.
    pub fn accept(&self, outcome: &Outcome) {
        let targets = self.targets.load();
        let Some(target) = targets
            .get(outcome.api_id.as_str())
            .and_then(|stages| stages.get(outcome.stage.as_str()))
        else {
            return;
        };
        self.lines.send(LogLine {
            group: target.group.clone(),
            stream: self.stream.clone(),
            timestamp_ms: outcome.request_time_epoch_ms as i64,
            message: target.format.render(outcome),
        });
    }
}
