//! `APPLICATIONINSIGHTS_CONNECTION_STRING` (set by the platform), and
//! `TELEMETRY_ITEMS_PER_SECOND` or `TELEMETRY_SAMPLING_PERCENT`.

use super::source::Source;
use super::values::number_in;
use super::{SettingError, fail};
use crate::telemetry::{DEFAULT_ITEMS_PER_SECOND, Sampling, TelemetryConfig};

const ITEMS_PER_SECOND: &str = "TELEMETRY_ITEMS_PER_SECOND";
const SAMPLING_PERCENT: &str = "TELEMETRY_SAMPLING_PERCENT";

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
    Ok(Some(TelemetryConfig {
        connection_string: connection_string.to_owned(),
        sampling: sampling(source)?,
    }))
}

/// Rate-limited by default; a fixed percentage when `TELEMETRY_SAMPLING_PERCENT` is set.
fn sampling(source: &Source) -> Result<Sampling, SettingError> {
    match (source.get(ITEMS_PER_SECOND), source.get(SAMPLING_PERCENT)) {
        (Some(_), Some(_)) => fail(
            ITEMS_PER_SECOND,
            "cannot be set together with TELEMETRY_SAMPLING_PERCENT: set one (items per second for rate-limited sampling, or a percentage for a fixed rate)",
        ),
        (_, Some(_)) => Ok(Sampling::Fixed {
            percent: number_in(source, SAMPLING_PERCENT, 100.0, 0.0..=100.0, "a percentage")?,
        }),
        _ => Ok(Sampling::RateLimited {
            per_second: number_in(
                source,
                ITEMS_PER_SECOND,
                DEFAULT_ITEMS_PER_SECOND,
                0.01..=1_000_000.0,
                "request items per second",
            )?,
        }),
    }
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
