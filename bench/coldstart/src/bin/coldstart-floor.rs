//! The floor: a Lambda function in Rust that makes no AWS call and returns its event. Built with
//! the same release profile as the real functions, it shows what any `lambda_runtime` binary costs.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
