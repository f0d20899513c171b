//! Function logs: every line a worker writes to stdout or stderr, and the
//! START / END / REPORT lines AWS writes around each invocation.
//!
//! Lines go through a bounded queue to one writer thread, which appends
//! them to `{log dir}/{function}.log` as `{RFC 3339 time}\t{line}`: a worker
//! never waits on the disk, and a full queue drops lines, counted in
//! `tollgate_lambda_log_lines_dropped_total` and logged, never silently.
//! Each invocation also keeps the tail of its own lines, for `Invoke`'s
//! `LogType: Tail`.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lines waiting for the writer.
const QUEUE: usize = 65_536;

/// How much of an invocation's own log `LogType: Tail` returns (AWS: 4 KB).
pub const TAIL_BYTES: usize = 4 * 1024;

struct Line {
    function: String,
    at_ms: i64,
    text: String,
}

/// Also hears each line, after it is written: (function, epoch ms, text).
pub type LogForward = Arc<dyn Fn(&str, i64, &str) + Send + Sync>;

/// Where function log lines go.
#[derive(Clone)]
pub struct LogSink {
    queue: SyncSender<Line>,
    dir: PathBuf,
}

impl LogSink {
    /// Starts the writer thread for `dir` (created); `forward` also hears
    /// every line.
    pub fn start(dir: PathBuf, forward: Option<LogForward>) -> std::io::Result<LogSink> {
        std::fs::create_dir_all(&dir)?;
        let (queue, lines) = sync_channel::<Line>(QUEUE);
        let root = dir.clone();
        std::thread::Builder::new()
            .name("tollgate-lambda-logs".into())
            .spawn(move || {
                let mut files: HashMap<String, std::fs::File> = HashMap::new();
                for line in lines {
                    let file = match files.get_mut(&line.function) {
                        Some(file) => file,
                        None => {
                            let path = root.join(format!("{}.log", line.function));
                            match std::fs::OpenOptions::new()
                                .create(true)
                                .append(true)
                                .open(&path)
                            {
                                Ok(file) => files.entry(line.function.clone()).or_insert(file),
                                Err(e) => {
                                    tracing::warn!(error = %e, path = %path.display(), "cannot open a function log");
                                    continue;
                                }
                            }
                        }
                    };
                    let _ = writeln!(file, "{}\t{}", rfc3339_ms(line.at_ms), line.text);
                    if let Some(forward) = &forward {
                        forward(&line.function, line.at_ms, &line.text);
                    }
                }
            })?;
        Ok(LogSink { queue, dir })
    }

    /// The file a function's lines go to.
    pub fn path(&self, function: &str) -> PathBuf {
        self.dir.join(format!("{function}.log"))
    }

    /// Queues one line of `function`'s log.
    pub fn line(&self, function: &str, text: &str) {
        let line = Line {
            function: function.to_string(),
            at_ms: now_ms(),
            text: text.to_string(),
        };
        match self.queue.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                metrics::counter!("tollgate_lambda_log_lines_dropped_total").increment(1);
                tracing::warn!(function, "function log queue full: a line was dropped");
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// The lines of one invocation, kept to their last [`TAIL_BYTES`].
#[derive(Debug, Default, Clone)]
pub struct Tail(Arc<Mutex<String>>);

impl Tail {
    pub fn push(&self, line: &str) {
        let mut tail = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tail.push_str(line);
        tail.push('\n');
        if tail.len() > TAIL_BYTES {
            let mut cut = tail.len() - TAIL_BYTES;
            while !tail.is_char_boundary(cut) {
                cut += 1;
            }
            tail.drain(..cut);
        }
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2026-12-07T15:33:16.123Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let in_day = secs.rem_euclid(86_400);
    let date = tollgate_model::time::Date::from_epoch_seconds(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        date.year,
        date.month,
        date.day,
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60,
        ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_583_349_317_135), "2020-03-04T19:15:17.135Z");
    }

    #[test]
    fn tails_keep_the_end() {
        let tail = Tail::default();
        for i in 0..1000 {
            tail.push(&format!("line {i}"));
        }
        let text = tail.text();
        assert!(text.len() <= TAIL_BYTES);
        assert!(text.ends_with("line 999\n"));
    }
}
