//! `tollgate logs tail`: an operator's live view of a log group, read from
//! the log store on this machine (CloudWatch's StartLiveTail needs an event
//! stream the aws CLI v1 cannot read; this needs nothing but the data dir).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tollgate_observe::logs::filter::FilterPattern;
use tollgate_observe::logs::store::{Filter, LogStore, Position};

/// How often a followed group is read again.
const POLL_EVERY: Duration = Duration::from_millis(500);

pub struct TailArgs<'a> {
    pub data_dir: &'a Path,
    pub group: &'a str,
    /// Events from this long ago on.
    pub since: Duration,
    pub follow: bool,
    pub filter_pattern: Option<&'a str>,
}

/// Prints the group's events (`time stream message`), then, with
/// `follow`, new ones as they are written, until interrupted.
pub fn tail(args: TailArgs<'_>, out: &mut impl Write) -> anyhow::Result<()> {
    let store = LogStore::open(args.data_dir)
        .with_context(|| format!("cannot open the log store in {}", args.data_dir.display()))?;
    let pattern = args
        .filter_pattern
        .map(FilterPattern::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let start = tollgate_observe::logs::writer::now_ms() - args.since.as_millis() as i64;
    let mut after: Option<Position> = None;
    loop {
        let page = store
            .filter(&Filter {
                group: args.group,
                streams: None,
                stream_prefix: None,
                start_ms: Some(start),
                end_ms: None,
                pattern: pattern.as_ref(),
                after,
                limit: 10_000,
            })
            .with_context(|| format!("cannot read log group {}", args.group))?;
        for event in &page.events {
            writeln!(
                out,
                "{} {} {}",
                tollgate_observe::iso8601(event.timestamp_ms),
                event.stream,
                event.message
            )?;
        }
        out.flush()?;
        if let Some(last) = page.events.last() {
            after = Some(Position {
                timestamp_ms: last.timestamp_ms,
                id: last.id,
            });
        }
        if let Some(next) = page.next {
            after = Some(next);
            continue;
        }
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(POLL_EVERY);
    }
}
