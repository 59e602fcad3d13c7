//! Names derived from a request: job name, output location, idempotency token, execution name.
//! Each is deterministic, so a retried trigger derives the same ones and starts nothing twice.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::model::job::Trigger;

/// Where exports are written: fixed by the deployment, never chosen by a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportDestination {
    pub bucket: String,
    /// Key prefix without leading or trailing slash; may be empty.
    pub prefix: String,
    pub kms_key_id: String,
    pub data_access_role_arn: String,
}

impl ExportDestination {
    /// `s3://<bucket>/<prefix>/<path>`: every output location is under the configured bucket and
    /// prefix.
    fn uri_of(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}/{path}", self.bucket)
        } else {
            format!("s3://{}/{}/{path}", self.bucket, self.prefix)
        }
    }

    /// Whether a job of `datastore_id` that writes to `output_s3_uri` is this deployment's:
    /// every export it starts writes below `<bucket>/<prefix>/<datastoreId>/`, and no caller
    /// chooses a location. Jobs other tools started elsewhere are not this API's to show.
    pub fn holds(&self, datastore_id: &str, output_s3_uri: &str) -> bool {
        output_s3_uri.starts_with(&self.uri_of(&format!("{datastore_id}/")))
            && !output_s3_uri.split('/').any(|segment| segment == "..")
    }
}

/// `scheduled-2026-11-26-0200`, `api-cohort-42-2026-11-26-1412` or `api-2026-11-26-1412`:
/// at most 4 + 33 + 15 = 52 characters, within HealthLake's 64.
pub fn job_name(trigger: Trigger, label: Option<&str>, at: DateTime<Utc>) -> String {
    let stamp = at.format("%Y-%m-%d-%H%M");
    match (trigger, label) {
        (Trigger::Schedule, _) => format!("scheduled-{stamp}"),
        (Trigger::Api, Some(label)) => format!("api-{label}-{stamp}"),
        (Trigger::Api, None) => format!("api-{stamp}"),
    }
}

/// `s3://<bucket>/<prefix>/<datastoreId>/<yyyy>/<mm>/<dd>/`, always under the configured bucket.
pub fn output_s3_uri(
    destination: &ExportDestination,
    datastore_id: &str,
    at: DateTime<Utc>,
) -> String {
    destination.uri_of(&format!("{datastore_id}/{}/", at.format("%Y/%m/%d")))
}

/// `api-cohort-42-k1a2b3c4d5e6` or `api-k1a2b3c4d5e6`: an API export with an `Idempotency-Key`
/// is named after its ClientToken, not the time, so every retry of the key sends the same name.
pub fn keyed_job_name(label: Option<&str>, client_token: &str) -> String {
    let tag: String = client_token
        .trim_start_matches("key-")
        .chars()
        .take(12)
        .collect();
    match label {
        Some(label) => format!("api-{label}-k{tag}"),
        None => format!("api-k{tag}"),
    }
}

/// `s3://<bucket>/<prefix>/<datastoreId>/requests/<clientToken>/`: where an API export with an
/// `Idempotency-Key` is written, the same on every retry of the key whatever the day.
pub fn keyed_output_s3_uri(
    destination: &ExportDestination,
    datastore_id: &str,
    client_token: &str,
) -> String {
    destination.uri_of(&format!("{datastore_id}/requests/{client_token}/"))
}

/// Where HealthLake puts a job's files: `{S3Uri}/{DatastoreId}-FHIR_EXPORT-{JobId}/`. HealthLake
/// answers Describe with the S3Uri as given or with that folder already appended (AWS's
/// examples show both); either way the folder is named once.
pub fn export_folder_uri(output_s3_uri: &str, datastore_id: &str, job_id: &str) -> String {
    let base = output_s3_uri.trim_end_matches('/');
    let folder = format!("{datastore_id}-FHIR_EXPORT-{job_id}");
    if base.ends_with(&format!("/{folder}")) {
        format!("{base}/")
    } else {
        format!("{base}/{folder}/")
    }
}

