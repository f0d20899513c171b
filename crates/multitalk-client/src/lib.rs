//! # multitalk-client
//!
//! A blocking Rust SDK for the MeiGen-MultiTalk job API
//! (`spec/multitalk-api.md`) behind an API Gateway-compatible gateway such as
//! Tollgate: typed requests and responses for generate, status, list,
//! cancel, download URL and health; [`Client::wait`] to poll a job to its end
//! with a deadline; back-off on 429 and 5xx; one [`Error`] type that reads
//! every error body the gateway, the guide's Lambda proxy and the API send.
//!
//! ```no_run
//! use multitalk_client::{Client, GenerateRequest, JobStatus, WaitOptions};
//!
//! # fn main() -> Result<(), multitalk_client::Error> {
//! let client = Client::new(
//!     "http://127.0.0.1:4566/_aws/execute-api/API_ID/prod",
//!     "THE-API-KEY",
//! )?;
//! let job = client.generate(&GenerateRequest::new(
//!     "A person speaking",
//!     "s3://bucket/face.png",
//!     ["s3://bucket/speech.wav"],
//! ))?;
//! let done = client.wait(&job.job_id, &WaitOptions::default())?;
//! if done.status == JobStatus::Completed {
//!     println!("{}", client.download_url(&done.job_id, None)?.download_url);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! What the real API does that this crate rides out (spec §1):
//!
//! - **Idempotent submission.** Every generate carries an `Idempotency-Key`
//!   (a fresh UUID v4 per [`Client::generate`]); its own retries reuse it, and
//!   [`Client::generate_with_key`] lets a caller retry a submission later.
//! - **No `Retry-After`** from the API or API Gateway's 429: calls back off
//!   exponentially with jitter from about 10 s ([`RetryPolicy`]), and honour
//!   the header if one ever appears. A 429 `Limit Exceeded` (the usage plan's
//!   quota) is not retried.
//! - **401 or 403** for a missing key, depending on the FastAPI version;
//!   [`Error::is_bad_credentials`] says either.
//! - **`progress` stays at 30** for minutes; **`cancelled` is not final**
//!   (the GPU run may overwrite it): [`Client::wait`] keeps polling a
//!   cancelled job for [`WaitOptions::cancelled_grace`]. Its deadline
//!   defaults to 40 minutes, above the 1 800 s GPU timeout.
//! - **Inputs are S3 URLs** (`s3://bucket/key`); the API has no upload, so
//!   [`GenerateRequest::validate`] refuses anything else before a job is paid for.
//! - **Downloads** are presigned S3 URLs fetched without the API's
//!   credentials, asked for again when expired ([`Client::download_to`]).
//! - Webhooks are never delivered: poll.
//!
//! It depends on no server crate of the Tollgate workspace.

mod client;
mod error;
mod retry;
mod types;

pub use client::{
    Auth, Client, ClientBuilder, IdempotencyKey, RetryEvent, WaitEvent, WaitOptions,
    DEFAULT_REQUEST_TIMEOUT,
};
pub use error::{ApiError, Error, ErrorKind, ErrorSource, ValidationIssue};
pub use retry::{parse_retry_after, RetryPolicy};
pub use types::{
    check_s3_url, AudioType, Cancelled, DownloadUrl, GenerateRequest, GenerationOptions, Health,
    Job, JobList, JobResult, JobStatus, JobSummary, Resolution, Submitted, MAX_AUDIO_FILES,
};
