//! The job lifecycle over HTTP: submit, poll, download, cancel, list.

mod common;

use std::time::{Duration, Instant};

use common::{config, start};
use http::StatusCode;
use serde_json::{json, Value};

const RANK: [&str; 3] = ["pending", "processing", "completed"];

#[tokio::test]
async fn submit_then_poll_through_to_completed() {
    let server = start(config(Duration::from_millis(400))).await;
    let reply = server
        .post(
            "/api/v1/generate",
            &common::generate_body("Two people talk"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["status"], "pending");
    assert_eq!(reply.json["message"], "Job submitted successfully");
    assert!(reply.json["created_at"].as_str().unwrap().ends_with('Z'));
    let id = reply.json["job_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4");

    // Statuses and progress never go back, pass through processing, end completed.
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut seen: Vec<(String, u64)> = Vec::new();
    let last = loop {
        let reply = server.get(&format!("/api/v1/jobs/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let status = reply.json["status"].as_str().unwrap().to_owned();
        let progress = reply.json["progress"].as_u64().unwrap();
        if seen.last() != Some(&(status.clone(), progress)) {
            seen.push((status.clone(), progress));
        }
        if status == "completed" {
            break reply.json;
        }
        assert!(Instant::now() < deadline, "never completed: {seen:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let ranks: Vec<usize> = seen
        .iter()
        .map(|(s, _)| RANK.iter().position(|r| r == s).unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].1 <= w[1].1), "{seen:?}");
    assert!(seen.iter().any(|(s, _)| s == "processing"), "{seen:?}");
    assert!(seen.iter().all(|(_, p)| [0, 10, 30, 100].contains(p)));

    assert_eq!(last["job_id"], id.as_str());
    assert_eq!(last["progress"], 100);
    assert_eq!(last["error"], Value::Null);
    assert_eq!(last["metadata"], json!({}));
    let result = &last["result"];
    assert_eq!(result["success"], true);
    assert_eq!(result["frames"], 81);
    let s3_output = result["s3_output"].as_str().unwrap();
    assert!(
        s3_output.starts_with("s3://in-bucket/outputs/multitalk_cuda_")
            && s3_output.ends_with(".mp4"),
        "{s3_output}"
    );
    assert_ne!(last["updated_at"], last["created_at"]);

    let download = server
        .get(&format!("/api/v1/jobs/{id}/download?expiration=60"))
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.json["job_id"], id.as_str());
    assert_eq!(download.json["expires_in"], 60);
    assert_eq!(download.json["s3_uri"], s3_output);
    let url = download.json["download_url"].as_str().unwrap();
    assert!(url.starts_with("https://in-bucket.s3.amazonaws.com/outputs/multitalk_cuda_"));
    assert!(url.contains("X-Amz-Expires=60"));
    let default = server.get(&format!("/api/v1/jobs/{id}/download")).await;
    assert_eq!(default.json["expires_in"], 3600);

    let cancel = server.delete(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(cancel.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        cancel.json,
        json!({"detail": {"error": "Job cannot be cancelled", "detail": "Job is already completed", "request_id": null}})
    );
}

#[tokio::test]
async fn pending_jobs_cancel_once_and_never_download() {
    let server = start(config(Duration::from_secs(60))).await;
    let id = server.submit("slow").await;
    let status = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(status.json["status"], "pending");
    assert_eq!(status.json["progress"], 0);
    assert_eq!(status.json["result"], Value::Null);

    let download = server.get(&format!("/api/v1/jobs/{id}/download")).await;
    assert_eq!(download.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        download.json,
        json!({"detail": {"error": "Job not completed", "detail": "Job status is pending", "request_id": null}})
    );

    let cancel = server.delete(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert_eq!(
        cancel.json,
        json!({"job_id": id, "status": "cancelled", "message": "Job cancelled"})
    );
    let status = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(status.json["status"], "cancelled");

    let again = server.delete(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.json["detail"]["detail"], "Job is already cancelled");
    let download = server.get(&format!("/api/v1/jobs/{id}/download")).await;
    assert_eq!(download.json["detail"]["detail"], "Job status is cancelled");
}

#[tokio::test]
async fn prompts_with_the_marker_fail() {
    let mut cfg = config(Duration::ZERO);
    cfg.fail_prompts_containing = Some("[fail]".to_owned());
    let server = start(cfg).await;
    let failed = server.submit("please [fail] now").await;
    let ok = server.submit("fine").await;

    let status = server.get(&format!("/api/v1/jobs/{failed}")).await;
    assert_eq!(status.json["status"], "failed");
    assert_eq!(status.json["progress"], 30);
    assert_eq!(status.json["result"], Value::Null);
    assert!(status.json["error"].as_str().unwrap().contains("[fail]"));
    let cancel = server.delete(&format!("/api/v1/jobs/{failed}")).await;
    assert_eq!(cancel.json["detail"]["detail"], "Job is already failed");

    let status = server.get(&format!("/api/v1/jobs/{ok}")).await;
    assert_eq!(status.json["status"], "completed");
}

#[tokio::test]
async fn unknown_jobs_are_404_in_api_py_shapes() {
    let server = start(config(Duration::ZERO)).await;
    let status = server.get("/api/v1/jobs/nope").await;
    assert_eq!(status.status, StatusCode::NOT_FOUND);
    assert_eq!(
        status.json,
        json!({"detail": {"error": "Job not found", "detail": "No job with ID nope", "request_id": "nope"}})
    );
    let null_detail =
        json!({"detail": {"error": "Job not found", "detail": null, "request_id": null}});
    let cancel = server.delete("/api/v1/jobs/nope").await;
    assert_eq!(cancel.status, StatusCode::NOT_FOUND);
    assert_eq!(cancel.json, null_detail);
    let download = server.get("/api/v1/jobs/nope/download").await;
    assert_eq!(download.status, StatusCode::NOT_FOUND);
    assert_eq!(download.json, null_detail);
}

#[tokio::test]
async fn list_is_newest_first_and_limited() {
    let server = start(config(Duration::from_secs(60))).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(server.submit(&format!("job {i}")).await);
    }
    server.delete(&format!("/api/v1/jobs/{}", ids[11])).await;
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();

    let list = server.get("/api/v1/jobs").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json["count"], 10);
    let listed: Vec<&str> = list.json["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, newest_first[..10]);
    let first = &list.json["jobs"][0];
    assert_eq!(first["status"], "cancelled");
    assert_eq!(list.json["jobs"][1]["status"], "pending");
    assert!(first["created_at"].as_str().unwrap().ends_with("+00:00"));
    let mut keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "job_id", "status", "updated_at"]);

    let three = server.get("/api/v1/jobs?limit=3").await;
    assert_eq!(three.json["count"], 3);
    assert_eq!(three.json["jobs"][2]["job_id"], newest_first[2]);
    let all = server.get("/api/v1/jobs?limit=100").await;
    assert_eq!(all.json["count"], 12);
    let none = server.get("/api/v1/jobs?limit=0").await;
    assert_eq!(none.json, json!({"jobs": [], "count": 0}));

    let bad = server.get("/api/v1/jobs?limit=ten").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json["detail"][0]["loc"], json!(["query", "limit"]));
    assert_eq!(bad.json["detail"][0]["type"], "int_parsing");
}
