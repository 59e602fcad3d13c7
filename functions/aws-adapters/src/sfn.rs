use aws_sdk_sfn::Client;
use export_core::model::operation::Operation;

use super::sdk_error::failure_from_sdk;
use aws_sdk_sfn::types::ExecutionStatus;
use export_core::model::failure::{AwsFailure, FailureKind};

use export_core::model::naming::{execution_arn, execution_name};
use export_core::model::night::NightInput;
use export_core::model::state::ExecutionState;

/// The state machine that follows each export job.
#[derive(Clone, Debug)]
pub struct Workflows {
    client: Client,
    state_machine_arn: String,
}

impl Workflows {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Workflows {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    /// Starts the execution named `name`, or finds it already started (a retried trigger):
    /// either way the job is followed exactly once. Returns the execution ARN.
    pub async fn start(&self, name: &str, input: &ExecutionState) -> Result<String, AwsFailure> {
        let input = serde_json::to_string(input).expect("the state always serializes");
        self.start_named(&self.state_machine_arn, name, input).await
    }

    /// Starts a schedule's night (`night_state_machine_arn`), or finds it already started: a
    /// retried firing of the schedule starts no second night.
    pub async fn start_night(
        &self,
        night_state_machine_arn: &str,
        name: &str,
        input: &NightInput,
    ) -> Result<String, AwsFailure> {
        let input = serde_json::to_string(input).expect("the night always serializes");
        self.start_named(night_state_machine_arn, name, input).await
    }

    async fn start_named(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: String,
    ) -> Result<String, AwsFailure> {
        const OPERATION: Operation = Operation::StartExecution;
        let result = self
            .client
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.execution_arn().to_string()),
            Err(err) => {
                let failure = failure_from_sdk(OPERATION, &err);
                if failure.kind == FailureKind::AlreadyExists {
                    Ok(execution_arn(state_machine_arn, name))
                } else {
                    Err(failure)
                }
            }
        }
    }
}

/// What the execution that follows a job holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FollowedExecution {
    /// The state start-export started it with.
    pub input: Option<ExecutionState>,
    /// Its output, once it ended well; `None` while it runs or when it failed.
    pub final_state: Option<ExecutionState>,
}

impl Workflows {
    /// The execution that followed `job_id`; `None` when there is none, or Step Functions no
    /// longer keeps it (90 days).
    pub async fn followed(&self, job_id: &str) -> Result<Option<FollowedExecution>, AwsFailure> {
        let arn = execution_arn(&self.state_machine_arn, &execution_name(job_id));
        let result = self
            .client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await;
        match result {
            Ok(execution) => Ok(Some(FollowedExecution {
                input: execution
                    .input()
                    .and_then(|input| serde_json::from_str(input).ok()),
                final_state: execution
                    .output()
                    .filter(|_| execution.status() == &ExecutionStatus::Succeeded)
                    .and_then(|output| serde_json::from_str(output).ok()),
            })),
            Err(err) => {
                let failure = failure_from_sdk(Operation::DescribeExecution, &err);
                match failure.code.as_str() {
                    "ExecutionDoesNotExist" => Ok(None),
                    _ => Err(failure),
                }
            }
        }
    }
}

/// What resuming a waiting task found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resumed {
    /// The wait ended; the workflow checks the job now.
    Now,
    /// The task had already ended (its wait timed out, or the execution is over): nothing to do.
    AlreadyEnded,
}

/// Tasks that wait for a token (`.waitForTaskToken`).
#[derive(Clone, Debug)]
pub struct WaitingTasks {
    client: Client,
}

impl WaitingTasks {
    pub fn new(client: Client) -> Self {
        WaitingTasks { client }
    }

    /// Ends a task's wait with `output`. A token whose task is gone is not an error: events
    /// come late and twice, and a wait may already have timed out into its check.
    pub async fn resume(&self, task_token: &str, output: &str) -> Result<Resumed, AwsFailure> {
        let result = self
            .client
            .send_task_success()
            .task_token(task_token)
            .output(output)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Resumed::Now),
            Err(err) => {
                let failure = failure_from_sdk(Operation::SendTaskSuccess, &err);
                match failure.code.as_str() {
                    "TaskDoesNotExist" | "TaskTimedOut" | "InvalidToken" => {
                        Ok(Resumed::AlreadyEnded)
                    }
                    _ => Err(failure),
                }
            }
        }
    }
}
