//! Jobs and their simulated lifecycle. Nothing runs in the background: a job's
//! status and progress are computed from the time since it was submitted, so
//! jobs cost nothing while nobody asks about them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::clock;
use crate::validate::{parse_s3_url, GenerateRequest};

/// How many jobs are kept; the oldest are forgotten first, so a benchmark that
/// submits forever does not grow the server forever.
pub const JOB_CAPACITY: usize = 100_000;

/// Frames of a default MultiTalk clip, and its frame rate.
const FRAMES: u32 = 81;
const FPS: f64 = 25.0;

/// api.py's `JobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Completed, failed and cancelled jobs cannot be cancelled.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// Where a job stands after `elapsed` of a `duration`-long run: its status,
/// progress, and how far into the run the current stage began.
///
/// The stages follow api.py's background task: pending until 10% of the run,
/// processing at progress 10, then 30 from 30% of the run (the model call),
/// then completed at 100 — or failed, with progress left at 30.
pub fn stage(elapsed: Duration, duration: Duration, fails: bool) -> (JobStatus, u8, Duration) {
    let at_10 = duration / 10;
    let at_30 = duration * 3 / 10;
    if elapsed >= duration {
        if fails {
            (JobStatus::Failed, 30, duration)
        } else {
            (JobStatus::Completed, 100, duration)
        }
    } else if elapsed >= at_30 {
        (JobStatus::Processing, 30, at_30)
    } else if elapsed >= at_10 {
        (JobStatus::Processing, 10, at_10)
    } else {
        (JobStatus::Pending, 0, Duration::ZERO)
    }
}

/// The result object of a completed job: the fields of api.py's test stub.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobResult {
    pub success: bool,
    pub s3_output: String,
    pub duration: f64,
    pub frames: u32,
    pub processing_time: f64,
}

/// A job as of the moment it was looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub id: String,
    pub status: JobStatus,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
    pub progress: u8,
    pub result: Option<JobResult>,
    pub error: Option<String>,
}

/// Why a job could not be cancelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    #[error("Job not found")]
    NotFound,
    #[error("Job is already {}", .0.as_str())]
    AlreadyFinal(JobStatus),
}

struct Job {
    created_at: SystemTime,
    started: Instant,
    /// Set when the prompt contains the configured failure marker.
    failure: Option<String>,
    output_bucket: String,
    output_prefix: String,
    speakers: usize,
    cancelled: Option<(SystemTime, u8)>,
}

#[derive(Default)]
struct Inner {
    jobs: HashMap<String, Job>,
    /// Ids oldest first, for eviction and the newest-first list.
    order: VecDeque<String>,
}

/// Every job this server knows. The lock is held only to read or change the map.
pub struct JobStore {
    inner: Mutex<Inner>,
    duration: Duration,
    fail_marker: Option<String>,
    capacity: usize,
}

impl JobStore {
    pub fn new(duration: Duration, fail_marker: Option<String>) -> JobStore {
        JobStore::with_capacity(duration, fail_marker, JOB_CAPACITY)
    }

