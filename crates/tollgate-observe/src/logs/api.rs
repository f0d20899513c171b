//! CloudWatch Logs' operations (json 1.1, `X-Amz-Target: Logs_20140328.*`)
//! over the [`LogStore`], with AWS's validation and errors.

use serde_json::{json, Map, Value};

use super::filter::FilterPattern;
use super::store::{EventsFrom, Filter, LogStore, Position, StoreError};

/// An error in CloudWatch Logs' shape (`__type`, `message`), always a 400.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsError {
    pub code: &'static str,
    pub message: String,
}

impl LogsError {
    fn invalid(message: impl Into<String>) -> LogsError {
        LogsError {
            code: "InvalidParameterException",
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self.code {
            "ServiceUnavailableException" => 503,
            _ => 400,
        }
    }
}

impl From<StoreError> for LogsError {
    fn from(e: StoreError) -> LogsError {
        let code = match e {
            StoreError::GroupNotFound | StoreError::StreamNotFound => "ResourceNotFoundException",
            StoreError::GroupExists | StoreError::StreamExists => "ResourceAlreadyExistsException",
            StoreError::Sqlite(_) | StoreError::Shared(_) => {
                tracing::error!(error = %e, "the log store failed");
                return LogsError {
                    code: "ServiceUnavailableException",
                    message: "The service cannot complete the request.".into(),
                };
            }
        };
        LogsError {
            code,
            message: e.to_string(),
        }
    }
}

/// What an operation needs besides its input.
pub struct LogsContext<'a> {
    pub store: &'a LogStore,
    pub region: &'a str,
    pub account_id: &'a str,
    pub now_ms: i64,
}

/// The retention periods AWS accepts, in days.
pub const RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Largest PutLogEvents batch: 10 000 events, 1 048 576 bytes (message
/// bytes plus 26 per event).
const MAX_BATCH_EVENTS: usize = 10_000;
const MAX_BATCH_BYTES: i64 = 1_048_576;
/// A batch may not span more than a day.
const MAX_BATCH_SPAN_MS: i64 = 24 * 3_600_000;
/// Events older than this (or than the group's retention) are rejected, as
/// are events more than two hours ahead.
const MAX_AGE_MS: i64 = 14 * 86_400_000;
const MAX_AHEAD_MS: i64 = 2 * 3_600_000;

/// Runs `operation` (the part of the target after `Logs_20140328.`).
pub fn handle(
    cx: &LogsContext<'_>,
    operation: &str,
    input: &Value,
) -> Option<Result<Value, LogsError>> {
    let result = match operation {
        "CreateLogGroup" => create_log_group(cx, input),
        "DeleteLogGroup" => delete_log_group(cx, input),
        "DescribeLogGroups" => describe_log_groups(cx, input),
        "CreateLogStream" => create_log_stream(cx, input),
        "DeleteLogStream" => delete_log_stream(cx, input),
        "DescribeLogStreams" => describe_log_streams(cx, input),
        "PutLogEvents" => put_log_events(cx, input),
        "GetLogEvents" => get_log_events(cx, input),
        "FilterLogEvents" => filter_log_events(cx, input),
        "PutRetentionPolicy" => put_retention_policy(cx, input),
        "DeleteRetentionPolicy" => delete_retention_policy(cx, input),
        "TagLogGroup" => tag_log_group(cx, input),
        "UntagLogGroup" => untag_log_group(cx, input),
        "ListTagsLogGroup" => list_tags_log_group(cx, input),
        "TagResource" => tag_resource(cx, input),
        "UntagResource" => untag_resource(cx, input),
        "ListTagsForResource" => list_tags_for_resource(cx, input),
        _ => return None,
    };
    Some(result)
}

fn string<'a>(input: &'a Value, name: &str) -> Result<Option<&'a str>, LogsError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(LogsError::invalid(format!("{name} must be a string"))),
    }
}

fn required<'a>(input: &'a Value, name: &str) -> Result<&'a str, LogsError> {
    string(input, name)?.ok_or_else(|| {
        LogsError::invalid(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))
    })
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn integer(input: &Value, name: &str) -> Result<Option<i64>, LogsError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| LogsError::invalid(format!("{name} must be an integer"))),
    }
}

