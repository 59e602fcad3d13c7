//! Injected faults: errors returned by an operation, and forced outcomes of export jobs.
//!
//! The vocabulary is the one of `infra/local/fault_proxy.py` (the proxy in front of moto): faults
//! are **armed** (each with the number of times it still fires, `remaining`) and, as they fire,
//! move to the **fired** list, in order. Both come in order of arming and are used up as they
//! fire, so a test can script exactly what the next calls and jobs see ("throttle the next two
//! starts, then fail the next job") and count afterwards what fired.

use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::{ApiError, OPERATIONS, REST_OPERATIONS};
use crate::clock::epoch_now;

/// The `service` of this emulator's armed and fired faults (the proxy's are `sns`, `states`).
pub const SERVICE: &str = "healthlake";
/// Longest injectable delay: far beyond any SDK timeout, short enough not to wedge a test run.
pub const MAX_DELAY_SECONDS: f64 = 300.0;

/// Which modelled error an injected fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// ThrottlingException, HTTP 400 (retryable for both SDKs).
    Throttle,
    /// InternalServerException, HTTP 500 (retryable for both SDKs).
    Internal,
    /// AccessDeniedException, HTTP 400 (not retryable).
    AccessDenied,
    /// FailedDependencyException, HTTP 400 (not retryable); modelled for StartFHIRExportJob only.
    FailedDependency,
}

/// The kinds, as the control API and `--fault` name them.
pub const KINDS: &str = "throttle, internal, accessDenied, failedDependency or delay";

impl ErrorKind {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "throttle" => Some(Self::Throttle),
            "internal" => Some(Self::Internal),
            "accessDenied" => Some(Self::AccessDenied),
            "failedDependency" => Some(Self::FailedDependency),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttle => "throttle",
            Self::Internal => "internal",
            Self::AccessDenied => "accessDenied",
            Self::FailedDependency => "failedDependency",
        }
    }

    /// The operations whose service model lists this error, when not every operation may
    /// return it. (ConflictException is listed by none of the emulated operations, so it is not
    /// offered.)
    pub fn only_for(self) -> Option<&'static [&'static str]> {
        match self {
            Self::FailedDependency => Some(&["StartFHIRExportJob"]),
            _ => None,
        }
    }

    fn error(self, operation: &str) -> ApiError {
        let why = format!("injected by the emulator for {operation}");
        match self {
            Self::Throttle => ApiError::Throttling(format!("Rate exceeded ({why})")),
            Self::Internal => ApiError::InternalServer(format!("Internal server error ({why})")),
            Self::AccessDenied => ApiError::AccessDenied(format!(
                "User is not authorized to perform: healthlake:{operation} ({why})"
            )),
            Self::FailedDependency => ApiError::FailedDependency(format!(
                "A dependent service failed to fulfill the request ({why})"
            )),
        }
    }
}

/// What an armed fault does when it fires.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultEffect {
    /// A call of `operation` (any operation, for `*`) gets the modelled error of `kind`.
    Error { operation: String, kind: ErrorKind },
    /// A call of `operation` (any, for `*`) is carried out, and answered `seconds` later.
    Delay { operation: String, seconds: f64 },
    /// The job started by the next StartFHIRExportJob ends with this outcome.
    JobOutcome(OutcomeFault),
}

/// What a fault does to one call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallFault {
    /// Answer this error instead of carrying out the call.
    Error(ApiError),
    /// Carry out the call, then answer after this long.
    Delay(std::time::Duration),
}

impl CallFault {
    pub fn into_error(self) -> Option<ApiError> {
        match self {
            Self::Error(error) => Some(error),
            Self::Delay(_) => None,
        }
    }
}

/// An armed fault: what it does, and how many more times it fires.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmedFault {
    pub effect: FaultEffect,
    pub remaining: u32,
}

impl ArmedFault {
    /// The next `count` calls of `operation` (or of any operation, for `*`) fail with `kind`.
    pub fn error(operation: &str, kind: ErrorKind, count: u32) -> Result<Self, String> {
        check_operation(operation)?;
        if let Some(only) = kind.only_for()
            && !only.contains(&operation)
        {
            return Err(format!(
                "kind {} is modelled for {} only, not for '{operation}'",
                kind.as_str(),
                only.join(", ")
            ));
        }
        Self::with_count(
            FaultEffect::Error {
                operation: operation.to_string(),
                kind,
            },
            count,
        )
    }

