//! A bounded log of the requests that reached the stand-in, so tests can
//! assert what a gateway actually forwarded.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, Version};
use serde_json::{json, Map, Value};

use crate::clock;

/// How many requests are kept; older ones are dropped first.
pub const RECORDER_CAPACITY: usize = 10_000;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Position in arrival order, from 1; not reset by [`Recorder::clear`].
    pub seq: u64,
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub received_at: SystemTime,
}

impl RecordedRequest {
    /// The path and query string, as sent.
    pub fn path_and_query(&self) -> &str {
        self.uri.path_and_query().map_or("/", |pq| pq.as_str())
    }

    /// One header's value (the first one), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The test hook's JSON form: header names lower-case, repeated headers
    /// joined with ", ", the body as (lossy) UTF-8 text.
    pub fn to_json(&self) -> Value {
        let mut headers = Map::new();
        for name in self.headers.keys() {
            let values: Vec<String> = self
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            headers.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
        }
        json!({
            "seq": self.seq,
            "method": self.method.as_str(),
            "path": self.path_and_query(),
            "version": format!("{:?}", self.version),
            "headers": headers,
            "body": String::from_utf8_lossy(&self.body),
            "received_at": clock::iso_pydantic(self.received_at),
        })
    }
}

/// The log itself. The lock is held only to push, copy out or clear.
#[derive(Debug)]
pub struct Recorder {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    requests: VecDeque<RecordedRequest>,
    next_seq: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new(RECORDER_CAPACITY)
    }
}

impl Recorder {
    pub fn new(capacity: usize) -> Recorder {
        Recorder {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves a valid deque; keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a request (its `seq` is assigned here), dropping the oldest when full.
    pub fn record(&self, mut request: RecordedRequest) {
        let mut inner = self.lock();
        inner.next_seq += 1;
        request.seq = inner.next_seq;
        if inner.requests.len() >= self.capacity {
            inner.requests.pop_front();
        }
        inner.requests.push_back(request);
    }

    /// The kept requests, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.iter().cloned().collect()
    }

    /// The kept requests with `seq` above `after`, oldest first.
    pub fn requests_after(&self, after: u64) -> Vec<RecordedRequest> {
        let inner = self.lock();
        // Sequence numbers ascend, so the tail is a suffix.
        let start = inner.requests.partition_point(|r| r.seq <= after);
        inner.requests.range(start..).cloned().collect()
    }

    /// The most recent request.
    pub fn last(&self) -> Option<RecordedRequest> {
        self.lock().requests.back().cloned()
    }

    pub fn len(&self) -> usize {
        self.lock().requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every kept request (sequence numbers keep counting).
    pub fn clear(&self) {
        self.lock().requests.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str) -> RecordedRequest {
        RecordedRequest {
            seq: 0,
            method: Method::GET,
            uri: path.parse().unwrap(),
            version: Version::HTTP_11,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            received_at: SystemTime::now(),
        }
    }

    #[test]
    fn keeps_the_last_n() {
        let recorder = Recorder::new(3);
        for i in 0..5 {
            recorder.record(request(&format!("/r{i}")));
        }
        let kept: Vec<String> = recorder
            .requests()
            .iter()
            .map(|r| r.path_and_query().to_owned())
            .collect();
        assert_eq!(kept, ["/r2", "/r3", "/r4"]);
        assert_eq!(recorder.requests_after(4).len(), 1);
        assert_eq!(recorder.last().map(|r| r.seq), Some(5));
        recorder.clear();
        assert!(recorder.is_empty());
        recorder.record(request("/again"));
        assert_eq!(recorder.last().map(|r| r.seq), Some(6));
    }
}
