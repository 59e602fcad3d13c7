//! Deployment settings, read and validated once when a function starts.
//!
//! Every setting comes from an environment variable (SAM parameters in AWS, the stack's
//! environment offline). A missing or malformed one fails the init with its name, so a bad
//! deployment is caught before the first export rather than in the middle of one.

use std::fmt;

mod vars;

use crate::model::naming::ExportDestination;
use crate::model::validate::{InvalidInput, is_account_id, quote_for_message};
use crate::wait::policy::{WaitPolicies, WaitPolicy};
use crate::wait::start_retry::StartRetryPolicy;
use vars::{Vars, is_bucket_name, is_prefix};

#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration: {} {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Clone, Debug, PartialEq)]
pub struct StartSettings {
    /// The data stores callers may export, in the configured order.
    pub datastore_ids: Vec<String>,
    pub destination: ExportDestination,
    pub announce: AnnounceSettings,
    /// The workflow that follows one export job (`STATE_MACHINE_ARN`).
    pub state_machine_arn: String,
    /// The workflow that starts a schedule's data stores one after another and sends the
    /// night's digest (`NIGHT_STATE_MACHINE_ARN`).
    pub night_state_machine_arn: String,
    /// Whether HealthLake's job events end waits early (`JOB_EVENTS`, default on).
    pub job_events: bool,
    /// The policy new executions follow: the fallback one under job events, else polling's.
    pub policy: WaitPolicy,
    /// How long a job may run once it has the account's export slot (`DEADLINE_SECONDS`).
    pub deadline_seconds: u32,
    /// How long a job may wait for the slot after its submission (`QUEUE_WAIT_SECONDS`).
    pub queue_wait_seconds: u32,
    /// When a night's refused start is tried again (`START_RETRY_FIRST_SECONDS`,
    /// `START_RETRY_MAX_SECONDS`, `START_RETRY_LIMIT_SECONDS`).
    pub start_retry: StartRetryPolicy,
    /// The job table (`JOB_TABLE_NAME`): `$export` start claims and high-water marks.
    pub table_name: String,
    /// Settings that were resolved rather than refused; `main` logs each at start-up.
    pub warnings: Vec<String>,
}

/// Where reports go: the team's topic, and the event bus automation listens on.
#[derive(Clone, Debug, PartialEq)]
pub struct AnnounceSettings {
    pub topic_arn: String,
    /// `EVENT_BUS_NAME`: a bus name or ARN; the account's `default` bus when unset.
    pub event_bus_name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PollSettings {
    pub announce: AnnounceSettings,
    /// Each execution follows the policy its `jobEvents` names.
    pub policies: WaitPolicies,
    /// The deployment's data stores (`DATASTORE_IDS`, optional here): where a job that waited
    /// too long looks for what was ahead of it in the account's queue.
    pub datastore_ids: Vec<String>,
    /// The job table (`JOB_TABLE_NAME`): where a completed `$export` moves its high-water mark.
    pub table_name: String,
    /// Settings that were resolved rather than refused; `main` logs each at start-up.
    pub warnings: Vec<String>,
}

pub const DEFAULT_DEADLINE_SECONDS: u32 = 43_200;
/// A day: a night of ten data stores, each exported in a few hours, fits.
pub const DEFAULT_QUEUE_WAIT_SECONDS: u32 = 86_400;

impl StartSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);

        let datastore_ids = vars.datastore_ids()?;

        let bucket = vars.required("EXPORT_BUCKET")?;
        if !is_bucket_name(&bucket) {
            return Err(ConfigError {
                variable: "EXPORT_BUCKET",
                problem: format!("must be an S3 bucket name, got {bucket:?}"),
            });
        }
        let prefix = vars
            .optional("EXPORT_PREFIX")
            .unwrap_or_default()
            .trim_matches('/')
            .to_string();
        if !prefix.is_empty() && !is_prefix(&prefix) {
            return Err(ConfigError {
                variable: "EXPORT_PREFIX",
                problem: "must be a plain key prefix (letters, digits, / - _ . and no empty or dot segments)".into(),
            });
        }

        let deadline_seconds = vars.positive("DEADLINE_SECONDS", DEFAULT_DEADLINE_SECONDS)?;

        let queue_wait_seconds = vars.positive("QUEUE_WAIT_SECONDS", DEFAULT_QUEUE_WAIT_SECONDS)?;
        let start_retry = vars.start_retry()?;

        let (policies, warnings) = vars.policies()?;
        let job_events = vars.flag("JOB_EVENTS", true)?;
        Ok(StartSettings {
            datastore_ids,
            destination: ExportDestination {
                bucket,
                prefix,
                kms_key_id: vars.required("KMS_KEY_ID")?,
                data_access_role_arn: vars.arn("DATA_ACCESS_ROLE_ARN", "iam", "role/")?,
            },
            announce: vars.announce()?,
            state_machine_arn: vars.arn("STATE_MACHINE_ARN", "states", "stateMachine:")?,
            night_state_machine_arn: vars.arn(
                "NIGHT_STATE_MACHINE_ARN",
                "states",
                "stateMachine:",
            )?,
            job_events,
            policy: *policies.for_job(job_events),
            deadline_seconds,
            queue_wait_seconds,
            start_retry,
            table_name: vars.table_name()?,
            warnings,
        })
    }
}

