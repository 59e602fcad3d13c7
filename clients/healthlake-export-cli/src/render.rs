//! What the client prints: the live display of a followed job, its plain lines, the end's
//! summary, a job and the list's table. Pure: strings from values.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::follow::Progress;

pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3_600, (s % 3_600) / 60),
    }
}

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn text<'a>(job: &'a Value, name: &str) -> &'a str {
    job.get(name).and_then(Value::as_str).unwrap_or("-")
}

/// A string field of an answer, `-` when absent.
pub fn text_of<'a>(job: &'a Value, name: &str) -> &'a str {
    text(job, name)
}

fn clock(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// `place 2 in the account queue; ahead: j0 (ds1, IN_PROGRESS)`, when the API says.
pub fn queue(queue: &Value) -> Option<String> {
    let place = queue.get("place").and_then(Value::as_u64)?;
    let ahead: Vec<String> = queue
        .get("ahead")
        .and_then(Value::as_array)
        .map(|jobs| {
            jobs.iter()
                .map(|j| {
                    format!(
                        "{} ({}, {})",
                        text(j, "jobId"),
                        text(j, "datastoreId"),
                        text(j, "status")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Some(if ahead.is_empty() {
        format!("place {place} in the account queue")
    } else {
        format!(
            "place {place} in the account queue; ahead: {}",
            ahead.join(", ")
        )
    })
}

/// The live display: redrawn in place on a terminal.
pub fn screen(progress: &Progress, now: DateTime<Utc>, next_look: Option<Duration>) -> Vec<String> {
    let job = &progress.job;
    let mut lines = vec![
        format!("export {}  {}", progress.job_id, text(job, "jobName")),
        format!(
            "  store     {}",
            progress.datastore_id.as_deref().unwrap_or("-")
        ),
    ];
    let status = progress.status().map_or("-", |s| s.as_str());
    lines.push(format!("  status    {status}"));
    let queued = progress
        .time_queued(now)
        .map_or_else(|| "-".to_string(), duration);
    match progress.queue().and_then(queue) {
        Some(place) => lines.push(format!("  queued    {queued}  ({place})")),
        None => lines.push(format!("  queued    {queued}")),
    }
    let running = progress
        .time_running(now)
        .map_or_else(|| "-".to_string(), duration);
    lines.push(format!("  running   {running}"));
    let steps: Vec<String> = progress
        .steps
        .iter()
        .map(|s| format!("{} {}", s.status, clock(s.seen_at)))
        .collect();
    lines.push(format!("  steps     {}", steps.join(" -> ")));
    match next_look {
        Some(wait) => lines.push(format!(
            "  next look in {}  ({} API calls so far)",
            duration(wait),
            progress.calls
        )),
        None => lines.push(format!("  API calls {}", progress.calls)),
    }
    lines
}

/// The display's lines cut to the terminal's width: a line that wrapped would take two rows,
/// and redrawing in place would then leave copies behind. The last column stays free, since
/// some terminals wrap on writing it.
pub fn fit(lines: &[String], width: usize) -> Vec<String> {
    let room = width.saturating_sub(1).max(1);
    lines
        .iter()
        .map(|line| {
            if line.chars().count() <= room {
                line.clone()
            } else {
                let mut cut: String = line.chars().take(room - 1).collect();
                cut.push('~');
                cut
            }
        })
        .collect()
}

/// A plain line for each change of status (output that is not a terminal).
pub fn plain_line(progress: &Progress, now: DateTime<Utc>) -> String {
    let mut line = format!(
        "{} {} {}",
        export_core::model::time::rfc3339(now),
        progress.job_id,
        progress.status().map_or("-", |s| s.as_str())
    );
    if let Some(queued) = progress.time_queued(now) {
        line.push_str(&format!(" queued {}", duration(queued)));
    }
    if let Some(running) = progress.time_running(now) {
        line.push_str(&format!(" running {}", duration(running)));
    }
    if let Some(place) = progress.queue().and_then(queue) {
        line.push_str(&format!(" ({place})"));
    }
    line
}

/// What an ended export wrote (the API's `summary`), or why it is not shown.
pub fn end(job: &Value) -> Vec<String> {
    let mut lines = vec![
        format!(
            "{} {}",
            text(job, "jobStatus"),
            match job.get("message").and_then(Value::as_str) {
                Some(message) if !message.is_empty() => format!("- {message}"),
                _ => String::new(),
            }
        )
        .trim_end()
        .to_string(),
    ];
    match job.get("summary").filter(|s| s.is_object()) {
        Some(summary) => {
            let n = |v: &Value, name: &str| v.get(name).and_then(Value::as_u64).unwrap_or(0);
            lines.push(format!(
                "  wrote     {} files, {} to {}",
                n(summary, "files"),
                bytes(n(summary, "bytes")),
                text(job, "outputS3Uri")
            ));
            if let Some(types) = summary.get("resourceTypes").and_then(Value::as_object) {
                let width = types.keys().map(String::len).max().unwrap_or(0);
                for (name, totals) in types {
                    lines.push(format!(
                        "    {name:<width$}  {:>4} files  {:>10}",
                        n(totals, "files"),
                        bytes(n(totals, "bytes"))
                    ));
                }
            }
            lines.push(format!("  manifest  {}", text(summary, "manifestS3Uri")));
        }
        None if matches!(
            text(job, "jobStatus"),
            "COMPLETED" | "COMPLETED_WITH_ERRORS"
        ) =>
        {
            lines.push(format!(
                "  files in  {} (the workflow's summary is not written yet: healthlake-export get {})",
                text(job, "outputS3Uri"),
                text(job, "jobId")
            ));
        }
        None => {}
    }
    lines
}

/// A job, as `get` shows it.
pub fn job(job: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for (label, name) in [
        ("job", "jobId"),
        ("name", "jobName"),
        ("status", "jobStatus"),
        ("data store", "datastoreId"),
        ("submitted", "submitTime"),
        ("ended", "endTime"),
        ("output", "outputS3Uri"),
        ("asked by", "requestedBy"),
        ("message", "message"),
    ] {
        if let Some(value) = job.get(name).and_then(Value::as_str) {
            lines.push(format!("{label:<11}{value}"));
        }
    }
    if let Some(place) = job.get("queue").and_then(queue) {
        lines.push(format!("{:<11}{place}", "queue"));
    }
    if job.get("summary").is_some_and(Value::is_object) {
        lines.extend(end(job).into_iter().skip(1));
    }
    lines
}

/// The list's table: one export a row, newest first as the API gives them.
pub fn table(exports: &[Value]) -> Vec<String> {
    let columns = [
        "jobId",
        "jobStatus",
        "datastoreId",
        "submitTime",
        "endTime",
        "jobName",
    ];
    let headers = ["JOB", "STATUS", "DATA STORE", "SUBMITTED", "ENDED", "NAME"];
    let rows: Vec<Vec<String>> = exports
        .iter()
        .map(|e| columns.iter().map(|c| text(e, c).to_string()).collect())
        .collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(headers.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + second, 0).unwrap()
    }

    #[test]
    fn durations_and_sizes_read_as_people_write_them() {
        assert_eq!(duration(Duration::from_secs(7)), "7s");
        assert_eq!(duration(Duration::from_secs(185)), "3m 05s");
        assert_eq!(duration(Duration::from_secs(7_320)), "2h 02m");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_234_567), "1.2 MB");
    }

    #[test]
    fn the_live_display_shows_status_times_steps_and_the_queue() {
        let mut progress = Progress::new("j1", at(0));
        progress.observe(
            &json!({"jobStatus": "QUEUED", "submitTime": "2026-09-21T13:33:20Z",
                    "datastoreId": "ds1", "jobName": "api-x",
                    "queue": {"place": 2, "ahead": [{"jobId": "j0", "datastoreId": "ds2",
                              "status": "IN_PROGRESS", "submitTime": "2026-09-21T13:30:00Z"}]}}),
            at(0),
        );
        progress.calls = 2;
        let screen = screen(&progress, at(0), Some(Duration::from_secs(60)));
        let text = screen.join("\n");
        assert!(text.contains("status    QUEUED"), "{text}");
        assert!(
            text.contains("place 2 in the account queue; ahead: j0 (ds2, IN_PROGRESS)"),
            "{text}"
        );
        assert!(
            text.contains("next look in 1m 00s  (2 API calls so far)"),
            "{text}"
        );
        assert!(text.contains("steps     QUEUED"), "{text}");
        let line = plain_line(&progress, at(0));
        assert!(line.contains(" j1 QUEUED"), "{line}");
        assert!(line.contains("place 2"), "{line}");
    }

    #[test]
    fn display_lines_never_reach_the_last_column() {
        let lines = vec!["x".repeat(100), "short".to_string()];
        let fitted = fit(&lines, 80);
        assert_eq!(fitted[0].chars().count(), 79);
        assert!(fitted[0].ends_with('~'));
        assert_eq!(fitted[1], "short");
        assert_eq!(
            fit(&["é".repeat(10)], 11)[0],
            "é".repeat(10),
            "counted in characters"
        );
    }

    #[test]
    fn the_end_shows_what_was_written_per_type() {
        let job = json!({"jobId": "j1", "jobStatus": "COMPLETED", "outputS3Uri": "s3://b/p/",
            "summary": {"files": 3, "bytes": 2_500, "manifestS3Uri": "s3://b/p/manifest.json",
                        "resourceTypes": {"Observation": {"files": 2, "bytes": 2_000},
                                          "Patient": {"files": 1, "bytes": 500}}}});
        let lines = end(&job);
        assert_eq!(lines[0], "COMPLETED");
        assert!(
            lines[1].contains("3 files, 2.5 KB to s3://b/p/"),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("Patient") && l.contains("500 B"))
        );
        assert!(lines.last().unwrap().contains("manifest.json"));
        let failed = end(&json!({"jobStatus": "FAILED", "message": "no access"}));
        assert_eq!(failed, ["FAILED - no access"]);
        let pending = end(&json!({"jobId": "j", "jobStatus": "COMPLETED", "summary": null}));
        assert!(
            pending[1].contains("healthlake-export get j"),
            "{pending:?}"
        );
    }

    #[test]
    fn the_table_aligns_its_columns_and_a_job_shows_its_fields() {
        let rows = table(&[
            json!({"jobId": "a", "jobStatus": "COMPLETED", "datastoreId": "ds1"}),
            json!({"jobId": "bbbb", "jobStatus": "QUEUED", "datastoreId": "ds2"}),
        ]);
        assert_eq!(rows.len(), 3);
        assert!(
            rows[0].starts_with("JOB   STATUS     DATA STORE"),
            "{rows:?}"
        );
        assert!(rows[1].starts_with("a     COMPLETED  ds1"), "{rows:?}");
        let shown = job(&json!({"jobId": "a", "jobStatus": "FAILED", "requestedBy": "arn:x"}));
        assert_eq!(
            shown,
            ["job        a", "status     FAILED", "asked by   arn:x"]
        );
    }
}
