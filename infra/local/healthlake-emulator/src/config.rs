//! Command-line settings. Parsed by hand: a dozen flags do not justify an argument-parser crate.

use serde::{Deserialize, Serialize};

use crate::faults::{ArmedFault, Faults, OutcomeFault};
use crate::start_rate::StartRate;
use crate::validate::Violations;

pub const USAGE: &str = "\
healthlake-emulator: a local Amazon HealthLake (AWS JSON 1.0) for the offline stack

USAGE: healthlake-emulator [FLAGS]

  --port N                  TCP port on 127.0.0.1 (default 0: pick a free one)
  --region NAME             region used in ARNs and endpoints (default us-east-1)
  --account-id ID           12-digit account used in ARNs (default 123456789012)
  --submitted-ms N          how long a job stays SUBMITTED (default 1000)
  --in-progress-ms N        how long a job stays IN_PROGRESS before its output is written (default 3000)
  --cancel-ms N              how long a cancelled job is CANCEL_SUBMITTED, then CANCEL_IN_PROGRESS (default 500)
  --creating-ms N           how long a data store made by CreateFHIRDatastore is CREATING (default 1000)
  --describe-s3-uri given|jobFolder
                            S3Uri in Describe/ListFHIRExportJobs: as given at the start (default), or
                            with the job's folder <DatastoreId>-FHIR_EXPORT-<JobId>/ appended
  --patients N              synthetic patients per export (default 5)
  --seed N                  seed of the synthetic data (default 42)
  --output-sink s3|memory   where export output goes (default s3: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)
  --datastore ID            create an ACTIVE data store with this id at start (repeatable)
  --fault OP:KIND[:COUNT]   fail the next COUNT (default 1) calls of OP (a HealthLake operation or *)
                            with KIND throttle, internal, accessDenied or failedDependency
                            (StartFHIRExportJob only) (repeatable)
  --start-rate N/SECONDS|off
                            accept at most N export starts (StartFHIRExportJob and FHIR $export
                            together) in any SECONDS, beyond it ThrottlingException (default off)
  --next-job-outcome STATUS[:MESSAGE]
                            end the next job started with FAILED or COMPLETED_WITH_ERRORS (repeatable:
                            one job each, in order)
  -h, --help                print this help

Prints `listening on http://127.0.0.1:PORT` on stdout once ready; logs go to stderr (RUST_LOG).
";

/// Where export output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OutputSinkKind {
    S3,
    Memory,
}

/// What Describe/ListFHIRExportJobs report as a job's `S3Uri`: AWS's documentation shows both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum S3UriForm {
    /// The S3Uri as given to StartFHIRExportJob.
    #[default]
    Given,
    /// The S3Uri with the job's folder appended: `.../<DatastoreId>-FHIR_EXPORT-<JobId>/`.
    JobFolder,
}

impl S3UriForm {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "given" => Some(Self::Given),
            "jobFolder" => Some(Self::JobFolder),
            _ => None,
        }
    }
}

/// Settings of the job lifecycle and output; changeable at run time through the control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSettings {
    pub submitted_ms: u64,
    pub in_progress_ms: u64,
    /// How long a cancelled job is CANCEL_SUBMITTED, and then CANCEL_IN_PROGRESS.
    pub cancel_ms: u64,
    /// How long a data store made by CreateFHIRDatastore is CREATING.
    pub creating_ms: u64,
    /// The S3Uri form of jobs started from now on.
    pub describe_s3_uri: S3UriForm,
    pub patients: u32,
    pub seed: u64,
    /// Least time between two accepted FHIR REST cancels (HealthLake: one per second per
    /// account); 0 turns the limit off.
    pub rest_cancel_interval_ms: u64,
    /// The account's export start rate (see [`crate::start_rate`]).
    pub start_rate: StartRate,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            submitted_ms: 1000,
            in_progress_ms: 3000,
            cancel_ms: 500,
            creating_ms: 1000,
            describe_s3_uri: S3UriForm::Given,
            patients: 5,
            seed: 42,
            rest_cancel_interval_ms: 1000,
            start_rate: StartRate::Unlimited,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub port: u16,
    pub region: String,
    pub account_id: String,
    pub jobs: JobSettings,
    pub output_sink: OutputSinkKind,
    /// Data stores that exist from the start (and again after a reset).
    pub datastores: Vec<String>,
    /// Faults armed at start (and again after a reset).
    pub faults: Faults,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            port: 0,
            region: "us-east-1".to_string(),
            account_id: "123456789012".to_string(),
            jobs: JobSettings::default(),
            output_sink: OutputSinkKind::S3,
            datastores: Vec::new(),
            faults: Faults::default(),
        }
    }
}

