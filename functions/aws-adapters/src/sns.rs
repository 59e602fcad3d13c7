use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use export_core::model::operation::Operation;

use super::sdk_error::failure_from_sdk;
use export_core::model::failure::AwsFailure;
use export_core::report::delivery::Notification;

/// The team's topic: e-mail, chat and queue subscribers.
#[derive(Clone, Debug)]
pub struct SnsTopic {
    client: Client,
    topic_arn: String,
}

impl SnsTopic {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsTopic {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// Publishes one message; returns its SNS message id.
    pub async fn publish(&self, notification: &Notification) -> Result<String, AwsFailure> {
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&notification.subject)
            .message_structure("json")
            .message(&notification.message);
        for (name, value) in &notification.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("data type is set");
            request = request.message_attributes(*name, attribute);
        }
        let output = request
            .send()
            .await
            .map_err(|e| failure_from_sdk(Operation::Publish, &e))?;
        Ok(output.message_id().unwrap_or_default().to_string())
    }
}
