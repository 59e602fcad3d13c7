//! The wall clock as the service reports it.

use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn epoch_now() -> f64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // Millisecond precision, as the service reports.
    since_epoch.as_millis() as f64 / 1000.0
}
