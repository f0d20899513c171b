//! # multitalk-upstream
//!
//! A reference server of the MeiGen-MultiTalk job API (`api.py` of
//! berrylands/modal-meigen-multitalk; `spec/multitalk-api.md` §1), for
//! developing and testing Tollgate in front of it.
//!
//! **It is a development stand-in: it does not run the model.** Jobs move from
//! `pending` through `processing` (progress 10, then 30) to `completed` over a
//! configured time, computed from the clock rather than from any work, and
//! their "outputs" are S3 URIs and presigned-looking URLs that point nowhere.
//!
//! What matches api.py: paths, status codes and bodies; HTTPBearer's 403 for
//! a missing header and 401 `Invalid API key` for a wrong one; FastAPI's 422
//! validation errors (pydantic v2 shape); the nested
//! `{"detail":{"error","detail","request_id"}}` of 404s and 400s; 405 and 404
//! for wrong methods and paths. Where api.py is broken the stand-in does what
//! it meant: the job list is not always empty, a cancelled job stays
//! cancelled, a non-string URL is a 422 rather than a 500. No webhooks are sent.
//!
//! For tests it adds hooks, unauthenticated and never recorded themselves:
//! `GET /_upstream/requests[?since=SEQ]` lists the last
//! [`RECORDER_CAPACITY`] requests received (method, path and query, headers,
//! body), `DELETE /_upstream/requests` clears them, and [`Upstream::recorded`]
//! gives the same in-process. For benchmarks, `GET /bench` answers
//! `{"ok":true}` with no auth, recording or delay.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use multitalk_upstream::{bind, UpstreamConfig};
//! let upstream = bind("127.0.0.1:0", UpstreamConfig::default()).await?;
//! println!("listening on http://{}", upstream.local_addr());
//! upstream.run(std::future::pending()).await
//! # }
//! ```

mod api;
mod auth;
mod clock;
mod config;
mod jobs;
mod recorder;
mod response;
mod server;
mod validate;

pub use api::STAND_IN_NOTE;
pub use config::UpstreamConfig;
pub use jobs::JOB_CAPACITY;
pub use recorder::{RecordedRequest, Recorder, RECORDER_CAPACITY};
pub use server::{bind, Upstream, REQUESTS_HOOK};
pub use validate::MAX_AUDIO_FILES;
