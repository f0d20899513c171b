//! The MultiTalk job API (`/api/v1/...`), as api.py answers it. Each handler
//! follows FastAPI's order: body decoding, then authentication, then
//! parameter and body validation, then the endpoint itself.

use std::time::SystemTime;

use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use crate::auth::authorize;
use crate::clock;
use crate::jobs::{CancelError, JobResult, JobStatus, JobStore};
use crate::response::{json, ApiError, HttpResponse, ValidationIssue};
use crate::validate::{decode_body, generate_request, parse_s3_url};
use crate::UpstreamConfig;

/// Shown by the health endpoint and the docs page: nobody should mistake this
/// server for the real one.
pub const STAND_IN_NOTE: &str =
    "multitalk-upstream: a development stand-in for the MultiTalk job API; it does not run the model";

/// What the API handlers share.
pub struct Api {
    pub config: UpstreamConfig,
    pub jobs: JobStore,
}

impl Api {
    pub fn new(config: UpstreamConfig) -> Api {
        let jobs = JobStore::new(config.job_duration, config.fail_prompts_containing.clone());
        Api { config, jobs }
    }

    /// Routes one request. Path first, then method, as Starlette does: a
    /// known path with the wrong method is 405, an unknown path 404.
    pub fn handle(&self, parts: &Parts, body: &Bytes) -> HttpResponse {
        self.route(parts, body)
            .unwrap_or_else(ApiError::into_response)
    }

    fn route(&self, parts: &Parts, body: &Bytes) -> Result<HttpResponse, ApiError> {
        let method = &parts.method;
        // Starlette answers HEAD wherever it answers GET.
        let get = method == Method::GET || method == Method::HEAD;
        let path = parts.uri.path();
        let Some(rest) = path.strip_prefix("/api/v1") else {
            return match path {
                "/" if get => Ok(redirect("/api/v1/docs")),
                "/" => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
                _ => Err(ApiError::NotFound),
            };
        };
        let segments: Vec<&str> = rest
            .strip_prefix('/')
            .unwrap_or("\u{0}")
            .split('/')
            .collect();
        match segments.as_slice() {
            ["health"] if get => Ok(health()),
            ["docs"] if get => Ok(docs()),
            ["generate"] if method == Method::POST => self.generate(parts, body),
            ["jobs"] if get => self.list(parts),
            ["jobs", id] if !id.is_empty() && get => self.status(parts, id),
            ["jobs", id] if !id.is_empty() && method == Method::DELETE => self.cancel(parts, id),
            ["jobs", id, "download"] if !id.is_empty() && get => self.download(parts, id),
            ["health"] | ["docs"] | ["jobs"] => {
                Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" })
            }
            ["generate"] => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            ["jobs", id] if !id.is_empty() => Err(ApiError::MethodNotAllowed {
                allow: "DELETE, GET, HEAD",
            }),
            ["jobs", id, "download"] if !id.is_empty() => {
                Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" })
            }
            _ => Err(ApiError::NotFound),
        }
    }

    fn authorize(&self, parts: &Parts) -> Result<(), ApiError> {
        authorize(&parts.headers, &self.config.api_keys)
    }