    pub fn with_capacity(
        duration: Duration,
        fail_marker: Option<String>,
        capacity: usize,
    ) -> JobStore {
        JobStore {
            inner: Mutex::new(Inner::default()),
            duration,
            // An empty marker would fail every job; treat it as none.
            fail_marker: fail_marker.filter(|m| !m.is_empty()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent even if a holder panicked; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a new pending job.
    pub fn submit(&self, request: &GenerateRequest) -> JobView {
        let id = clock::uuid4();
        let failure = self
            .fail_marker
            .as_deref()
            .filter(|marker| request.prompt.contains(marker))
            .map(|marker| {
                format!("Simulated failure: the prompt contains {marker:?} (multitalk-upstream stand-in)")
            });
        // The real backend writes to its own bucket; the stand-in uses the
        // requested one, else the image's, so outputs look plausible.
        let output_bucket = request
            .output_s3_bucket
            .clone()
            .or_else(|| parse_s3_url(&request.image_s3_url).map(|(b, _)| b.to_owned()))
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "multitalk-outputs".to_owned());
        let job = Job {
            created_at: SystemTime::now(),
            started: Instant::now(),
            failure,
            output_bucket,
            output_prefix: request.output_s3_prefix.clone(),
            speakers: request.audio_s3_urls.len(),
            cancelled: None,
        };
        let view = self.view(&id, &job, Duration::ZERO);
        let mut inner = self.lock();
        if inner.order.len() >= self.capacity {
            if let Some(oldest) = inner.order.pop_front() {
                inner.jobs.remove(&oldest);
            }
        }
        inner.order.push_back(id.clone());
        inner.jobs.insert(id, job);
        view
    }

    pub fn get(&self, id: &str) -> Option<JobView> {
        let inner = self.lock();
        let job = inner.jobs.get(id)?;
        Some(self.view(id, job, job.started.elapsed()))
    }

    /// Marks a pending or processing job cancelled. Unlike api.py, whose
    /// background task may later overwrite it, cancelled stays cancelled.
    pub fn cancel(&self, id: &str) -> Result<JobView, CancelError> {
        let mut inner = self.lock();
        let job = inner.jobs.get_mut(id).ok_or(CancelError::NotFound)?;
        let elapsed = job.started.elapsed();
        let current = self.view(id, job, elapsed);
        if current.status.is_final() {
            return Err(CancelError::AlreadyFinal(current.status));
        }
        job.cancelled = Some((SystemTime::now(), current.progress));
        Ok(self.view(id, job, elapsed))
    }

    /// Up to `limit` jobs, newest first.
    pub fn list(&self, limit: usize) -> Vec<JobView> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .rev()
            .take(limit)
            .filter_map(|id| {
                let job = inner.jobs.get(id)?;
                Some(self.view(id, job, job.started.elapsed()))
            })
            .collect()
    }

    fn view(&self, id: &str, job: &Job, elapsed: Duration) -> JobView {
        if let Some((at, progress)) = job.cancelled {
            return JobView {
                id: id.to_owned(),
                status: JobStatus::Cancelled,
                created_at: job.created_at,
                updated_at: at,
                progress,
                result: None,
                error: None,
            };
        }
        let (status, progress, since) = stage(elapsed, self.duration, job.failure.is_some());
        let updated_at = job.created_at + since;
        let result = (status == JobStatus::Completed).then(|| {
            let name = if job.speakers > 1 {
                format!(
                    "multitalk_{}person_{}",
                    job.speakers,
                    clock::compact(updated_at)
                )
            } else {
                format!("multitalk_cuda_{}", clock::compact(updated_at))
            };
            JobResult {
                success: true,
                s3_output: format!("s3://{}/{}{name}.mp4", job.output_bucket, job.output_prefix),
                duration: f64::from(FRAMES) / FPS,
                frames: FRAMES,
                processing_time: self.duration.as_secs_f64(),
            }
        });
        JobView {
            id: id.to_owned(),
            status,
            created_at: job.created_at,
            updated_at,
            progress,
            result,
            error: (status == JobStatus::Failed)
                .then(|| job.failure.clone())
                .flatten(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::GenerationOptions;

    fn request(prompt: &str) -> GenerateRequest {
        GenerateRequest {
            prompt: prompt.to_owned(),
            image_s3_url: "s3://in-bucket/face.png".to_owned(),
            audio_s3_urls: vec!["s3://in-bucket/a.wav".to_owned()],
            output_s3_bucket: None,
            output_s3_prefix: "outputs/".to_owned(),
            webhook_url: None,
            options: GenerationOptions::default(),
        }
    }

    #[test]
    fn stages_follow_the_clock() {
        let d = Duration::from_secs(10);
        let ms = Duration::from_millis;
        assert_eq!(stage(ms(0), d, false), (JobStatus::Pending, 0, ms(0)));
        assert_eq!(stage(ms(999), d, false).0, JobStatus::Pending);
        assert_eq!(
            stage(ms(1000), d, false),
            (JobStatus::Processing, 10, ms(1000))
        );
        assert_eq!(
            stage(ms(3000), d, false),
            (JobStatus::Processing, 30, ms(3000))
        );
        assert_eq!(stage(ms(9999), d, false).1, 30);
        assert_eq!(stage(ms(10_000), d, false), (JobStatus::Completed, 100, d));
        assert_eq!(stage(ms(99_000), d, true), (JobStatus::Failed, 30, d));
        assert_eq!(stage(ms(0), Duration::ZERO, false).0, JobStatus::Completed);
    }

    #[test]
    fn completes_fails_and_cancels() {
        let instant = JobStore::new(Duration::ZERO, Some("FAIL".to_owned()));
        let done = instant.submit(&request("hello"));
        let done = instant.get(&done.id).unwrap();
        assert_eq!(done.status, JobStatus::Completed);
        let result = done.result.unwrap();
        assert!(result
            .s3_output
            .starts_with("s3://in-bucket/outputs/multitalk_cuda_"));
        assert_eq!(
            instant.cancel(&done.id),
            Err(CancelError::AlreadyFinal(JobStatus::Completed))
        );
        let failed = instant.submit(&request("please FAIL"));
        let failed = instant.get(&failed.id).unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        assert!(failed.error.unwrap().contains("FAIL"));
        assert_eq!(instant.cancel("nope"), Err(CancelError::NotFound));

        let slow = JobStore::new(Duration::from_secs(3600), None);
        let job = slow.submit(&request("x"));
        assert_eq!(job.status, JobStatus::Pending);
        assert_eq!(slow.cancel(&job.id).unwrap().status, JobStatus::Cancelled);
        assert_eq!(
            slow.cancel(&job.id),
            Err(CancelError::AlreadyFinal(JobStatus::Cancelled))
        );
    }

    #[test]
    fn lists_newest_first_and_evicts_oldest() {
        let store = JobStore::with_capacity(Duration::from_secs(60), None, 3);
        let ids: Vec<String> = (0..4).map(|_| store.submit(&request("x")).id).collect();
        let listed: Vec<String> = store.list(10).into_iter().map(|j| j.id).collect();
        assert_eq!(listed, [ids[3].clone(), ids[2].clone(), ids[1].clone()]);
        assert!(store.get(&ids[0]).is_none());
        assert_eq!(store.list(1).len(), 1);
    }
}