    /// The next `count` calls of `operation` (or of any, for `*`) are answered `seconds` late.
    pub fn delay(operation: &str, seconds: f64, count: u32) -> Result<Self, String> {
        check_operation(operation)?;
        if !(seconds > 0.0 && seconds <= MAX_DELAY_SECONDS) {
            return Err(format!(
                "seconds must be more than 0 and at most {MAX_DELAY_SECONDS}, not {seconds}"
            ));
        }
        Self::with_count(
            FaultEffect::Delay {
                operation: operation.to_string(),
                seconds,
            },
            count,
        )
    }

    /// The next `count` jobs started end with `outcome`.
    pub fn job_outcome(outcome: OutcomeFault, count: u32) -> Result<Self, String> {
        Self::with_count(FaultEffect::JobOutcome(outcome), count)
    }

    fn with_count(effect: FaultEffect, count: u32) -> Result<Self, String> {
        if count == 0 {
            return Err("count must be at least 1".to_string());
        }
        Ok(Self {
            effect,
            remaining: count,
        })
    }

    /// Parses the CLI form `OPERATION:KIND[:COUNT]`, e.g. `StartFHIRExportJob:throttle:2`.
    pub fn parse_error_flag(spec: &str) -> Result<Self, String> {
        let mut parts = spec.split(':');
        let (Some(operation), Some(kind)) = (parts.next(), parts.next()) else {
            return Err(format!("--fault '{spec}': expected OPERATION:KIND[:COUNT]"));
        };
        let kind = ErrorKind::parse(kind).ok_or_else(|| {
            format!(
                "--fault '{spec}': kind must be throttle, internal, accessDenied or failedDependency"
            )
        })?;
        let count = match parts.next() {
            Some(n) => n
                .parse()
                .map_err(|_| format!("--fault '{spec}': COUNT must be a number"))?,
            None => 1,
        };
        if parts.next().is_some() {
            return Err(format!("--fault '{spec}': expected OPERATION:KIND[:COUNT]"));
        }
        Self::error(operation, kind, count).map_err(|e| format!("--fault '{spec}': {e}"))
    }
}

fn check_operation(operation: &str) -> Result<(), String> {
    if operation != "*" && !OPERATIONS.contains(&operation) && !REST_OPERATIONS.contains(&operation)
    {
        return Err(format!(
            "unknown operation '{operation}': expected one of {}, {} or '*'",
            OPERATIONS.join(", "),
            REST_OPERATIONS.join(", ")
        ));
    }
    Ok(())
}

/// On the control API: `{"service", "operation", "kind", "remaining"}` for an error (plus
/// `seconds` for a delay),
/// `{"service", "nextJobOutcome", "message", "remaining"}` for a job outcome.
impl Serialize for ArmedFault {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = match &self.effect {
            FaultEffect::Error { operation, kind } => json!({
                "service": SERVICE,
                "operation": operation,
                "kind": kind,
                "remaining": self.remaining,
            }),
            FaultEffect::Delay { operation, seconds } => json!({
                "service": SERVICE,
                "operation": operation,
                "kind": "delay",
                "seconds": seconds,
                "remaining": self.remaining,
            }),
            FaultEffect::JobOutcome(OutcomeFault { outcome, message }) => json!({
                "service": SERVICE,
                "nextJobOutcome": outcome,
                "message": message,
                "remaining": self.remaining,
            }),
        };
        value.serialize(serializer)
    }
}

/// A fault that fired: the call it answered (an error) or the job it was given (an outcome).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FiredFault {
    pub service: &'static str,
    pub operation: String,
    /// `throttle`, `internal`, `accessDenied`, `failedDependency` or `delay`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The HTTP status of the error answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_job_outcome: Option<ForcedOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// How long the answer was held back (a delay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Epoch seconds.
    pub time: f64,
}

/// A terminal status forced on a job, instead of COMPLETED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForcedOutcome {
    #[serde(rename = "FAILED")]
    Failed,
    #[serde(rename = "COMPLETED_WITH_ERRORS")]
    CompletedWithErrors,
}

