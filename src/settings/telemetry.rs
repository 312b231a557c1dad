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
    // The exporter rewrites an http:// endpoint to https:// and dials it with TLS, so a plain
    // endpoint would fail on every upload; say so now rather than send nothing.
    if ingestion_endpoints(connection_string)
        .any(|endpoint| !endpoint.to_ascii_lowercase().starts_with("https://"))
    {
        return fail(
            NAME,
            "IngestionEndpoint must be an https URL (copy the whole string from the Application Insights resource)",
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

/// Every `IngestionEndpoint=` value of a connection string (`key=value` pairs joined by `;`,
/// keys in any case), trimmed: all are checked, whichever one the exporter takes.
fn ingestion_endpoints(connection_string: &str) -> impl Iterator<Item = &str> {
    connection_string.split(';').filter_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("IngestionEndpoint")
            .then(|| value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_ingestion_endpoint_in_any_case() {
        let text = "InstrumentationKey=k; ingestionendpoint = http://x/ ;LiveEndpoint=https://l/";
        assert_eq!(ingestion_endpoints(text).collect::<Vec<_>>(), ["http://x/"]);
        assert_eq!(ingestion_endpoints("InstrumentationKey=k").count(), 0);
        let twice = "IngestionEndpoint=https://a/;IngestionEndpoint=HTTP://b/";
        assert_eq!(
            ingestion_endpoints(twice).collect::<Vec<_>>(),
            ["https://a/", "HTTP://b/"]
        );
    }
}
