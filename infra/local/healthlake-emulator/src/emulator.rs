//! The front door of HealthLake's JSON API: each operation, after any injected fault, is
//! dispatched to the module that implements it: [`crate::datastores`] (data stores) and
//! [`crate::jobs`] (export jobs). The state they share is [`crate::state`]; the worker that runs
//! jobs is [`crate::worker`], the FHIR REST `$export` is [`crate::rest`], a data store's resources
//! are [`crate::store`], and the control API is [`crate::control`] / [`crate::store_control`].

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

use crate::api::{ApiError, OPERATIONS};
use crate::faults::CallFault;
use crate::state::Emulator;

impl Emulator {
    /// Runs one HealthLake operation on a JSON request body; `Ok` is the JSON response body.
    /// An armed delay is used up and ignored here: see [`Emulator::call_delayed`].
    pub fn call(&self, operation: &str, body: &[u8]) -> Result<Value, ApiError> {
        self.call_delayed(operation, body).0
    }

    /// Like [`Emulator::call`], and how long to hold the answer back (an injected delay: the
    /// call is carried out at once, as a slow network would have it).
    pub fn call_delayed(
        &self,
        operation: &str,
        body: &[u8],
    ) -> (Result<Value, ApiError>, Option<Duration>) {
        if !OPERATIONS.contains(&operation) {
            let error = ApiError::UnknownOperation(format!(
                "The HealthLake emulator does not implement operation '{operation}'; it implements {}",
                OPERATIONS.join(", ")
            ));
            return (Err(error), None);
        }
        let fault = self.state().faults.take_call(operation);
        let delay = match fault {
            Some(CallFault::Error(error)) => return (Err(error), None),
            Some(CallFault::Delay(delay)) => Some(delay),
            None => None,
        };
        if operation == "StartFHIRExportJob"
            && let Err(refused) = self.state().admit_start(operation, Instant::now())
        {
            return (Err(refused.error), delay);
        }
        (self.dispatch(operation, body), delay)
    }

    fn dispatch(&self, operation: &str, body: &[u8]) -> Result<Value, ApiError> {
        match operation {
            "CreateFHIRDatastore" => respond(self.create_datastore(parse(body)?)),
            "DescribeFHIRDatastore" => respond(self.describe_datastore(parse(body)?)),
            "ListFHIRDatastores" => respond(self.list_datastores(parse(body)?)),
            "StartFHIRExportJob" => respond(self.start_export_job(parse(body)?)),
            "DescribeFHIRExportJob" => respond(self.describe_export_job(parse(body)?)),
            "ListFHIRExportJobs" => respond(self.list_export_jobs(parse(body)?)),
            _ => unreachable!("checked against OPERATIONS above"),
        }
    }
}

pub(crate) fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Serialization(format!("Could not parse the request body: {e}")))
}

pub(crate) fn respond<T: Serialize>(result: Result<T, ApiError>) -> Result<Value, ApiError> {
    result.and_then(|r| {
        serde_json::to_value(r)
            .map_err(|e| ApiError::InternalServer(format!("Could not write the response: {e}")))
    })
}

#[cfg(test)]
mod tests {
    use crate::faults::{ArmedFault, ErrorKind};
    use crate::test_support::*;
    use serde_json::json;

    #[tokio::test]
    async fn injected_errors_come_before_validation_and_are_used_up() {
        let (emulator, _) = emulator(0, 0);
        emulator.arm([ArmedFault::error("StartFHIRExportJob", ErrorKind::Throttle, 1).unwrap()]);
        let err = call(&emulator, "StartFHIRExportJob", json!({})).unwrap_err();
        assert_eq!(err.type_name(), "ThrottlingException");
        let err = call(&emulator, "StartFHIRExportJob", json!({})).unwrap_err();
        assert_eq!(err.type_name(), "ValidationException");
        assert!(
            emulator.jobs_report()["jobs"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
}
