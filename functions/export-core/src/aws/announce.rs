//! The one announcing seam: every function that tells anyone anything calls
//! [`Announcer::announce`]. A new channel (an event bus, a chat webhook) is one more
//! [`Channel`] arm and adapter, not an edit of each handler.

use futures_util::future::join_all;
use tracing::{error, info};

use crate::aws::event_bus::EventBus;
use crate::aws::sns::SnsTopic;
use crate::config::AnnounceSettings;
use crate::contract::aws_failure::AwsFailure;
use crate::contract::notification::ExportReport;

/// Where a report goes.
#[derive(Clone, Debug)]
pub enum Channel {
    /// The team's SNS topic (e-mail, chat and queue subscribers).
    Sns(SnsTopic),
    /// The event bus automation's rules listen on.
    EventBus(EventBus),
}

#[derive(Clone, Debug)]
pub struct Announcer {
    channels: Vec<Channel>,
}

impl Announcer {
    pub fn new(channels: Vec<Channel>) -> Self {
        Announcer { channels }
    }

    /// The deployment's channels: the topic first (people), then the event bus (automation).
    pub fn for_deployment(config: &aws_config::SdkConfig, settings: &AnnounceSettings) -> Self {
        Announcer::new(vec![
            Channel::Sns(SnsTopic::new(
                aws_sdk_sns::Client::new(config),
                &settings.topic_arn,
            )),
            Channel::EventBus(EventBus::new(
                aws_sdk_eventbridge::Client::new(config),
                &settings.event_bus_name,
            )),
        ])
    }

    /// Sends `report` on every channel at once (a cold poll-export ends one round trip sooner).
    /// Delivery is at least once: a failed channel is returned as the error, so the caller's
    /// retry sends the report again (a second copy on the channels that had already taken it).
    pub async fn announce(&self, report: &ExportReport) -> Result<(), AwsFailure> {
        let sends = self.channels.iter().map(|channel| async move {
            let sent = match channel {
                Channel::Sns(topic) => topic.publish(&report.to_notification()).await,
                Channel::EventBus(bus) => bus.put(&report.to_bus_event()).await,
            };
            (channel, sent)
        });
        let mut first_failure = None;
        for (channel, sent) in join_all(sends).await {
            match sent {
                Ok(message_id) => info!(
                    %message_id,
                    channel = channel.name(),
                    event = report.event.as_str(),
                    outcome = report.outcome.as_str(),
                    "team notified"
                ),
                Err(failure) => {
                    error!(%failure, channel = channel.name(), event = report.event.as_str(), "notification not sent");
                    first_failure.get_or_insert(failure);
                }
            }
        }
        first_failure.map_or(Ok(()), Err)
    }
}

impl Channel {
    fn name(&self) -> &'static str {
        match self {
            Channel::Sns(_) => "sns",
            Channel::EventBus(_) => "event-bus",
        }
    }
}