impl StartSettings {
    /// A requested data store, if the deployment allows it.
    pub fn allowed_datastore(&self, requested: &str, field: &str) -> Result<String, InvalidInput> {
        if self.datastore_ids.iter().any(|id| id == requested) {
            Ok(requested.to_string())
        } else {
            Err(InvalidInput::new(
                field,
                format!(
                    "{} is not a data store this deployment may export",
                    quote_for_message(requested)
                ),
            ))
        }
    }

    /// The data store when the request names none: only unambiguous with exactly one configured.
    pub fn sole_datastore(&self, what: &str) -> Result<String, InvalidInput> {
        match self.datastore_ids.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(InvalidInput::new(
                "datastoreId",
                format!("is required: {what} names no data store and several are configured"),
            )),
        }
    }

    /// The data store a request asks for (`field`), or the only one when it names none.
    pub fn requested_datastore(
        &self,
        requested: Option<&str>,
        field: &str,
        what: &str,
    ) -> Result<String, InvalidInput> {
        match requested {
            Some(id) => self.allowed_datastore(id, field),
            None => self.sole_datastore(what),
        }
    }
}

/// The job-events function's settings: where tokens are parked, which data stores it follows.
#[derive(Clone, Debug, PartialEq)]
pub struct JobEventsSettings {
    pub table_name: String,
    pub datastore_ids: Vec<String>,
}

impl JobEventsSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);
        Ok(JobEventsSettings {
            table_name: vars.table_name()?,
            datastore_ids: vars.datastore_ids()?,
        })
    }
}

/// The write-manifest function's settings: the region, for the manifest's `request` URL, and
/// what every S3 call sends so that a hardened bucket accepts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestSettings {
    /// `AWS_REGION`, which Lambda sets: the data stores' and the bucket's region.
    pub region: String,
    /// `EXPORT_KMS_KEY_ARN`: the deployment's key, the manifest's SSE-KMS key (the key the
    /// export files are written with), so a bucket whose default key is another one, or whose
    /// policy requires `x-amz-server-side-encryption`, still takes the manifest.
    pub kms_key_arn: String,
    /// `EXPORT_BUCKET_OWNER`: the account that must own the bucket (`ExpectedBucketOwner` on
    /// every call), so a bucket of the same name in another account is never read or written.
    pub bucket_owner: String,
}

impl ManifestSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);
        let region = vars.required("AWS_REGION")?;
        let valid = region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(ConfigError {
                variable: "AWS_REGION",
                problem: "must be a region name such as us-east-1".into(),
            });
        }
        let bucket_owner = vars.required("EXPORT_BUCKET_OWNER")?;
        if !is_account_id(&bucket_owner) {
            return Err(ConfigError {
                variable: "EXPORT_BUCKET_OWNER",
                problem: format!("must be a 12-digit AWS account id, got {bucket_owner:?}"),
            });
        }
        let kms_key_arn = vars.kms_key_arn("EXPORT_KMS_KEY_ARN", &region)?;
        Ok(ManifestSettings {
            region,
            kms_key_arn,
            bucket_owner,
        })
    }
}

impl PollSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);
        let (policies, warnings) = vars.policies()?;
        let datastore_ids = match vars.optional("DATASTORE_IDS") {
            Some(_) => vars.datastore_ids()?,
            None => Vec::new(),
        };
        Ok(PollSettings {
            announce: vars.announce()?,
            policies,
            datastore_ids,
            table_name: vars.table_name()?,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests;
