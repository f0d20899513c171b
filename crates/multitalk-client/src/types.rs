//! Requests and responses of the job API (`spec/multitalk-api.md` §1,
//! "Endpoints", "Generate request schema", "Result object").
//!
//! Responses are decoded leniently: only `job_id` and `status` are required
//! where the API always sends them; every other field is optional and a field
//! of a surprising type reads as absent instead of failing the whole response
//! (a status poll must not break because the backend added or changed a
//! result field). Fields this crate does not know are kept in `extra`.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::Error;

/// At most this many audio URLs per job (api.py's `MAX_AUDIO_FILES`).
pub const MAX_AUDIO_FILES: usize = 5;

/// `POST /api/v1/generate`'s body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub prompt: String,
    /// `s3://bucket/key` of the face image.
    pub image_s3_url: String,
    /// One `s3://bucket/key` per speaker (1 to [`MAX_AUDIO_FILES`]; the model
    /// itself uses at most two).
    pub audio_s3_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_s3_bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_s3_prefix: Option<String>,
    /// Accepted by the API, but its webhooks are never delivered (spec §1,
    /// "Webhooks"): poll with [`Client::wait`](crate::Client::wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(default, skip_serializing_if = "GenerationOptions::is_empty")]
    pub options: GenerationOptions,
}

impl GenerateRequest {
    /// A request with the three required fields and the API's defaults.
    pub fn new(
        prompt: impl Into<String>,
        image_s3_url: impl Into<String>,
        audio_s3_urls: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        GenerateRequest {
            prompt: prompt.into(),
            image_s3_url: image_s3_url.into(),
            audio_s3_urls: audio_s3_urls.into_iter().map(Into::into).collect(),
            output_s3_bucket: None,
            output_s3_prefix: None,
            webhook_url: None,
            options: GenerationOptions::default(),
        }
    }

    /// `options.sample_steps` (10–50; the API's default is 20).
    pub fn sample_steps(mut self, steps: u32) -> Self {
        self.options.sample_steps = Some(steps);
        self
    }

    pub fn resolution(mut self, resolution: Resolution) -> Self {
        self.options.resolution = Some(resolution);
        self
    }

    pub fn audio_type(mut self, audio_type: AudioType) -> Self {
        self.options.audio_type = Some(audio_type);
        self
    }

    /// Checks what the API would refuse with a 422 before a GPU job is paid
    /// for: `s3://bucket/key` URLs and 1 to [`MAX_AUDIO_FILES`] audios, and
    /// the documented option ranges.
    pub fn validate(&self) -> Result<(), Error> {
        check_s3_url(&self.image_s3_url)
            .map_err(|message| Error::invalid("image_s3_url", message))?;
        if self.audio_s3_urls.is_empty() {
            return Err(Error::invalid(
                "audio_s3_urls",
                "at least one audio URL is required",
            ));
        }
        if self.audio_s3_urls.len() > MAX_AUDIO_FILES {
            return Err(Error::invalid(
                "audio_s3_urls",
                format!(
                    "{} audio URLs given; the API takes at most {MAX_AUDIO_FILES}",
                    self.audio_s3_urls.len()
                ),
            ));
        }
        for url in &self.audio_s3_urls {
            check_s3_url(url).map_err(|message| Error::invalid("audio_s3_urls", message))?;
        }
        let o = &self.options;
        if let Some(steps) = o.sample_steps {
            if !(10..=50).contains(&steps) {
                return Err(Error::invalid(
                    "options.sample_steps",
                    format!("{steps} is outside 10–50"),
                ));
            }
        }
        if let Some(cfg) = o.audio_cfg {
            if !(3.0..=5.0).contains(&cfg) {
                return Err(Error::invalid(
                    "options.audio_cfg",
                    format!("{cfg} is outside 3.0–5.0"),
                ));
            }
        }
        if let Some(cc) = o.color_correction {
            if !(0.0..=1.0).contains(&cc) {
                return Err(Error::invalid(
                    "options.color_correction",
                    format!("{cc} is outside 0–1"),
                ));
            }
        }
        Ok(())
    }
}