impl Settings {
    /// Parses the arguments after the program name; `Ok(None)` means help was asked for.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Option<Self>, String> {
        let mut settings = Self::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                return Ok(None);
            }
            // Both `--flag value` and `--flag=value`.
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--port" => settings.port = number(&flag, &value()?)?,
                "--region" => settings.region = value()?,
                "--account-id" => settings.account_id = value()?,
                "--submitted-ms" => settings.jobs.submitted_ms = number(&flag, &value()?)?,
                "--in-progress-ms" => settings.jobs.in_progress_ms = number(&flag, &value()?)?,
                "--cancel-ms" => settings.jobs.cancel_ms = number(&flag, &value()?)?,
                "--creating-ms" => settings.jobs.creating_ms = number(&flag, &value()?)?,
                "--describe-s3-uri" => {
                    let form = value()?;
                    settings.jobs.describe_s3_uri = S3UriForm::parse(&form).ok_or_else(|| {
                        format!("--describe-s3-uri must be given or jobFolder, not '{form}'")
                    })?;
                }
                "--patients" => settings.jobs.patients = number(&flag, &value()?)?,
                "--seed" => settings.jobs.seed = number(&flag, &value()?)?,
                "--output-sink" => {
                    settings.output_sink = match value()?.as_str() {
                        "s3" => OutputSinkKind::S3,
                        "memory" => OutputSinkKind::Memory,
                        other => {
                            return Err(format!(
                                "--output-sink must be s3 or memory, not '{other}'"
                            ));
                        }
                    }
                }
                "--start-rate" => {
                    settings.jobs.start_rate =
                        StartRate::parse(&value()?).map_err(|e| format!("--start-rate: {e}"))?;
                }
                "--datastore" => settings.datastores.push(value()?),
                "--fault" => settings
                    .faults
                    .arm([ArmedFault::parse_error_flag(&value()?)?]),
                "--next-job-outcome" => settings.faults.arm([ArmedFault::job_outcome(
                    OutcomeFault::parse_flag(&value()?)?,
                    1,
                )?]),
                _ => return Err(format!("unknown argument '{flag}' (see --help)")),
            }
        }
        settings.check()?;
        Ok(Some(settings))
    }

    fn check(&self) -> Result<(), String> {
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "--account-id must be 12 digits, not '{}'",
                self.account_id
            ));
        }
        let region_ok = !self.region.is_empty()
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(format!("--region '{}' is not a region name", self.region));
        }
        for id in &self.datastores {
            let mut violations = Violations::new();
            violations.identifier(id, "datastoreId", 1, 32);
            violations
                .finish()
                .map_err(|e| format!("--datastore '{id}': {}", e.message()))?;
        }
        Ok(())
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} must be a non-negative number, not '{value}'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{ErrorKind, FaultEffect, ForcedOutcome};

    fn parse(args: &[&str]) -> Result<Option<Settings>, String> {
        Settings::from_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults() {
        let settings = parse(&[]).unwrap().unwrap();
        assert_eq!(settings, Settings::default());
        assert_eq!(settings.jobs.patients, 5);
        assert_eq!(settings.output_sink, OutputSinkKind::S3);
    }

    #[test]
    fn every_flag_in_both_spellings() {
        let settings = parse(&[
            "--port=0",
            "--region",
            "eu-west-3",
            "--account-id=111122223333",
            "--submitted-ms",
            "10",
            "--in-progress-ms=20",
            "--patients",
            "3",
            "--seed=7",
            "--cancel-ms=30",
            "--creating-ms",
            "40",
            "--describe-s3-uri=jobFolder",
            "--output-sink",
            "memory",
            "--datastore",
            "0123456789abcdef0123456789abcdef",
            "--fault",
            "StartFHIRExportJob:throttle:2",
            "--next-job-outcome=FAILED:no access to bucket",
            "--start-rate=1/60",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(settings.region, "eu-west-3");
        assert_eq!(settings.account_id, "111122223333");
        assert_eq!(
            settings.jobs,
            JobSettings {
                submitted_ms: 10,
                in_progress_ms: 20,
                cancel_ms: 30,
                creating_ms: 40,
                describe_s3_uri: S3UriForm::JobFolder,
                patients: 3,
                seed: 7,
                rest_cancel_interval_ms: 1000,
                start_rate: StartRate::Limited {
                    starts: 1,
                    interval: std::time::Duration::from_secs(60),
                },
            }
        );
        assert_eq!(settings.output_sink, OutputSinkKind::Memory);
        assert_eq!(settings.datastores, ["0123456789abcdef0123456789abcdef"]);
        assert_eq!(
            settings.faults.armed[0].effect,
            FaultEffect::Error {
                operation: "StartFHIRExportJob".into(),
                kind: ErrorKind::Throttle
            }
        );
        assert_eq!(settings.faults.armed[0].remaining, 2);
        let FaultEffect::JobOutcome(outcome) = &settings.faults.armed[1].effect else {
            panic!("{:?}", settings.faults.armed[1]);
        };
        assert_eq!(outcome.outcome, ForcedOutcome::Failed);
        assert_eq!(outcome.message, "no access to bucket");
    }

    #[test]
    fn help_and_errors() {
        assert_eq!(parse(&["--help"]).unwrap(), None);
        for (args, hint) in [
            (&["--port"][..], "needs a value"),
            (&["--port", "x"][..], "non-negative number"),
            (&["--bogus"][..], "unknown argument"),
            (&["--account-id", "12"][..], "12 digits"),
            (&["--output-sink", "disk"][..], "s3 or memory"),
            (&["--describe-s3-uri", "x"][..], "given or jobFolder"),
            (
                &["--start-rate", "fast"][..],
                "--start-rate: start rate must be N/SECONDS",
            ),
            (&["--datastore", "bad,id"][..], "regular expression"),
            (
                &["--datastore", &"a".repeat(33)][..],
                "less than or equal to 32",
            ),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(hint), "{args:?}: {err}");
        }
    }
}
