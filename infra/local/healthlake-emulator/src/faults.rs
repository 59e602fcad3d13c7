//! Injected faults: errors returned by an operation, and forced outcomes of export jobs.
//!
//! Both come in order of arming and are consumed as they fire, so a test can script exactly what
//! the next calls and jobs see ("throttle the next two starts, then fail the next job").

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::api::{ApiError, OPERATIONS};

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
    /// ConflictException, HTTP 400 (typed only for operations whose model lists it).
    Conflict,
}

impl ErrorKind {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "throttle" => Some(Self::Throttle),
            "internal" => Some(Self::Internal),
            "accessDenied" => Some(Self::AccessDenied),
            "conflict" => Some(Self::Conflict),
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
            Self::Conflict => {
                ApiError::Conflict(format!("The data store is in a transition state ({why})"))
            }
        }
    }
}

/// An armed error: the next `remaining` calls of `operation` (or of any operation, for `*`) fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorFault {
    pub operation: String,
    pub kind: ErrorKind,
    pub remaining: u32,
}

impl ErrorFault {
    pub fn new(operation: &str, kind: ErrorKind, count: u32) -> Result<Self, String> {
        if operation != "*" && !OPERATIONS.contains(&operation) {
            return Err(format!(
                "unknown operation '{operation}': expected one of {} or '*'",
                OPERATIONS.join(", ")
            ));
        }
        if count == 0 {
            return Err("count must be at least 1".to_string());
        }
        Ok(Self {
            operation: operation.to_string(),
            kind,
            remaining: count,
        })
    }

    /// Parses the CLI form `OPERATION:KIND[:COUNT]`, e.g. `StartFHIRExportJob:throttle:2`.
    pub fn parse_flag(spec: &str) -> Result<Self, String> {
        let mut parts = spec.split(':');
        let (Some(operation), Some(kind)) = (parts.next(), parts.next()) else {
            return Err(format!("--fault '{spec}': expected OPERATION:KIND[:COUNT]"));
        };
        let kind = ErrorKind::parse(kind).ok_or_else(|| {
            format!("--fault '{spec}': kind must be throttle, internal, accessDenied or conflict")
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
        Self::new(operation, kind, count).map_err(|e| format!("--fault '{spec}': {e}"))
    }
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

/// Everything armed right now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Faults {
    pub errors: Vec<ErrorFault>,
    pub job_outcomes: VecDeque<OutcomeFault>,
}

impl Faults {
    /// Fires the first armed error that matches `operation`, if any.
    pub fn take_error(&mut self, operation: &str) -> Option<ApiError> {
        let index = self
            .errors
            .iter()
            .position(|f| f.operation == "*" || f.operation == operation)?;
        let fault = &mut self.errors[index];
        let error = fault.kind.error(operation);
        fault.remaining -= 1;
        if fault.remaining == 0 {
            self.errors.remove(index);
        }
        Some(error)
    }

    /// The outcome forced on the job being started now, if any.
    pub fn take_job_outcome(&mut self) -> Option<OutcomeFault> {
        self.job_outcomes.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_fire_count_times_for_their_operation_only() {
        let mut faults = Faults::default();
        faults
            .errors
            .push(ErrorFault::parse_flag("StartFHIRExportJob:throttle:2").unwrap());
        assert_eq!(faults.take_error("DescribeFHIRExportJob"), None);
        assert_eq!(
            faults.take_error("StartFHIRExportJob").unwrap().type_name(),
            "ThrottlingException"
        );
        assert_eq!(
            faults.take_error("StartFHIRExportJob").unwrap().type_name(),
            "ThrottlingException"
        );
        assert_eq!(faults.take_error("StartFHIRExportJob"), None);
        assert!(faults.errors.is_empty());
    }

    #[test]
    fn wildcard_errors_hit_any_operation_in_arming_order() {
        let mut faults = Faults::default();
        faults
            .errors
            .push(ErrorFault::parse_flag("*:internal").unwrap());
        faults
            .errors
            .push(ErrorFault::parse_flag("ListFHIRExportJobs:accessDenied").unwrap());
        let first = faults.take_error("ListFHIRExportJobs").unwrap();
        assert_eq!(
            (first.type_name(), first.status()),
            ("InternalServerException", 500)
        );
        assert_eq!(
            faults.take_error("ListFHIRExportJobs").unwrap().type_name(),
            "AccessDeniedException"
        );
        assert_eq!(faults.take_error("ListFHIRExportJobs"), None);
    }

    #[test]
    fn bad_fault_flags_are_explained() {
        for (spec, hint) in [
            ("StartFHIRExportJob", "OPERATION:KIND"),
            ("StartExport:throttle", "unknown operation"),
            ("StartFHIRExportJob:slow", "kind must be"),
            ("StartFHIRExportJob:throttle:x", "COUNT must be a number"),
            ("StartFHIRExportJob:throttle:0", "at least 1"),
        ] {
            let err = ErrorFault::parse_flag(spec).unwrap_err();
            assert!(err.contains(hint), "{spec}: {err}");
        }
    }

    #[test]
    fn job_outcomes_queue_in_order_with_messages() {
        let mut faults = Faults::default();
        faults
            .job_outcomes
            .push_back(OutcomeFault::parse_flag("FAILED:Bucket policy denies access").unwrap());
        faults
            .job_outcomes
            .push_back(OutcomeFault::parse_flag("COMPLETED_WITH_ERRORS").unwrap());
        let first = faults.take_job_outcome().unwrap();
        assert_eq!(first.outcome, ForcedOutcome::Failed);
        assert_eq!(first.message, "Bucket policy denies access");
        let second = faults.take_job_outcome().unwrap();
        assert_eq!(second.outcome, ForcedOutcome::CompletedWithErrors);
        assert!(second.message.contains("completed with errors"));
        assert_eq!(faults.take_job_outcome(), None);
        assert!(OutcomeFault::parse_flag("COMPLETED").is_err());
    }
}
