//! What a person sees: a progress bar in a terminal, plain lines in a pipe.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use multitalk_client::{Job, JobList, JobStatus, WaitEvent};

/// How waiting is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// stdout is a terminal: an indicatif bar.
    Bar,
    /// stdout is a pipe or file: a line per change, and one a minute while
    /// nothing changes.
    Lines,
    /// `--json`: nothing until the final object.
    Quiet,
}

/// A line at least this often while a job shows no change.
const HEARTBEAT: Duration = Duration::from_secs(60);

pub struct Progress {
    style: Style,
    job_id: String,
    started: Instant,
    bar: Option<ProgressBar>,
    last: Option<(JobStatus, Option<u8>)>,
    last_line: Instant,
}

impl Progress {
    pub fn new(style: Style, job_id: &str, started: Instant) -> Progress {
        let bar = (style == Style::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(100), ProgressDrawTarget::stdout());
            let template = "{spinner} {prefix} [{elapsed_precise}] [{bar:30}] {pos:>3}% {wide_msg}";
            if let Ok(s) = ProgressStyle::with_template(template) {
                bar.set_style(s.progress_chars("=> "));
            }
            bar.set_prefix(format!("job {}", short_id(job_id)));
            bar.set_message("waiting for the first status");
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            style,
            job_id: job_id.to_owned(),
            started,
            bar,
            last: None,
            last_line: Instant::now(),
        }
    }

    pub fn event(&mut self, event: &WaitEvent<'_>) {
        match event {
            WaitEvent::Polled { job, .. } => self.polled(job),
            WaitEvent::CancelledNotFinal { remaining, .. } => {
                let text = format!(
                    "cancelled; watching {}s more in case the GPU run overwrites it",
                    remaining.as_secs()
                );
                if let Some(bar) = &self.bar {
                    bar.set_message(text);
                }
            }
            WaitEvent::Retrying { error, delay, .. } => {
                let what = match error.api() {
                    Some(api) => format!("{} {}", api.status, api.message),
                    None => error.to_string(),
                };
                let text = format!("{what}; polling again in {:.1}s", delay.as_secs_f64());
                match &self.bar {
                    Some(bar) => bar.set_message(text),
                    None => eprintln!("multitalk: job {}: {text}", self.job_id),
                }
            }
        }
    }

    fn polled(&mut self, job: &Job) {
        let state = (job.status.clone(), job.progress);
        let changed = self.last.as_ref() != Some(&state);
        self.last = Some(state);
        let percent = job.progress.unwrap_or(0);
        match self.style {
            Style::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(u64::from(percent));
                    bar.set_message(describe(job));
                }
            }
            Style::Lines => {
                if changed || self.last_line.elapsed() >= HEARTBEAT {
                    println!(
                        "[{}] job {}: {} ({percent}%){}",
                        elapsed(self.started.elapsed()),
                        job.job_id,
                        job.status,
                        if changed {
                            String::new()
                        } else {
                            " still".to_owned()
                        }
                    );
                    self.last_line = Instant::now();
                }
            }
            Style::Quiet => {}
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn describe(job: &Job) -> String {
    match (&job.status, job.progress) {
        (JobStatus::Processing, Some(30)) => {
            "processing: the model is running (30% for minutes is normal)".to_owned()
        }
        (status, _) => status.to_string(),
    }
}

/// The first block of a UUID.
fn short_id(id: &str) -> &str {
    id.split('-').next().filter(|s| !s.is_empty()).unwrap_or(id)
}

/// `1m05s`, `42s`.
pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s % 3600 / 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// The last `lines` lines of a long text (a failed job's `error` can be the
/// model's whole stderr).
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    if all.len() <= lines {
        return text.trim_end().to_owned();
    }
    format!(
        "(last {lines} of {} lines)\n{}",
        all.len(),
        all[all.len() - lines..].join("\n")
    )
}

pub fn print_job(job: &Job) {
    println!("job {}", job.job_id);
    match job.progress {
        Some(p) => println!("  status:   {} ({p}%)", job.status),
        None => println!("  status:   {}", job.status),
    }
    if let Some(t) = &job.created_at {
        println!("  created:  {t}");
    }
    if let Some(t) = &job.updated_at {
        println!("  updated:  {t}");
    }
    if let Some(output) = job.output() {
        println!("  output:   {output}");
    }
    if let Some(error) = &job.error {
        println!(
            "  error:    {}",
            tail(error, 20).replace('\n', "\n            ")
        );
    }
}

pub fn print_list(list: &JobList) {
    if list.jobs.is_empty() {
        println!("no jobs");
        return;
    }
    println!("{:<36}  {:<10}  CREATED", "JOB ID", "STATUS");
    for job in &list.jobs {
        println!(
            "{:<36}  {:<10}  {}",
            job.job_id,
            job.status.as_str(),
            job.created_at.as_deref().unwrap_or("")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(elapsed(Duration::from_secs(42)), "42s");
        assert_eq!(elapsed(Duration::from_secs(65)), "1m05s");
        assert_eq!(elapsed(Duration::from_secs(3725)), "1h02m05s");
        assert_eq!(short_id("8f3c2a10-aaaa-4bbb"), "8f3c2a10");
        assert_eq!(tail("a\nb\nc", 5), "a\nb\nc");
        assert_eq!(tail("a\nb\nc", 2), "(last 2 of 3 lines)\nb\nc");
    }
}
