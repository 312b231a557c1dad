//! `APPLICATIONINSIGHTS_CONNECTION_STRING` (set by the platform) and
//! `TELEMETRY_SAMPLING_PERCENT`.

use super::source::Source;
use super::values::number_in;
use super::{SettingError, fail};
use crate::telemetry::{DEFAULT_SAMPLING_PERCENT, TelemetryConfig};

/// The telemetry settings; `None` (off) without a connection string.
pub(super) fn read(source: &Source) -> Result<Option<TelemetryConfig>, SettingError> {
    const NAME: &str = "APPLICATIONINSIGHTS_CONNECTION_STRING";
    let Some(connection_string) = source.get(NAME) else {
        return Ok(None);
    };
    // Never quoted back: the string holds the instrumentation key.
    if !connection_string
        .to_ascii_lowercase()
        .contains("instrumentationkey=")
    {
        return fail(
            NAME,
            "has no InstrumentationKey=...; copy the whole string from the Application Insights resource",
        );
    }
    let sampling_percent = number_in(
        source,
        "TELEMETRY_SAMPLING_PERCENT",
        DEFAULT_SAMPLING_PERCENT,
        0.0..=100.0,
        "a percentage",
    )?;
    Ok(Some(TelemetryConfig {
        connection_string: connection_string.to_owned(),
        sampling_percent,
    }))
}
