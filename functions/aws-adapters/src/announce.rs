//! The one announcing seam: every function that tells anyone anything calls
//! [`Announcer::announce`]. A new channel (an event bus, a chat webhook) is one more
//! [`Channel`] arm and adapter, not an edit of each handler.

use tracing::{error, info};

use crate::event_bus::EventBus;
use crate::on_first_use::OnFirstUse;
use crate::sns::SnsTopic;
use export_core::config::AnnounceSettings;
use export_core::model::failure::AwsFailure;
use export_core::report::delivery::Announcement;

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

    /// [`Announcer::for_deployment`], built when first used: a run that announces nothing builds
    /// no SNS or EventBridge client.
    pub fn on_first_use(
        config: &aws_config::SdkConfig,
        settings: &AnnounceSettings,
    ) -> OnFirstUse<Self> {
        let (config, settings) = (config.clone(), settings.clone());
        OnFirstUse::new(move || Announcer::for_deployment(&config, &settings))
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

    /// Sends `report` on every channel, in order: the topic (people) first, then the bus, so an
    /// outcome event always follows a notification that went out. Delivery is at least once: a
    /// failed channel is returned as the error and the rest are not tried, so the caller's retry
    /// sends the report again (a second copy on the channels that had already taken it).
    pub async fn announce(&self, report: &impl Announcement) -> Result<(), AwsFailure> {
        for channel in &self.channels {
            let sent = match channel {
                Channel::Sns(topic) => topic.publish(&report.to_notification()).await,
                Channel::EventBus(bus) => bus.put(&report.to_bus_event()).await,
            };
            match sent {
                Ok(message_id) => info!(
                    %message_id,
                    channel = channel.name(),
                    event = report.event_name(),
                    outcome = report.outcome().as_str(),
                    "team notified"
                ),
                Err(failure) => {
                    error!(%failure, channel = channel.name(), event = report.event_name(), "notification not sent");
                    return Err(failure);
                }
            }
        }
        Ok(())
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