/// Why `url` is not an `s3://bucket/key` URL the API accepts (spec §1: "Must
/// start with `s3://` and include bucket and key; otherwise 422").
pub fn check_s3_url(url: &str) -> Result<(), String> {
    if let Some(rest) = url.strip_prefix("s3://") {
        return match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(()),
            _ => Err(format!(
                "{url:?} names no bucket and key; the API takes s3://bucket/key"
            )),
        };
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Err(format!(
            "{url:?} is an http(s) URL; the MultiTalk API takes s3://bucket/key URLs only"
        ))
    } else {
        Err(format!(
            "{url:?} is not an s3:// URL; the MultiTalk API takes s3://bucket/key URLs only \
             (it has no upload endpoint: copy local files to S3 first, e.g. `aws s3 cp FILE s3://BUCKET/KEY`)"
        ))
    }
}

/// `options` of a generate request; unset fields take the API's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_steps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_type: Option<AudioType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_cfg: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_correction: Option<f64>,
}

impl GenerationOptions {
    pub fn is_empty(&self) -> bool {
        *self == GenerationOptions::default()
    }
}

/// `options.resolution`. The real backend ignores it (spec §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolution {
    #[serde(rename = "480p")]
    P480,
    #[serde(rename = "720p")]
    P720,
}

/// `options.audio_type`: `add` takes turns, `para` speaks at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioType {
    Add,
    Para,
}

/// A job's status. Statuses this crate does not know are kept as
/// [`JobStatus::Other`] and treated as still running.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
    Other(String),
}

impl JobStatus {
    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Other(s) => s,
        }
    }

    /// Completed or failed. `cancelled` is not final on the real API: the GPU
    /// run goes on and may overwrite it (spec §1, "DELETE only changes the
    /// stored status"), so [`Client::wait`](crate::Client::wait) keeps
    /// polling a cancelled job for a while.
    pub fn is_final(&self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed)
    }
}

impl From<&str> for JobStatus {
    fn from(s: &str) -> Self {
        match s {
            "pending" => JobStatus::Pending,
            "processing" => JobStatus::Processing,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            other => JobStatus::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JobStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Anything but a string (a null, a number) is an unknown status.
        Ok(match Value::deserialize(d)? {
            Value::String(s) => JobStatus::from(s.as_str()),
            other => JobStatus::Other(other.to_string()),
        })
    }
}

/// The answer to a generate: 200 (not 202) with the new job's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    pub job_id: String,
    #[serde(default = "pending")]
    pub status: JobStatus,
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn pending() -> JobStatus {
    JobStatus::Pending
}

/// `GET /api/v1/jobs/{job_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: String,
    pub status: JobStatus,
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub updated_at: Option<String>,
    /// 0, 10, 30 or 100 on the real API, and 30 for minutes while the model
    /// runs (spec §1): not a measure of time left.
    #[serde(default, deserialize_with = "lenient_percent")]
    pub progress: Option<u8>,
    #[serde(default, deserialize_with = "lenient")]
    pub result: Option<JobResult>,
    /// On failure; can hold the model's whole stderr.
    #[serde(default, deserialize_with = "lenient_text")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Job {
    /// The output video's `s3://` URI, once completed.
    pub fn output(&self) -> Option<&str> {
        self.result.as_ref()?.s3_output.as_deref()
    }
}