fn boolean(input: &Value, name: &str) -> Result<Option<bool>, LogsError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(LogsError::invalid(format!("{name} must be a boolean"))),
    }
}

fn tags_of(input: &Value, name: &str) -> Result<Map<String, Value>, LogsError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) if map.values().all(Value::is_string) => Ok(map.clone()),
        Some(_) => Err(LogsError::invalid(format!(
            "{name} must be a map of strings"
        ))),
    }
}

/// Log group names: 1–512 of `[\.\-_/#A-Za-z0-9]`.
fn group_name(input: &Value, member: &str) -> Result<String, LogsError> {
    let name = required(input, member)?;
    let valid = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b));
    if !valid {
        return Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{name}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
            lower_first(member)
        )));
    }
    Ok(name.to_string())
}

/// The group an input names by `logGroupName` or `logGroupIdentifier`
/// (a name or an ARN).
fn group_of(input: &Value) -> Result<String, LogsError> {
    if input.get("logGroupName").is_some_and(|v| !v.is_null()) {
        return group_name(input, "logGroupName");
    }
    let identifier = string(input, "logGroupIdentifier")?.ok_or_else(|| {
        LogsError::invalid("Either logGroupName or logGroupIdentifier must be specified")
    })?;
    Ok(group_from_arn(identifier).unwrap_or(identifier).to_string())
}

/// `arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]` → NAME.
fn group_from_arn(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let (_, rest) = rest.split_once(":log-group:")?;
    Some(rest.strip_suffix(":*").unwrap_or(rest))
}

/// Stream names: 1–512 characters, no `:` or `*`.
fn stream_name(input: &Value) -> Result<String, LogsError> {
    let name = required(input, "logStreamName")?;
    if name.is_empty() || name.len() > 512 || name.contains([':', '*']) {
        return Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
        )));
    }
    Ok(name.to_string())
}

fn group_arn(cx: &LogsContext<'_>, name: &str) -> String {
    format!(
        "arn:aws:logs:{}:{}:log-group:{name}",
        cx.region, cx.account_id
    )
}

fn limit(input: &Value, default: usize, max: usize) -> Result<usize, LogsError> {
    match integer(input, "limit")? {
        None => Ok(default),
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Some(n) => Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {max}"
        ))),
    }
}

fn create_log_group(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let name = group_name(input, "logGroupName")?;
    let tags = tags_of(input, "tags")?;
    cx.store.create_group(&name, cx.now_ms, &tags)?;
    Ok(json!({}))
}

fn delete_log_group(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    cx.store.delete_group(&group_name(input, "logGroupName")?)?;
    Ok(json!({}))
}

fn describe_log_groups(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let prefix = string(input, "logGroupNamePrefix")?.unwrap_or("");
    let pattern = string(input, "logGroupNamePattern")?;
    if pattern.is_some() && !prefix.is_empty() {
        return Err(LogsError::invalid(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        ));
    }
    let limit = limit(input, 50, 50)?;
    let after = string(input, "nextToken")?;
    // A pattern is a substring, case-insensitive: read a page and keep what matches.
    let mut groups = Vec::new();
    let mut cursor = after.map(str::to_string);
    let next = loop {
        let page = cx.store.groups(prefix, cursor.as_deref(), 500)?;
        let done = page.len() < 500;
        for g in page {
            cursor = Some(g.name.clone());
            let wanted = pattern.is_none_or(|p| g.name.to_lowercase().contains(&p.to_lowercase()));
            if wanted {
                groups.push(g);
                if groups.len() == limit {
                    break;
                }
            }
        }
        if groups.len() == limit {
            // More only if a later group exists.
            let more = !cx.store.groups(prefix, cursor.as_deref(), 1)?.is_empty();
            break more.then(|| cursor.clone()).flatten();
        }
        if done {
            break None;
        }
    };
    let items: Vec<Value> = groups
        .into_iter()
        .map(|g| {
            let arn = group_arn(cx, &g.name);
            let mut item = json!({
                "logGroupName": g.name,
                "creationTime": g.created_ms,
                "metricFilterCount": 0,
                "arn": format!("{arn}:*"),
                "logGroupArn": arn,
                "storedBytes": g.stored_bytes,
                "logGroupClass": "STANDARD",
            });
            if let Some(days) = g.retention_days {
                item["retentionInDays"] = json!(days);
            }
            item
        })
        .collect();
    let mut out = json!({ "logGroups": items });
    if let Some(next) = next {
        out["nextToken"] = json!(next);
    }
    Ok(out)
}

