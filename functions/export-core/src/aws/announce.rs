//! The one announcing seam: every function that tells anyone anything calls
//! [`Announcer::announce`]. A new channel (an event bus, a chat webhook) is one more
//! [`Channel`] arm and adapter, not an edit of each handler.

use tracing::{error, info};

use crate::aws::sns::SnsTopic;
use crate::contract::aws_failure::AwsFailure;
use crate::contract::notification::ExportReport;

/// Where a report goes.
#[derive(Clone, Debug)]
pub enum Channel {
    /// The team's SNS topic (e-mail, chat and queue subscribers).
    Sns(SnsTopic),
}

#[derive(Clone, Debug)]
pub struct Announcer {
    channels: Vec<Channel>,
}

impl Announcer {
    pub fn new(channels: Vec<Channel>) -> Self {
        Announcer { channels }
    }

    /// Sends `report` on every channel, in order. Delivery is at least once: a failed channel
    /// is returned as the error, so the caller's retry sends the report again (a second copy
    /// on the channels that had already taken it).
    pub async fn announce(&self, report: &ExportReport) -> Result<(), AwsFailure> {
        for channel in &self.channels {
            let sent = match channel {
                Channel::Sns(topic) => topic.publish(&report.to_notification()).await,
            };
            match sent {
                Ok(message_id) => info!(
                    %message_id,
                    event = report.event.as_str(),
                    outcome = report.outcome.as_str(),
                    "team notified"
                ),
                Err(failure) => {
                    error!(%failure, event = report.event.as_str(), "notification not sent");
                    return Err(failure);
                }
            }
        }
        Ok(())
    }
}
