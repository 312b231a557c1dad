//! One typed reader per kind of setting value. Each refuses a bad value with one line that
//! names the setting; a blank value counts as unset (Azure keeps empty app settings).

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use super::source::Source;
use super::{SettingError, fail};

/// A setting that must be set.
pub(super) fn required<'a>(source: &'a Source, name: &str) -> Result<&'a str, SettingError> {
    match source.get(name) {
        Some(v) => Ok(v),
        None => fail(name, "is required but not set"),
    }
}

/// `true`/`false` (or `1`/`0`, `yes`/`no`, `on`/`off`); `default` when unset.
pub(super) fn flag(source: &Source, name: &str, default: bool) -> Result<bool, SettingError> {
    match source.get(name).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => fail(name, format!("expected true or false, got {other:?}")),
    }
}

/// A whole number within `range`; `default` when unset. `unit` words the error
/// ("whole seconds", "bytes").
pub(super) fn number_in<T>(
    source: &Source,
    name: &str,
    default: T,
    range: RangeInclusive<T>,
    unit: &str,
) -> Result<T, SettingError>
where
    T: FromStr + PartialOrd + Display,
{
    let Some(text) = source.get(name) else {
        return Ok(default);
    };
    match text.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => fail(
            name,
            format!(
                "expected {unit} from {} to {}, got {text:?}",
                range.start(),
                range.end()
            ),
        ),
    }
}

/// Whole seconds within `range`; `default` seconds when unset.
pub(super) fn seconds_in(
    source: &Source,
    name: &str,
    default: u64,
    range: RangeInclusive<u64>,
) -> Result<Duration, SettingError> {
    number_in(source, name, default, range, "whole seconds").map(Duration::from_secs)
}

/// A comma list with blanks dropped; `None` when unset.
pub(super) fn list(source: &Source, name: &str) -> Option<Vec<String>> {
    let items: Vec<String> = source
        .get(name)?
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    Some(items)
}

/// A comma list that, when set, names at least one thing.
pub(super) fn non_empty_list(
    source: &Source,
    name: &str,
) -> Result<Option<Vec<String>>, SettingError> {
    match list(source, name) {
        Some(items) if items.is_empty() => fail(name, "lists nothing"),
        other => Ok(other),
    }
}
