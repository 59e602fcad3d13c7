use super::*;
use crate::samples::{completed_report, incremental_report, sample_summary};

/// tests/golden holds, for each sample, the JSON document (`notification-v1-<name>.json`) and
/// the e-mail text (`email-<name>.txt`) a subscriber receives, for a reader to see without
/// running anything. `UPDATE_GOLDEN=1 cargo test` rewrites them.
#[test]
fn the_body_and_the_email_match_their_golden_documents() {
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden");
    for (name, report) in [
        ("completed", completed_report()),
        ("incremental", incremental_report()),
    ] {
        let body = serde_json::to_string_pretty(&report).unwrap() + "\n";
        let email = report.email_text() + "\n";
        for (file, text) in [
            (format!("notification-v1-{name}.json"), &body),
            (format!("email-{name}.txt"), &email),
        ] {
            let path = golden.join(file);
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                std::fs::write(&path, text).unwrap();
            }
            let expected =
                std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            if path.extension().is_some_and(|e| e == "json") {
                let expected: serde_json::Value = serde_json::from_str(&expected).unwrap();
                assert_eq!(serde_json::to_value(&report).unwrap(), expected, "{path:?}");
            } else {
                assert_eq!(text, &expected, "{path:?}");
            }
        }
    }
}

#[test]
fn sizes_read_like_the_s3_console() {
    let cases = [
        (0, "0 bytes"),
        (999, "999 bytes"),
        (1_000, "1.0 KB"),
        (18_204, "18 KB"),
        (9_873_001, "9.9 MB"),
        (4_200_000_000_000_000, "4200 TB"),
    ];
    for (bytes, text) in cases {
        assert_eq!(human_bytes(bytes), text);
    }
}

#[test]
fn an_empty_export_says_no_files_and_a_missing_summary_says_why() {
    let empty = ExportSummary {
        files: 0,
        bytes: 0,
        resource_types: Default::default(),
        ..sample_summary()
    };
    let report = ExportReport {
        summary: Some(empty),
        ..completed_report()
    };
    let email = report.email_text();
    assert!(
        email.contains("no files: the export matched no resources"),
        "{email}"
    );
    assert!(!email.contains("Manifest:"), "{email}");
    let missing = ExportReport {
        summary: None,
        summary_error: Some("The export's files could not be listed".into()),
        ..completed_report()
    };
    let email = missing.email_text();
    assert!(
        email.contains("summary missing. The export's files could not"),
        "{email}"
    );
}

#[test]
fn subjects_are_ascii_single_line_and_at_most_100_characters() {
    for event in [
        Event::ExportFinished,
        Event::DeadlinePassed,
        Event::WorkflowFailed,
        Event::StartFailed,
    ] {
        let report = ExportReport {
            event,
            status: Some(JobStatus::Unknown("CANCEL_IN_PROGRESS".repeat(3))),
            datastore_id: "d\u{e9}j\u{e0}\nvu-".repeat(20),
            ..completed_report()
        };
        let subject = report.subject();
        assert!(subject.len() <= MAX_SUBJECT_LEN, "{subject}");
        assert!(
            subject.chars().all(|c| c.is_ascii_graphic() || c == ' '),
            "{subject:?}"
        );
    }
    assert_eq!(subject_line("short"), "short");
}

#[test]
fn failures_say_what_happened() {
    let report = ExportReport {
        event: Event::StartFailed,
        outcome: Outcome::Failed,
        status: None,
        job_id: None,
        output_s3_uri: None,
        message: Some("StartFHIRExportJob failed (AccessDeniedException)".into()),
        ..completed_report()
    };
    assert_eq!(
        report.subject(),
        "HealthLake export could not start: 0123456789abcdef0123456789abcdef"
    );
    let text = report.email_text();
    assert!(text.contains("could not be started"));
    assert!(text.contains("Job:        not started (scheduled-2026-11-26-0200)"));
    assert!(text.contains("AccessDeniedException"));
}