/// A completed job's `result`. The real backend sends `success, s3_output,
/// local_output, video_size, audio_duration, image_original, image_resized,
/// gpu, attention` (plus `num_speakers, audio_durations, max_duration,
/// audio_mode` for several speakers); the documented test stub sends
/// `success, s3_output, duration, frames, processing_time`. Both read here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub success: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_output: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub video_size: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub audio_duration: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub gpu: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub num_speakers: Option<u32>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub frames: Option<u64>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub processing_time: Option<f64>,
    /// `local_output`, `image_original`, `attention`, … as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET /api/v1/jobs?limit=N`: newest first, no cursor, no progress or result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobList {
    #[serde(default)]
    pub jobs: Vec<JobSummary>,
    #[serde(default, deserialize_with = "lenient")]
    pub count: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of [`JobList`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub job_id: String,
    pub status: JobStatus,
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub updated_at: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `DELETE /api/v1/jobs/{job_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancelled {
    pub job_id: String,
    #[serde(default = "cancelled")]
    pub status: JobStatus,
    #[serde(default, deserialize_with = "lenient")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn cancelled() -> JobStatus {
    JobStatus::Cancelled
}

/// `GET /api/v1/jobs/{job_id}/download?expiration=N`: a presigned S3 GET,
/// fetched without the API's credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadUrl {
    pub job_id: String,
    pub download_url: String,
    #[serde(default, deserialize_with = "lenient")]
    pub expires_in: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub s3_uri: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub timestamp: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A field of the wrong type reads as `None` instead of failing the response.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// A percentage given as an integer or a float (clamped to 0–100).
fn lenient_percent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(value
        .as_f64()
        .filter(|p| p.is_finite())
        .map(|p| p.clamp(0.0, 100.0).round() as u8))
}

/// Text, or anything else written out as JSON (an `error` that is an object).
fn lenient_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_serialises_only_what_is_set() {
        let req = GenerateRequest::new("hi", "s3://b/i.png", ["s3://b/a.wav"]);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"prompt":"hi","image_s3_url":"s3://b/i.png","audio_s3_urls":["s3://b/a.wav"]})
        );
        let req = req.sample_steps(12).audio_type(AudioType::Para);
        assert_eq!(
            serde_json::to_value(&req).unwrap()["options"],
            json!({"sample_steps":12,"audio_type":"para"})
        );
        assert!(req.validate().is_ok());
    }

    #[test]
    fn validation_refuses_what_the_api_refuses() {
        let bad = |req: GenerateRequest| req.validate().unwrap_err().to_string();
        assert!(bad(GenerateRequest::new("p", "./face.png", ["s3://b/a"])).contains("s3://"));
        assert!(bad(GenerateRequest::new("p", "https://x/y.png", ["s3://b/a"])).contains("http"));
        assert!(bad(GenerateRequest::new("p", "s3://bucket", ["s3://b/a"])).contains("bucket"));
        assert!(bad(GenerateRequest::new("p", "s3://b/i", Vec::<String>::new())).contains("audio"));
        assert!(
            bad(GenerateRequest::new("p", "s3://b/i", vec!["s3://b/a"; 6])).contains("at most 5")
        );
        assert!(bad(GenerateRequest::new("p", "s3://b/i", ["a.wav"])).contains("aws s3 cp"));
        assert!(
            bad(GenerateRequest::new("p", "s3://b/i", ["s3://b/a"]).sample_steps(60))
                .contains("10–50")
        );
    }

    #[test]
    fn jobs_decode_leniently() {
        let job: Job = serde_json::from_value(json!({
            "job_id": "j", "status": "completed", "created_at": "t", "updated_at": "u",
            "progress": 100.0, "error": null, "metadata": {},
            "result": {"success": true, "s3_output": "s3://b/o.mp4", "video_size": 12345,
                       "gpu": {"name": "a100"}, "attention": "sdpa", "num_speakers": 2}
        }))
        .unwrap();
        assert_eq!(job.status, JobStatus::Completed);
        assert_eq!(job.progress, Some(100));
        assert_eq!(job.output(), Some("s3://b/o.mp4"));
        let result = job.result.unwrap();
        assert_eq!(result.video_size, Some(12345.0));
        assert_eq!(result.gpu, None, "a surprising type reads as absent");
        assert_eq!(result.extra["attention"], "sdpa");

        let odd: Job = serde_json::from_value(json!({
            "job_id": "j", "status": "queued", "progress": "n/a", "result": "weird",
            "error": {"trace": "x"}
        }))
        .unwrap();
        assert_eq!(odd.status, JobStatus::Other("queued".into()));
        assert!(!odd.status.is_final());
        assert_eq!(odd.progress, None);
        assert_eq!(odd.result, None);
        assert_eq!(odd.error.as_deref(), Some(r#"{"trace":"x"}"#));
        assert!(!JobStatus::Cancelled.is_final());
    }
}
