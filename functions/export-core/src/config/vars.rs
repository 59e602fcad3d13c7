//! Reading the environment: each variable once, trimmed, parsed and validated, with an error
//! that names it. The settings in [`super`] are built from these readers.

use super::{AnnounceSettings, ConfigError};
use crate::model::validate::{is_account_id, is_datastore_id};
use crate::wait::policy::{WaitPolicies, WaitPolicy};
use crate::wait::start_retry::StartRetryPolicy;

/// Reads variables through `lookup`, so tests need not touch the process environment.
pub(super) struct Vars<F: Fn(&str) -> Option<String>>(pub(super) F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    pub(super) fn optional(&self, variable: &'static str) -> Option<String> {
        (self.0)(variable)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn required(&self, variable: &'static str) -> Result<String, ConfigError> {
        self.optional(variable).ok_or_else(|| ConfigError {
            variable,
            problem: "is not set".into(),
        })
    }

    pub(super) fn parsed<T: std::str::FromStr>(
        &self,
        variable: &'static str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.optional(variable) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|_| ConfigError {
                variable,
                problem: format!("must be {expected}, got {raw:?}"),
            }),
        }
    }

    pub(super) fn arn(
        &self,
        variable: &'static str,
        service: &str,
        resource: &str,
    ) -> Result<String, ConfigError> {
        let value = self.required(variable)?;
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let ok = parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == service
            && parts[5].starts_with(resource);
        if ok {
            Ok(value)
        } else {
            Err(ConfigError {
                variable,
                problem: format!("must be an ARN of the form arn:aws:{service}:...:{resource}..."),
            })
        }
    }

    /// A KMS key ARN (`arn:<partition>:kms:<region>:<account>:key/<id>`) in `region`: S3 takes
    /// an SSE-KMS key of the bucket's region only. An alias would be read at every call; the
    /// key itself is what a bucket policy names.
    pub(super) fn kms_key_arn(
        &self,
        variable: &'static str,
        region: &str,
    ) -> Result<String, ConfigError> {
        let value = self.arn(variable, "kms", "key/")?;
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let key_id = &parts[5]["key/".len()..];
        if !is_account_id(parts[4])
            || key_id.is_empty()
            || !key_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ConfigError {
                variable,
                problem: "must be a KMS key ARN of the form \
                          arn:aws:kms:<region>:<12-digit account>:key/<key id>"
                    .into(),
            });
        }
        if parts[3] != region {
            return Err(ConfigError {
                variable,
                problem: format!(
                    "is a key of region {:?}; S3 encrypts only with a key of the bucket's \
                     region {region:?}",
                    parts[3]
                ),
            });
        }
        Ok(value)
    }

    /// The topic (`TOPIC_ARN`) and the event bus (`EVENT_BUS_NAME`, default `default`: a name
    /// of 1-256 of `A-Za-z0-9._-/`, or an event bus ARN).
    pub(super) fn announce(&self) -> Result<AnnounceSettings, ConfigError> {
        let topic_arn = self.arn("TOPIC_ARN", "sns", "")?;
        let event_bus_name = match self.optional("EVENT_BUS_NAME") {
            None => "default".to_string(),
            Some(arn) if arn.starts_with("arn:") => {
                self.arn("EVENT_BUS_NAME", "events", "event-bus/")?
            }
            Some(name) => {
                let ok = name.len() <= 256
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
                if !ok {
                    return Err(ConfigError {
                        variable: "EVENT_BUS_NAME",
                        problem: "must be an event bus name (1-256 of A-Z a-z 0-9 . _ - /) or ARN"
                            .into(),
                    });
                }
                name
            }
        };
        Ok(AnnounceSettings {
            topic_arn,
            event_bus_name,
        })
    }

    /// Both wait policies, and a warning for each that had to be resolved
    /// (see [`WaitPolicy::resolved`]).
    pub(super) fn policies(&self) -> Result<(WaitPolicies, Vec<String>), ConfigError> {
        let defaults = WaitPolicies::default();
        let (polling, polling_warning) = self.policy(POLLING_VARIABLES, defaults.polling)?;
        let (fallback, fallback_warning) = self.policy(FALLBACK_VARIABLES, defaults.fallback)?;
        let warnings = polling_warning
            .into_iter()
            .chain(fallback_warning)
            .collect();
        Ok((WaitPolicies { polling, fallback }, warnings))
    }

    pub(super) fn policy(
        &self,
        [first, growth, max]: [&'static str; 3],
        defaults: WaitPolicy,
    ) -> Result<(WaitPolicy, Option<String>), ConfigError> {
        let policy = WaitPolicy {
            first_wait_seconds: self.parsed(
                first,
                defaults.first_wait_seconds,
                "a whole number of seconds",
            )?,
            growth_factor: self.parsed(growth, defaults.growth_factor, "a number such as 1.1")?,
            max_wait_seconds: self.parsed(
                max,
                defaults.max_wait_seconds,
                "a whole number of seconds",
            )?,
        };
        policy.validate().map_err(|problem| {
            // The policy's messages name the polling variables; say which ones were meant.
            let (variable, problem) = if problem.starts_with("WAIT_GROWTH_FACTOR") {
                (growth, problem.replacen("WAIT_GROWTH_FACTOR", growth, 1))
            } else {
                (first, problem.replacen("FIRST_WAIT_SECONDS", first, 1))
            };
            ConfigError { variable, problem }
        })?;
        let (policy, warning) = policy.resolved();
        let warning = warning.map(|w| {
            w.replacen("MAX_WAIT_SECONDS", max, 1)
                .replacen("FIRST_WAIT_SECONDS", first, 1)
        });
        Ok((policy, warning))
    }

    /// `DATASTORE_IDS`: the data stores this deployment exports, comma-separated.
    /// `JOB_TABLE_NAME`: the job table (interruptible waits, `$export` claims and marks).
    pub(super) fn table_name(&self) -> Result<String, ConfigError> {
        let table_name = self.required("JOB_TABLE_NAME")?;
        let valid = (3..=255).contains(&table_name.len())
            && table_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !valid {
            return Err(ConfigError {
                variable: "JOB_TABLE_NAME",
                problem: "must be a DynamoDB table name (3-255 letters, digits, _ - .)".into(),
            });
        }
        Ok(table_name)
    }

    pub(super) fn datastore_ids(&self) -> Result<Vec<String>, ConfigError> {
        let datastore_ids: Vec<String> = self
            .required("DATASTORE_IDS")?
            .split(',')
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty())
            .collect();
        if datastore_ids.is_empty() {
            return Err(ConfigError {
                variable: "DATASTORE_IDS",
                problem: "lists no data store".into(),
            });
        }
        if let Some(bad) = datastore_ids.iter().find(|id| !is_datastore_id(id)) {
            return Err(ConfigError {
                variable: "DATASTORE_IDS",
                problem: format!(
                    "has {bad:?}, which is not a data store id (1-32 letters or digits)"
                ),
            });
        }
        Ok(datastore_ids)
    }

    /// A whole number of seconds, at least 1.
    pub(super) fn positive(
        &self,
        variable: &'static str,
        default: u32,
    ) -> Result<u32, ConfigError> {
        let value = self.parsed(variable, default, "a whole number of seconds")?;
        if value == 0 {
            return Err(ConfigError {
                variable,
                problem: "must be at least 1".into(),
            });
        }
        Ok(value)
    }

    /// A night's start retries: waits from the first up to the cap, for at most the limit.
    pub(super) fn start_retry(&self) -> Result<StartRetryPolicy, ConfigError> {
        let defaults = StartRetryPolicy::default();
        let policy = StartRetryPolicy {
            first_wait_seconds: self
                .positive("START_RETRY_FIRST_SECONDS", defaults.first_wait_seconds)?,
            max_wait_seconds: self
                .positive("START_RETRY_MAX_SECONDS", defaults.max_wait_seconds)?,
            limit_seconds: self.positive("START_RETRY_LIMIT_SECONDS", defaults.limit_seconds)?,
        };
        if policy.max_wait_seconds < policy.first_wait_seconds {
            return Err(ConfigError {
                variable: "START_RETRY_MAX_SECONDS",
                problem: format!(
                    "must be at least START_RETRY_FIRST_SECONDS ({})",
                    policy.first_wait_seconds
                ),
            });
        }
        Ok(policy)
    }

    pub(super) fn flag(&self, variable: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(variable).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" || v == "on" || v == "1" => Ok(true),
            Some(v) if v == "false" || v == "off" || v == "0" => Ok(false),
            Some(v) => Err(ConfigError {
                variable,
                problem: format!("must be true or false, got {v:?}"),
            }),
        }
    }
}

const POLLING_VARIABLES: [&str; 3] = [
    "FIRST_WAIT_SECONDS",
    "WAIT_GROWTH_FACTOR",
    "MAX_WAIT_SECONDS",
];
const FALLBACK_VARIABLES: [&str; 3] = [
    "FALLBACK_FIRST_WAIT_SECONDS",
    "FALLBACK_WAIT_GROWTH_FACTOR",
    "FALLBACK_MAX_WAIT_SECONDS",
];

/// S3 bucket naming rules, the subset that matters for building an `s3://` URI safely.
pub(super) fn is_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

pub(super) fn is_prefix(prefix: &str) -> bool {
    prefix.len() <= 512
        && !prefix
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..")
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/!-_.*'()".contains(&b))
}