/// `s3://<bucket>/<key>` as `(bucket, key)`; the key may be empty (`s3://bucket` or
/// `s3://bucket/`). `None` for anything else, or an empty bucket.
pub fn split_s3_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, key))
}

/// What makes two start requests "the same export".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource<'a> {
    /// A schedule's firing: the data store and the scheduled time.
    Schedule {
        datastore_id: &'a str,
        scheduled_time: DateTime<Utc>,
        /// What the schedule asks for beyond a full export (a `$export`'s canonical JSON), so
        /// two schedules of one data store at the same time are two exports; empty for `full`
        /// (whose tokens are unchanged by it).
        kind: &'a str,
    },
    /// An API caller's `Idempotency-Key`, scoped to the caller and the data store.
    IdempotencyKey {
        datastore_id: &'a str,
        caller: &'a str,
        key: &'a str,
    },
    /// No key: the API request itself (a client retry gets a new job; say so in the docs).
    Request { request_id: &'a str },
}

/// The StartFHIRExportJob ClientToken: `sched-`/`key-`/`req-` and 32 hex digits of a SHA-256
/// over the source, so it always matches `^[a-zA-Z0-9-]{1,64}$` whatever the inputs hold.
pub fn client_token(source: &TokenSource<'_>) -> String {
    let (kind, material) = match source {
        TokenSource::Schedule {
            datastore_id,
            scheduled_time,
            kind,
        } => {
            let mut material = format!("schedule\n{datastore_id}\n{}", scheduled_time.timestamp());
            if !kind.is_empty() {
                material.push('\n');
                material.push_str(kind);
            }
            ("sched", material)
        }
        TokenSource::IdempotencyKey {
            datastore_id,
            caller,
            key,
        } => ("key", format!("key\n{datastore_id}\n{caller}\n{key}")),
        TokenSource::Request { request_id } => ("req", format!("request\n{request_id}")),
    };
    let digest = Sha256::digest(material.as_bytes());
    format!("{kind}-{}", hex::encode(&digest[..16]))
}

/// A `$export` job's name: the base name and `-x` with 8 hex digits of its token, so the job of
/// one start is found by name (ListFHIRExportJobs) when the answer to its POST was lost. At most
/// 52 + 10 characters, within HealthLake's 64.
pub fn bulk_job_name(base: &str, token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    format!("{base}-x{}", &hex::encode(&digest[..4]))
}

/// One execution per job: a retried trigger gets ExecutionAlreadyExists instead of a second run.
pub fn execution_name(job_id: &str) -> String {
    let safe: String = job_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(72)
        .collect();
    format!("export-{safe}")
}

/// 32 hex digits of a SHA-256 over `material`: a stable, printable id for anything.
pub fn digest_hex(material: &str) -> String {
    hex::encode(&Sha256::digest(material.as_bytes())[..16])
}

/// A schedule's night: one execution per schedule, scheduled time and stores, so a retried
/// firing finds the night already started. `night-`, the time, and 16 hex digits of a SHA-256
/// over the schedule and what the night starts: 39 characters, within Step Functions' 80.
pub fn night_name(scheduled_time: DateTime<Utc>, schedule: &str, material: &str) -> String {
    let digest = Sha256::digest(format!("{schedule}\n{material}").as_bytes());
    format!(
        "night-{}-{}",
        scheduled_time.format("%Y%m%dT%H%M%SZ"),
        hex::encode(&digest[..8])
    )
}