fn create_log_stream(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = group_name(input, "logGroupName")?;
    let stream = stream_name(input)?;
    cx.store.create_stream(&group, &stream, cx.now_ms)?;
    Ok(json!({}))
}

fn delete_log_stream(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = group_name(input, "logGroupName")?;
    let stream = stream_name(input)?;
    cx.store.delete_stream(&group, &stream)?;
    Ok(json!({}))
}

fn describe_log_streams(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = group_of(input)?;
    let prefix = string(input, "logStreamNamePrefix")?.unwrap_or("");
    let by_last_event = match string(input, "orderBy")? {
        None | Some("LogStreamName") => false,
        Some("LastEventTime") => true,
        Some(other) => {
            return Err(LogsError::invalid(format!(
                "1 validation error detected: Value '{other}' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )))
        }
    };
    if by_last_event && !prefix.is_empty() {
        return Err(LogsError::invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let descending = boolean(input, "descending")?.unwrap_or(false);
    let limit = limit(input, 50, 50)?;
    let skip: usize = match string(input, "nextToken")? {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| LogsError::invalid("The specified nextToken is invalid."))?,
    };
    let streams = cx
        .store
        .streams(&group, prefix, by_last_event, descending)?;
    let page: Vec<Value> = streams
        .iter()
        .skip(skip)
        .take(limit)
        .map(|s| {
            let mut item = json!({
                "logStreamName": s.name,
                "creationTime": s.created_ms,
                "arn": format!("{}:log-stream:{}", group_arn(cx, &group), s.name),
                "storedBytes": s.stored_bytes,
                "uploadSequenceToken": "1",
            });
            if let Some(t) = s.first_event_ms {
                item["firstEventTimestamp"] = json!(t);
            }
            if let Some(t) = s.last_event_ms {
                item["lastEventTimestamp"] = json!(t);
            }
            if let Some(t) = s.last_ingestion_ms {
                item["lastIngestionTime"] = json!(t);
            }
            item
        })
        .collect();
    let mut out = json!({ "logStreams": page });
    if skip + limit < streams.len() {
        out["nextToken"] = json!((skip + limit).to_string());
    }
    Ok(out)
}

fn put_log_events(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = group_name(input, "logGroupName")?;
    let stream = stream_name(input)?;
    let events = match input.get("logEvents") {
        Some(Value::Array(events)) if !events.is_empty() => events,
        _ => {
            return Err(LogsError::invalid(
                "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ))
        }
    };
    if events.len() > MAX_BATCH_EVENTS {
        return Err(LogsError::invalid(format!(
            "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to {MAX_BATCH_EVENTS}"
        )));
    }
    let mut parsed = Vec::with_capacity(events.len());
    let mut bytes = 0i64;
    for e in events {
        let timestamp = e
            .get("timestamp")
            .and_then(Value::as_i64)
            .ok_or_else(|| LogsError::invalid("Every log event needs a timestamp"))?;
        let message = e
            .get("message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .ok_or_else(|| LogsError::invalid("Every log event needs a non-empty message"))?;
        bytes += super::store::event_size(message);
        parsed.push((timestamp, message.to_string()));
    }
    if bytes > MAX_BATCH_BYTES {
        return Err(LogsError::invalid(
            "Upload too large: the batch of log events exceeds 1048576 bytes",
        ));
    }
    if parsed.windows(2).any(|w| w[1].0 < w[0].0) {
        return Err(LogsError::invalid(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    if let (Some(first), Some(last)) = (parsed.first(), parsed.last()) {
        if last.0 - first.0 > MAX_BATCH_SPAN_MS {
            return Err(LogsError::invalid(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
            ));
        }
    }
    let retention_ms = cx
        .store
        .group(&group)?
        .retention_days
        .map(|d| d * 86_400_000)
        .unwrap_or(i64::MAX);
    let oldest = cx.now_ms - MAX_AGE_MS.min(retention_ms);
    let newest = cx.now_ms + MAX_AHEAD_MS;
    // Sorted by time: the too-old ones lead, the too-new ones trail.
    let too_old_end = parsed.iter().take_while(|(t, _)| *t < oldest).count();
    let too_new_start = parsed
        .iter()
        .position(|(t, _)| *t > newest)
        .unwrap_or(parsed.len());
    let accepted = &parsed[too_old_end..too_new_start.max(too_old_end)];
    if !accepted.is_empty() {
        cx.store.put_events(&group, &stream, accepted, cx.now_ms)?;
    } else {
        // Nothing to store, but the stream must still exist.
        cx.store
            .stream_events(&group, &stream, None, None, EventsFrom::Head, 0)?;
    }
    let mut out = json!({ "nextSequenceToken": "1" });
    let mut rejected = Map::new();
    if too_old_end > 0 {
        let key = if MAX_AGE_MS > retention_ms {
            "expiredLogEventEndIndex"
        } else {
            "tooOldLogEventEndIndex"
        };
        rejected.insert(key.into(), json!(too_old_end));
    }
    if too_new_start < parsed.len() {
        rejected.insert("tooNewLogEventStartIndex".into(), json!(too_new_start));
    }
    if !rejected.is_empty() {
        out["rejectedLogEventsInfo"] = Value::Object(rejected);
    }
    Ok(out)
}

/// `f/{timestamp}/{id}` or `b/{timestamp}/{id}`: GetLogEvents' tokens.
fn stream_token(direction: char, p: Position) -> String {
    format!("{direction}/{:020}/{:020}", p.timestamp_ms, p.id)
}

fn parse_stream_token(token: &str) -> Option<EventsFrom> {
    let (direction, rest) = token.split_once('/')?;
    let (t, id) = rest.split_once('/')?;
    let p = Position {
        timestamp_ms: t.parse().ok()?,
        id: id.parse().ok()?,
    };
    match direction {
        "f" => Some(EventsFrom::After(p)),
        "b" => Some(EventsFrom::Before(p)),
        _ => None,
    }
}

fn get_log_events(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = group_of(input)?;
    let stream = stream_name(input)?;
    let limit = limit(input, 10_000, 10_000)?;
    let from = match string(input, "nextToken")? {
        Some(t) => parse_stream_token(t)
            .ok_or_else(|| LogsError::invalid("The specified nextToken is invalid."))?,
        None if boolean(input, "startFromHead")?.unwrap_or(false) => EventsFrom::Head,
        None => EventsFrom::Tail,
    };
    let events = cx.store.stream_events(
        &group,
        &stream,
        integer(input, "startTime")?,
        integer(input, "endTime")?,
        from,
        limit,
    )?;
    let position = |e: &super::store::Event| Position {
        timestamp_ms: e.timestamp_ms,
        id: e.id,
    };
    // With nothing more, a token points where the reader already is.
    let (forward, backward) = match (events.first(), events.last()) {
        (Some(first), Some(last)) => (
            stream_token('f', position(last)),
            stream_token('b', position(first)),
        ),
        _ => {
            let here = match from {
                EventsFrom::After(p) | EventsFrom::Before(p) => p,
                EventsFrom::Head => Position {
                    timestamp_ms: i64::MIN + 1,
                    id: 0,
                },
                EventsFrom::Tail => Position {
                    timestamp_ms: i64::MAX,
                    id: i64::MAX,
                },
            };
            (stream_token('f', here), stream_token('b', here))
        }
    };
    let items: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({"timestamp": e.timestamp_ms, "message": e.message, "ingestionTime": e.ingestion_ms})
        })
        .collect();
    Ok(json!({
        "events": items,
        "nextForwardToken": forward,
        "nextBackwardToken": backward,
    }))
}

fn filter_log_events(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = group_of(input)?;
    let streams: Option<Vec<String>> = match input.get("logStreamNames") {
        None | Some(Value::Null) => None,
        Some(Value::Array(names)) => Some(
            names
                .iter()
                .map(|n| n.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| LogsError::invalid("logStreamNames must be strings"))?,
        ),
        Some(_) => return Err(LogsError::invalid("logStreamNames must be a list")),
    };
    let stream_prefix = string(input, "logStreamNamePrefix")?;
    if streams.is_some() && stream_prefix.is_some() {
        return Err(LogsError::invalid(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
        ));
    }
    let pattern = string(input, "filterPattern")?
        .map(FilterPattern::parse)
        .transpose()
        .map_err(|e| LogsError::invalid(e.to_string()))?;
    let after = match string(input, "nextToken")? {
        None => None,
        Some(t) => Some(match parse_stream_token(t) {
            Some(EventsFrom::After(p)) => p,
            _ => return Err(LogsError::invalid("The specified nextToken is invalid.")),
        }),
    };
    let found = cx.store.filter(&Filter {
        group: &group,
        streams: streams.as_deref(),
        stream_prefix,
        start_ms: integer(input, "startTime")?,
        end_ms: integer(input, "endTime")?,
        pattern: pattern.as_ref(),
        after,
        limit: limit(input, 10_000, 10_000)?,
    })?;
    let items: Vec<Value> = found
        .events
        .iter()
        .map(|e| {
            json!({
                "logStreamName": e.stream,
                "timestamp": e.timestamp_ms,
                "message": e.message,
                "ingestionTime": e.ingestion_ms,
                "eventId": format!("{:056}", e.id),
            })
        })
        .collect();
    let mut out = json!({ "events": items, "searchedLogStreams": [] });
    if let Some(next) = found.next {
        out["nextToken"] = json!(stream_token('f', next));
    }
    Ok(out)
}

fn put_retention_policy(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = group_name(input, "logGroupName")?;
    let days = integer(input, "retentionInDays")?.ok_or_else(|| {
        LogsError::invalid("1 validation error detected: Value null at 'retentionInDays' failed to satisfy constraint: Member must not be null")
    })?;
    if !RETENTION_DAYS.contains(&days) {
        return Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: {RETENTION_DAYS:?}"
        )));
    }
    cx.store.set_retention(&group, Some(days))?;
    cx.store.enforce_retention(cx.now_ms)?;
    Ok(json!({}))
}

fn delete_retention_policy(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    cx.store
        .set_retention(&group_name(input, "logGroupName")?, None)?;
    Ok(json!({}))
}

fn tag_log_group(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = group_name(input, "logGroupName")?;
    cx.store.tag_group(&group, &tags_of(input, "tags")?, &[])?;
    Ok(json!({}))
}

fn tag_keys(input: &Value, member: &str) -> Result<Vec<String>, LogsError> {
    match input.get(member) {
        Some(Value::Array(keys)) => keys
            .iter()
            .map(|k| k.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| LogsError::invalid(format!("{member} must be strings"))),
        _ => Err(LogsError::invalid(format!("{member} must be a list"))),
    }
}

fn untag_log_group(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = group_name(input, "logGroupName")?;
    cx.store
        .tag_group(&group, &Map::new(), &tag_keys(input, "tags")?)?;
    Ok(json!({}))
}

fn list_tags_log_group(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = cx.store.group(&group_name(input, "logGroupName")?)?;
    Ok(json!({ "tags": group.tags }))
}

fn group_of_resource(input: &Value) -> Result<String, LogsError> {
    let arn = required(input, "resourceArn")?;
    group_from_arn(arn)
        .map(str::to_string)
        .ok_or_else(|| LogsError::invalid(format!("Invalid resource arn: {arn}")))
}

fn tag_resource(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = group_of_resource(input)?;
    cx.store.tag_group(&group, &tags_of(input, "tags")?, &[])?;
    Ok(json!({}))
}

fn untag_resource(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = group_of_resource(input)?;
    cx.store
        .tag_group(&group, &Map::new(), &tag_keys(input, "tagKeys")?)?;
    Ok(json!({}))
}

fn list_tags_for_resource(cx: &LogsContext<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = cx.store.group(&group_of_resource(input)?)?;
    Ok(json!({ "tags": group.tags }))
}