impl ForcedOutcome {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "FAILED" => Some(Self::Failed),
            "COMPLETED_WITH_ERRORS" => Some(Self::CompletedWithErrors),
            _ => None,
        }
    }

    pub fn default_message(self) -> &'static str {
        match self {
            Self::Failed => "Export job failed: injected by the emulator",
            Self::CompletedWithErrors => {
                "Export job completed with errors: some resources could not be exported (injected by the emulator)"
            }
        }
    }
}

/// An outcome armed for the next job started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeFault {
    pub outcome: ForcedOutcome,
    pub message: String,
}

impl OutcomeFault {
    pub fn new(outcome: ForcedOutcome, message: Option<String>) -> Self {
        let message = message.unwrap_or_else(|| outcome.default_message().to_string());
        Self { outcome, message }
    }

    /// Parses the CLI form `STATUS[:MESSAGE]`, e.g. `FAILED:Bucket policy denies access`.
    pub fn parse_flag(spec: &str) -> Result<Self, String> {
        let (status, message) = match spec.split_once(':') {
            Some((s, m)) => (s, Some(m.to_string())),
            None => (spec, None),
        };
        let outcome = ForcedOutcome::parse(status).ok_or_else(|| {
            format!("--next-job-outcome '{spec}': status must be FAILED or COMPLETED_WITH_ERRORS")
        })?;
        Ok(Self::new(outcome, message))
    }
}

/// Everything armed right now, and everything that fired since start (or the last reset).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Faults {
    pub armed: Vec<ArmedFault>,
    pub fired: Vec<FiredFault>,
}

impl Faults {
    pub fn arm(&mut self, faults: impl IntoIterator<Item = ArmedFault>) {
        self.armed.extend(faults);
    }

    /// Disarms every armed fault; what fired stays on record.
    pub fn disarm(&mut self) {
        self.armed.clear();
    }

    /// Uses up one firing of the first armed fault that `matches`, and returns its effect.
    fn take(&mut self, matches: impl Fn(&FaultEffect) -> bool) -> Option<FaultEffect> {
        let index = self.armed.iter().position(|f| matches(&f.effect))?;
        let fault = &mut self.armed[index];
        let effect = fault.effect.clone();
        fault.remaining -= 1;
        if fault.remaining == 0 {
            self.armed.remove(index);
        }
        Some(effect)
    }

    /// Fires the first armed error or delay that matches `operation`, if any.
    pub fn take_call(&mut self, operation: &str) -> Option<CallFault> {
        let effect = self.take(|effect| match effect {
            FaultEffect::Error { operation: o, .. } | FaultEffect::Delay { operation: o, .. } => {
                o == "*" || o == operation
            }
            FaultEffect::JobOutcome(_) => false,
        })?;
        let mut fired = FiredFault {
            service: SERVICE,
            operation: operation.to_string(),
            kind: None,
            status: None,
            next_job_outcome: None,
            job_id: None,
            seconds: None,
            time: epoch_now(),
        };
        let fault = match effect {
            FaultEffect::Error { kind, .. } => {
                let error = kind.error(operation);
                fired.kind = Some(kind.as_str());
                fired.status = Some(error.status());
                CallFault::Error(error)
            }
            FaultEffect::Delay { seconds, .. } => {
                fired.kind = Some("delay");
                fired.seconds = Some(seconds);
                CallFault::Delay(std::time::Duration::from_secs_f64(seconds))
            }
            FaultEffect::JobOutcome(_) => unreachable!("only an error or a delay matches"),
        };
        self.fired.push(fired);
        Some(fault)
    }

    /// Fires the first armed error or delay that matches `operation`; returns the error, if it
    /// was one.
    pub fn take_error(&mut self, operation: &str) -> Option<ApiError> {
        self.take_call(operation).and_then(CallFault::into_error)
    }

    /// The outcome forced on the job being started now (`job_id`), if any.
    pub fn take_job_outcome(&mut self, job_id: &str) -> Option<OutcomeFault> {
        let FaultEffect::JobOutcome(outcome) =
            self.take(|effect| matches!(effect, FaultEffect::JobOutcome(_)))?
        else {
            unreachable!("only a job outcome matches")
        };
        self.fired.push(FiredFault {
            service: SERVICE,
            operation: "StartFHIRExportJob".to_string(),
            kind: None,
            status: None,
            next_job_outcome: Some(outcome.outcome),
            job_id: Some(job_id.to_string()),
            seconds: None,
            time: epoch_now(),
        });
        Some(outcome)
    }
}

#[cfg(test)]
mod tests;