/// The ARN Step Functions gives an execution of `state_machine_arn` named `name`.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::samples::at;

    fn destination(prefix: &str) -> ExportDestination {
        ExportDestination {
            bucket: "example-exports".into(),
            prefix: prefix.into(),
            kms_key_id: "key".into(),
            data_access_role_arn: "arn:aws:iam::123456789012:role/r".into(),
        }
    }

    #[test]
    fn job_names_say_what_started_them_and_when() {
        let when = at("2026-11-26T02:00:00Z");
        assert_eq!(
            job_name(Trigger::Schedule, None, when),
            "scheduled-2026-11-26-0200"
        );
        assert_eq!(
            job_name(Trigger::Api, Some("cohort-42"), when),
            "api-cohort-42-2026-11-26-0200"
        );
        assert_eq!(job_name(Trigger::Api, None, when), "api-2026-11-26-0200");
        let longest = job_name(Trigger::Api, Some(&"a".repeat(32)), when);
        assert!(longest.len() <= 64, "{}", longest.len());
    }

    #[test]
    fn output_uris_stay_under_the_configured_bucket_and_prefix() {
        let when = at("2026-01-05T23:59:59Z");
        assert_eq!(
            output_s3_uri(&destination("healthlake"), "store1", when),
            "s3://example-exports/healthlake/store1/2026/01/05/"
        );
        assert_eq!(
            output_s3_uri(&destination(""), "store1", when),
            "s3://example-exports/store1/2026/01/05/"
        );
    }

    #[test]
    fn the_export_folder_follows_healthlakes_layout() {
        assert_eq!(
            export_folder_uri("s3://b/p/store1/2026/01/05/", "store1", "job9"),
            "s3://b/p/store1/2026/01/05/store1-FHIR_EXPORT-job9/"
        );
        assert_eq!(
            export_folder_uri("s3://b/p", "store1", "job9"),
            "s3://b/p/store1-FHIR_EXPORT-job9/"
        );
        // Describe may answer with the folder already appended: it is not doubled.
        for answered in [
            "s3://b/p/store1/2026/01/05/store1-FHIR_EXPORT-job9",
            "s3://b/p/store1/2026/01/05/store1-FHIR_EXPORT-job9/",
        ] {
            assert_eq!(
                export_folder_uri(answered, "store1", "job9"),
                "s3://b/p/store1/2026/01/05/store1-FHIR_EXPORT-job9/"
            );
        }
    }

    #[test]
    fn s3_uris_split_into_bucket_and_key() {
        assert_eq!(
            split_s3_uri("s3://b/p/store1-FHIR_EXPORT-job9/"),
            Some(("b", "p/store1-FHIR_EXPORT-job9/"))
        );
        assert_eq!(
            split_s3_uri("s3://b/manifest.json"),
            Some(("b", "manifest.json"))
        );
        assert_eq!(split_s3_uri("s3://b"), Some(("b", "")));
        assert_eq!(split_s3_uri("s3://b/"), Some(("b", "")));
        for not_s3 in ["", "s3://", "s3:///key", "https://b/key", "b/key"] {
            assert_eq!(split_s3_uri(not_s3), None, "{not_s3}");
        }
    }

    #[test]
    fn keyed_names_come_from_the_token_not_the_time() {
        let token = "key-0123456789abcdef0123456789abcdef";
        assert_eq!(
            keyed_job_name(Some("cohort-42"), token),
            "api-cohort-42-k0123456789ab"
        );
        assert_eq!(keyed_job_name(None, token), "api-k0123456789ab");
        assert!(keyed_job_name(Some(&"a".repeat(32)), token).len() <= 64);
        assert_eq!(
            keyed_output_s3_uri(&destination("healthlake"), "store1", token),
            format!("s3://example-exports/healthlake/store1/requests/{token}/")
        );
        assert_eq!(
            keyed_output_s3_uri(&destination(""), "store1", token),
            format!("s3://example-exports/store1/requests/{token}/")
        );
    }

    #[test]
    fn a_fhir_export_job_is_named_after_its_token_within_healthlakes_limit() {
        let longest_base = keyed_job_name(Some(&"a".repeat(33)), "key-0123456789abcdef");
        let name = bulk_job_name(&longest_base, "key-0123456789abcdef");
        assert!(name.len() <= 64, "{name}");
        assert!(name.starts_with(&format!("{longest_base}-x")), "{name}");
        assert_eq!(name, bulk_job_name(&longest_base, "key-0123456789abcdef"));
        assert_ne!(name, bulk_job_name(&longest_base, "key-0123456789abcdee"));
        let base = job_name(
            Trigger::Api,
            Some(&"b".repeat(33)),
            at("2026-11-26T02:00:00Z"),
        );
        assert!(bulk_job_name(&base, "req-1").len() <= 64);
    }

    #[test]
    fn client_tokens_are_deterministic_distinct_and_well_formed() {
        let time = at("2026-11-26T02:00:00Z");
        let schedule = TokenSource::Schedule {
            datastore_id: "store1",
            scheduled_time: time,
            kind: "",
        };
        let tokens = [
            client_token(&schedule),
            client_token(&TokenSource::Schedule {
                datastore_id: "store2",
                scheduled_time: time,
                kind: "",
            }),
            client_token(&TokenSource::Schedule {
                datastore_id: "store1",
                scheduled_time: time,
                kind: r#"{"scope":"system","since":"last-success"}"#,
            }),
            client_token(&TokenSource::Schedule {
                datastore_id: "store1",
                scheduled_time: at("2026-11-27T02:00:00Z"),
                kind: "",
            }),
            client_token(&TokenSource::IdempotencyKey {
                datastore_id: "store1",
                caller: "arn:aws:iam::1:user/a",
                key: "k1",
            }),
            client_token(&TokenSource::IdempotencyKey {
                datastore_id: "store1",
                caller: "arn:aws:iam::1:user/b",
                key: "k1",
            }),
            client_token(&TokenSource::Request {
                request_id: "req-1",
            }),
        ];
        assert_eq!(
            client_token(&schedule),
            tokens[0],
            "same trigger, same token"
        );
        for (i, token) in tokens.iter().enumerate() {
            assert!((1..=64).contains(&token.len()));
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "{token}"
            );
            for other in &tokens[i + 1..] {
                assert_ne!(token, other);
            }
        }
        // The key material cannot be smuggled through: odd characters still give a valid token.
        let odd = client_token(&TokenSource::IdempotencyKey {
            datastore_id: "s",
            caller: "\u{0}\n",
            key: "../../etc",
        });
        assert!(odd.starts_with("key-") && odd.len() == 36, "{odd}");
    }

    #[test]
    fn execution_names_and_arns() {
        assert_eq!(execution_name("abc123"), "export-abc123");
        assert_eq!(execution_name("a b/c"), "export-abc");
        assert_eq!(
            execution_arn(
                "arn:aws:states:us-east-1:123456789012:stateMachine:export",
                "export-abc"
            ),
            "arn:aws:states:us-east-1:123456789012:execution:export:export-abc"
        );
    }

    #[test]
    fn a_deployment_holds_only_what_it_writes_below_its_prefix_and_store() {
        let ours = destination("healthlake");
        let store = "0123456789abcdef0123456789abcdef";
        let when = at("2026-11-26T02:00:00Z");
        assert!(ours.holds(store, &output_s3_uri(&ours, store, when)));
        assert!(ours.holds(store, &keyed_output_s3_uri(&ours, store, "key-abc")));
        assert!(ours.holds(
            store,
            &export_folder_uri(&output_s3_uri(&ours, store, when), store, "job1")
        ));
        for foreign in [
            format!("s3://example-exports/elsewhere/{store}/2026/11/26/"),
            format!("s3://example-exports/healthlake-old/{store}/"),
            format!("s3://example-exports-2/healthlake/{store}/"),
            "s3://example-exports/healthlake/second/2026/11/26/".to_string(),
            format!("s3://example-exports/healthlake/{store}/../second/"),
            "s3://example-exports/healthlake/".to_string(),
        ] {
            assert!(!ours.holds(store, &foreign), "{foreign}");
        }
        let unprefixed = destination("");
        assert!(unprefixed.holds(store, &format!("s3://example-exports/{store}/x/")));
        assert!(!unprefixed.holds(store, &format!("s3://example-exports/other/{store}/")));
    }
}
