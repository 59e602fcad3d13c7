//! The AWS operations the functions call, each with its IAM action and what a person should check
//! when it fails. A new operation without its hints does not compile.

use std::fmt;

use crate::model::failure_kind::FailureKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    // HealthLake's export job API.
    StartFhirExportJob,
    DescribeFhirExportJob,
    ListFhirExportJobs,
    // HealthLake's FHIR REST `$export`.
    StartFhirExportJobWithPost,
    DescribeFhirExportJobWithGet,
    CancelFhirExportJobWithDelete,
    // Step Functions.
    StartExecution,
    DescribeExecution,
    SendTaskSuccess,
    // Announcing.
    Publish,
    PutEvents,
    // The job table.
    GetItem,
    PutItem,
    UpdateItem,
    // The export bucket.
    ListObjectsV2,
    PutObject,
}

impl Operation {
    /// The operation's name in AWS's API reference (and in CloudTrail).
    pub const fn name(self) -> &'static str {
        match self {
            Operation::StartFhirExportJob => "StartFHIRExportJob",
            Operation::DescribeFhirExportJob => "DescribeFHIRExportJob",
            Operation::ListFhirExportJobs => "ListFHIRExportJobs",
            Operation::StartFhirExportJobWithPost => "StartFHIRExportJobWithPost",
            Operation::DescribeFhirExportJobWithGet => "DescribeFHIRExportJobWithGet",
            Operation::CancelFhirExportJobWithDelete => "CancelFHIRExportJobWithDelete",
            Operation::StartExecution => "StartExecution",
            Operation::DescribeExecution => "DescribeExecution",
            Operation::SendTaskSuccess => "SendTaskSuccess",
            Operation::Publish => "Publish",
            Operation::PutEvents => "PutEvents",
            Operation::GetItem => "GetItem",
            Operation::PutItem => "PutItem",
            Operation::UpdateItem => "UpdateItem",
            Operation::ListObjectsV2 => "ListObjectsV2",
            Operation::PutObject => "PutObject",
        }
    }

    /// The IAM action a role needs to call it.
    pub const fn iam_action(self) -> &'static str {
        match self {
            Operation::StartFhirExportJob => "healthlake:StartFHIRExportJob",
            Operation::DescribeFhirExportJob => "healthlake:DescribeFHIRExportJob",
            Operation::ListFhirExportJobs => "healthlake:ListFHIRExportJobs",
            Operation::StartFhirExportJobWithPost => "healthlake:StartFHIRExportJobWithPost",
            Operation::DescribeFhirExportJobWithGet => "healthlake:DescribeFHIRExportJobWithGet",
            Operation::CancelFhirExportJobWithDelete => "healthlake:CancelFHIRExportJobWithDelete",
            Operation::StartExecution => "states:StartExecution",
            Operation::DescribeExecution => "states:DescribeExecution",
            Operation::SendTaskSuccess => "states:SendTaskSuccess",
            Operation::Publish => "sns:Publish",
            Operation::PutEvents => "events:PutEvents",
            Operation::GetItem => "dynamodb:GetItem",
            Operation::PutItem => "dynamodb:PutItem",
            Operation::UpdateItem => "dynamodb:UpdateItem",
            Operation::ListObjectsV2 => "s3:ListBucket",
            Operation::PutObject => "s3:PutObject",
        }
    }

    /// What a person should check when this operation fails this way, where it says more than
    /// the kind of failure alone.
    pub const fn hint(self, kind: FailureKind) -> Option<&'static str> {
        use FailureKind::{AccessDenied, Invalid, NotFound};
        let hint = match (self, kind) {
            (Operation::StartFhirExportJob, AccessDenied) => {
                "the start-export role needs healthlake:StartFHIRExportJob on the data store and iam:PassRole on DATA_ACCESS_ROLE_ARN; the data access role must be able to use KMS_KEY_ID"
            }
            (Operation::StartFhirExportJob, Invalid) => {
                "check EXPORT_BUCKET (in the data store's region), KMS_KEY_ID and DATA_ACCESS_ROLE_ARN"
            }
            (Operation::StartFhirExportJob, NotFound) => {
                "check that the data store id in DATASTORE_IDS exists in this account and region"
            }
            (Operation::StartFhirExportJob, _) => return None,
            (Operation::DescribeFhirExportJob, NotFound) => "no such export job in that data store",
            (Operation::DescribeFhirExportJob, AccessDenied) => {
                "the function's role needs healthlake:DescribeFHIRExportJob on the data store"
            }
            (Operation::DescribeFhirExportJob, _) => return None,
            (Operation::ListFhirExportJobs, _) => return None,
            (Operation::StartFhirExportJobWithPost, AccessDenied) => {
                "the start-export role needs healthlake:StartFHIRExportJobWithPost on the data store and iam:PassRole on DATA_ACCESS_ROLE_ARN; the data access role must be able to use KMS_KEY_ID"
            }
            (Operation::StartFhirExportJobWithPost, Invalid) => {
                "check the export's scope, types and window, and EXPORT_BUCKET, KMS_KEY_ID and DATA_ACCESS_ROLE_ARN"
            }
            (Operation::StartFhirExportJobWithPost, NotFound) => {
                "check that the data store (and the Group, for a group scope) exists in this account and region"
            }
            (Operation::StartFhirExportJobWithPost, _) => return None,
            (
                Operation::DescribeFhirExportJobWithGet | Operation::CancelFhirExportJobWithDelete,
                NotFound,
            ) => "no such export job in that data store",
            (Operation::DescribeFhirExportJobWithGet, AccessDenied) => {
                "the function's role needs healthlake:DescribeFHIRExportJobWithGet on the data store"
            }
            (Operation::DescribeFhirExportJobWithGet, _) => return None,
            (Operation::CancelFhirExportJobWithDelete, AccessDenied) => {
                "the function's role needs healthlake:CancelFHIRExportJobWithDelete on the data store"
            }
            (Operation::CancelFhirExportJobWithDelete, _) => return None,
            (Operation::StartExecution, AccessDenied) => {
                "the start-export role needs states:StartExecution on STATE_MACHINE_ARN"
            }
            (Operation::StartExecution, NotFound) => "check STATE_MACHINE_ARN",
            (Operation::StartExecution, _) => return None,
            (Operation::DescribeExecution, _) => return None,
            (Operation::SendTaskSuccess, AccessDenied) => {
                "the job-events role needs states:SendTaskSuccess on the export state machine"
            }
            (Operation::SendTaskSuccess, _) => return None,
            (Operation::Publish, AccessDenied) => {
                "the function's role needs sns:Publish on TOPIC_ARN and use of the topic's KMS key"
            }
            (Operation::Publish, NotFound) => "check TOPIC_ARN",
            (Operation::Publish, _) => return None,
            (Operation::PutEvents, _) => return None,
            (Operation::UpdateItem, AccessDenied) => {
                "the job-events role needs dynamodb:UpdateItem on JOB_TABLE_NAME and use of its KMS key"
            }
            (Operation::UpdateItem | Operation::GetItem, NotFound) => "check JOB_TABLE_NAME",
            (Operation::GetItem, AccessDenied) => {
                "the function's role needs dynamodb:GetItem on JOB_TABLE_NAME and use of its KMS key"
            }
            (Operation::UpdateItem | Operation::GetItem, _) => return None,
            (Operation::PutItem, _) => return None,
            (Operation::ListObjectsV2, AccessDenied) => {
                "the write-manifest role needs s3:ListBucket on the export bucket for the export prefix"
            }
            (Operation::PutObject, AccessDenied) => {
                "the write-manifest role needs s3:PutObject on the export prefix and use of the bucket's default KMS key (kms:GenerateDataKey)"
            }
            (Operation::ListObjectsV2 | Operation::PutObject, NotFound) => {
                "the export bucket does not exist: check EXPORT_BUCKET"
            }
            (Operation::ListObjectsV2 | Operation::PutObject, _) => return None,
        };
        Some(hint)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_denied_hint_names_the_action_the_role_lacks() {
        for operation in [
            Operation::StartFhirExportJob,
            Operation::DescribeFhirExportJob,
            Operation::StartFhirExportJobWithPost,
            Operation::DescribeFhirExportJobWithGet,
            Operation::CancelFhirExportJobWithDelete,
            Operation::StartExecution,
            Operation::SendTaskSuccess,
            Operation::Publish,
            Operation::GetItem,
            Operation::UpdateItem,
            Operation::ListObjectsV2,
            Operation::PutObject,
        ] {
            let hint = operation.hint(FailureKind::AccessDenied).unwrap();
            assert!(hint.contains(operation.iam_action()), "{operation}: {hint}");
        }
    }

    #[test]
    fn a_throttled_or_unavailable_call_has_no_operation_hint() {
        for kind in [FailureKind::Throttled, FailureKind::Unavailable] {
            assert_eq!(Operation::StartFhirExportJob.hint(kind), None);
            assert_eq!(Operation::PutObject.hint(kind), None);
        }
    }
}
