//! Execution logs: for a stage whose method settings set `loggingLevel`
//! (INFO: every request; ERROR: failed ones), AWS's lines for the phases a
//! request went through, in `API-Gateway-Execution-Logs_{apiId}/{stage}`,
//! written off the request path from the outcome record.
//!
//! What the outcome record does not carry is not written: the bodies and
//! headers `dataTraceEnabled` would add, and the endpoint request URI.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tollgate_gateway::Outcome;
use tollgate_model::State;

use crate::logs::writer::LogLine;
use crate::queue::Sender;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Info,
    Error,
}

/// (api id, stage) → level and log group.
type Levels = HashMap<(String, String), (Level, Arc<str>)>;

pub struct ExecutionLogs {
    levels: ArcSwap<Levels>,
    lines: Sender<LogLine>,
    stream: Arc<str>,
}

impl ExecutionLogs {
    pub fn new(lines: Sender<LogLine>, stream: &str) -> ExecutionLogs {
        ExecutionLogs {
            levels: ArcSwap::from_pointee(Levels::new()),
            lines,
            stream: Arc::from(stream),
        }
    }

    /// Takes each stage's `*/*` logging level from `state`.
    pub fn update(&self, state: &State) {
        let mut levels = Levels::new();
        for (api_id, doc) in &state.rest_apis {
            for (name, stage) in &doc.stages {
                let level = stage
                    .method_settings
                    .get("*/*")
                    .and_then(|s| s.logging_level.as_deref());
                let level = match level {
                    Some("INFO") => Level::Info,
                    Some("ERROR") => Level::Error,
                    _ => continue,
                };
                let group = format!("API-Gateway-Execution-Logs_{api_id}/{name}");
                levels.insert((api_id.clone(), name.clone()), (level, Arc::from(group)));
            }
        }
        self.levels.store(Arc::new(levels));
    }

    /// Writes the request's lines, if its stage logs them.
    pub fn accept(&self, o: &Outcome) {
        let levels = self.levels.load();
        let Some((level, group)) = levels.get(&(o.api_id.clone(), o.stage.clone())) else {
            return;
        };
        let failed = o.error_type.is_some() || o.status >= 500;
        if *level == Level::Error && !failed {
            return;
        }
        for text in lines(o, *level) {
            self.lines.send(LogLine {
                group: group.clone(),
                stream: self.stream.clone(),
                timestamp_ms: o.request_time_epoch_ms as i64,
                message: format!("({}) {text}", o.request_id),
            });
        }
    }
}

/// AWS's execution-log lines for what the outcome shows.
fn lines(o: &Outcome, level: Level) -> Vec<String> {
    let mut out = Vec::new();
    let info = level == Level::Info;
    if info {
        out.push(format!("Extended Request Id: {}", o.extended_request_id));
        if let Some(key) = &o.api_key_id {
            out.push(format!(
                "Verifying Usage Plan for request: {}. API Key ID: {key}",
                o.request_id
            ));
        }
        if let Some(status) = o.authorizer_status {
            let latency = o.authorizer_latency.map_or(0, |l| l.as_millis());
            out.push(format!(
                "Authorizer completed with client status: {status} (authorizer latency: {latency} ms)"
            ));
        }
        out.push(format!("Starting execution for request: {}", o.request_id));
        out.push(format!(
            "HTTP Method: {}, Resource Path: {}",
            o.http_method, o.path
        ));
        if let Some(latency) = o.integration_latency {
            out.push(format!(
                "Received response. Status: {}, Integration latency: {} ms",
                o.status,
                latency.as_millis()
            ));
        }
    }
    if let Some(error_type) = o.error_type {
        let cause = o.cause.as_deref().unwrap_or(error_type);
        let kind = if o.status >= 500 {
            "Execution failed due to configuration error"
        } else {
            "Request refused"
        };
        out.push(format!("{kind}: {error_type}: {cause}"));
    }
    out.push(format!("Method completed with status: {}", o.status));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_by_level() {
        let ok = Outcome {
            request_id: "r".into(),
            http_method: http::Method::GET,
            path: "/api/x".into(),
            status: 200,
            integration_latency: Some(std::time::Duration::from_millis(12)),
            ..Outcome::default()
        };
        let info = lines(&ok, Level::Info);
        assert!(info.contains(&"Starting execution for request: r".to_string()));
        assert!(info
            .contains(&"Received response. Status: 200, Integration latency: 12 ms".to_string()));
        assert_eq!(
            info.last().map(String::as_str),
            Some("Method completed with status: 200")
        );
        let failed = Outcome {
            status: 504,
            error_type: Some("INTEGRATION_TIMEOUT"),
            cause: Some("upstream timed out".into()),
            ..ok
        };
        assert_eq!(
            lines(&failed, Level::Error),
            [
                "Execution failed due to configuration error: INTEGRATION_TIMEOUT: upstream timed out",
                "Method completed with status: 504"
            ]
        );
    }
}