    /// `POST /api/v1/generate`.
    fn generate(&self, parts: &Parts, body: &Bytes) -> Result<HttpResponse, ApiError> {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        // FastAPI decodes JSON before it runs dependencies, so malformed JSON
        // is a 422 even without credentials.
        let decoded = decode_body(content_type, body).map_err(ApiError::Validation)?;
        self.authorize(parts)?;
        let request = generate_request(decoded.as_ref()).map_err(ApiError::Validation)?;
        let job = self.jobs.submit(&request);

        #[derive(Serialize)]
        struct JobResponse<'a> {
            job_id: &'a str,
            status: JobStatus,
            created_at: String,
            message: &'static str,
        }
        Ok(json(
            StatusCode::OK,
            &JobResponse {
                job_id: &job.id,
                status: job.status,
                created_at: clock::iso_pydantic(job.created_at),
                message: "Job submitted successfully",
            },
        ))
    }

    /// `GET /api/v1/jobs/{job_id}`.
    fn status(&self, parts: &Parts, id: &str) -> Result<HttpResponse, ApiError> {
        self.authorize(parts)?;
        let job = self.jobs.get(id).ok_or_else(|| ApiError::JobNotFound {
            detail: Some(format!("No job with ID {id}")),
            request_id: Some(id.to_owned()),
        })?;

        #[derive(Serialize)]
        struct JobStatusResponse<'a> {
            job_id: &'a str,
            status: JobStatus,
            created_at: String,
            updated_at: String,
            progress: u8,
            result: Option<&'a JobResult>,
            error: Option<&'a str>,
            metadata: Value,
        }
        Ok(json(
            StatusCode::OK,
            &JobStatusResponse {
                job_id: &job.id,
                status: job.status,
                created_at: clock::iso_pydantic(job.created_at),
                updated_at: clock::iso_pydantic(job.updated_at),
                progress: job.progress,
                result: job.result.as_ref(),
                error: job.error.as_deref(),
                metadata: json!({}),
            },
        ))
    }

    /// `GET /api/v1/jobs/{job_id}/download?expiration=3600`.
    fn download(&self, parts: &Parts, id: &str) -> Result<HttpResponse, ApiError> {
        self.authorize(parts)?;
        let expiration = query_int(parts, "expiration")?.unwrap_or(3600);
        let job = self.jobs.get(id).ok_or(ApiError::JobNotFound {
            detail: None,
            request_id: None,
        })?;
        let s3_output = match (&job.status, &job.result) {
            (JobStatus::Completed, Some(result)) => result.s3_output.clone(),
            (status, _) => {
                // On Python 3.12 api.py's f-string would print
                // "JobStatus.PENDING"; the value is what a client can use.
                return Err(ApiError::BadRequest {
                    error: "Job not completed",
                    detail: format!("Job status is {}", status.as_str()),
                });
            }
        };
        #[derive(Serialize)]
        struct Download<'a> {
            job_id: &'a str,
            download_url: String,
            expires_in: i64,
            s3_uri: &'a str,
        }
        Ok(json(
            StatusCode::OK,
            &Download {
                job_id: &job.id,
                download_url: fake_presigned_url(&s3_output, expiration),
                expires_in: expiration,
                s3_uri: &s3_output,
            },
        ))
    }

    /// `DELETE /api/v1/jobs/{job_id}`.
    fn cancel(&self, parts: &Parts, id: &str) -> Result<HttpResponse, ApiError> {
        self.authorize(parts)?;
        #[derive(Serialize)]
        struct Cancelled<'a> {
            job_id: &'a str,
            status: JobStatus,
            message: &'static str,
        }
        match self.jobs.cancel(id) {
            Ok(job) => Ok(json(
                StatusCode::OK,
                &Cancelled {
                    job_id: &job.id,
                    status: job.status,
                    message: "Job cancelled",
                },
            )),
            Err(CancelError::NotFound) => Err(ApiError::JobNotFound {
                detail: None,
                request_id: None,
            }),
            Err(e @ CancelError::AlreadyFinal(_)) => Err(ApiError::BadRequest {
                error: "Job cannot be cancelled",
                detail: e.to_string(),
            }),
        }
    }

    /// `GET /api/v1/jobs?limit=10`. api.py's own list is always empty (a
    /// `modal.Dict` cannot be iterated); the stand-in lists what it has.
    fn list(&self, parts: &Parts) -> Result<HttpResponse, ApiError> {
        self.authorize(parts)?;
        let limit = query_int(parts, "limit")?.unwrap_or(10);
        let jobs = self.jobs.list(usize::try_from(limit).unwrap_or(0));

        #[derive(Serialize)]
        struct Item<'a> {
            job_id: &'a str,
            status: JobStatus,
            created_at: String,
            updated_at: String,
        }
        let items: Vec<Item<'_>> = jobs
            .iter()
            .map(|job| Item {
                job_id: &job.id,
                status: job.status,
                // Raw `isoformat()` strings here, not the pydantic form.
                created_at: clock::iso_python(job.created_at),
                updated_at: clock::iso_python(job.updated_at),
            })
            .collect();
        #[derive(Serialize)]
        struct List<'a> {
            jobs: Vec<Item<'a>>,
            count: usize,
        }
        Ok(json(
            StatusCode::OK,
            &List {
                count: items.len(),
                jobs: items,
            },
        ))
    }
}

/// `GET /api/v1/health`: api.py's body plus a note that this is the stand-in.
fn health() -> HttpResponse {
    #[derive(Serialize)]
    struct Health {
        status: &'static str,
        version: &'static str,
        timestamp: String,
        note: &'static str,
    }
    json(
        StatusCode::OK,
        &Health {
            status: "healthy",
            version: "v1",
            timestamp: clock::iso_pydantic(SystemTime::now()),
            note: STAND_IN_NOTE,
        },
    )
}

/// Stands in for Swagger UI at `/api/v1/docs`.
fn docs() -> HttpResponse {
    let html = format!(
        "<!doctype html><html><head><title>MeiGen-MultiTalk API (stand-in)</title></head><body>\
         <h1>MeiGen-MultiTalk API &mdash; development stand-in</h1><p>{STAND_IN_NOTE}.</p><ul>\
         <li>GET /api/v1/health</li><li>POST /api/v1/generate</li>\
         <li>GET /api/v1/jobs?limit=10</li><li>GET /api/v1/jobs/{{job_id}}</li>\
         <li>GET /api/v1/jobs/{{job_id}}/download?expiration=3600</li>\
         <li>DELETE /api/v1/jobs/{{job_id}}</li>\
         <li>GET, DELETE /_upstream/requests (test hooks)</li><li>GET /bench</li></ul></body></html>"
    );
    let mut response = http::Response::new(http_body_util::Full::new(Bytes::from(html)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// Starlette's `RedirectResponse`: 307 with an empty body.
fn redirect(location: &'static str) -> HttpResponse {
    let mut response = http::Response::new(http_body_util::Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    response
}

/// An integer query parameter as FastAPI reads one: the last occurrence wins;
/// a bad value is a 422 at `["query", name]`.
fn query_int(parts: &Parts, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(raw) = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .next_back()
    else {
        return Ok(None);
    };
    raw.trim().parse::<i64>().map(Some).map_err(|_| {
        ApiError::Validation(vec![ValidationIssue::new(
            "int_parsing",
            vec![json!("query"), json!(name)],
            "Input should be a valid integer, unable to parse string as an integer",
            json!(raw),
        )])
    })
}

/// A URL shaped like boto3's presigned GET, but not signed by anyone: the
/// signature is random and the object does not exist. Good for clients that
/// only pass the URL on.
fn fake_presigned_url(s3_uri: &str, expires_in: i64) -> String {
    let (bucket, key) = parse_s3_url(s3_uri).unwrap_or(("multitalk-outputs", "output.mp4"));
    let now = SystemTime::now();
    let amz_date = clock::amz_date(now);
    let signature: String = (0..4)
        .map(|_| format!("{:016x}", rand::random::<u64>()))
        .collect();
    format!(
        "https://{bucket}.s3.amazonaws.com/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=AKIASTANDINEXAMPLE%2F{date}%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Date={amz_date}&X-Amz-Expires={expires_in}&X-Amz-SignedHeaders=host\
         &X-Amz-Signature={signature}",
        date = &amz_date[..8],
    )
}
