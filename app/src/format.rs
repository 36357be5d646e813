//! Formatting shared by the server render and the browser, so both produce the same
//! text (a difference would break hydration).

use chrono::DateTime;
use leptos::prelude::*;

use crate::zone::ViewerZone;

/// `2026-11-22 14:05` in the viewer's time zone (UTC outside a page).
pub fn timestamp(ms: i64) -> String {
    local(ms, "%Y-%m-%d %H:%M")
}

/// `ms` formatted in the viewer's zone.
fn local(ms: i64, format: &str) -> String {
    let shift = ViewerZone::current().offset_minutes(ms) * 60_000;
    DateTime::from_timestamp_millis(ms + shift)
        .map(|d| d.format(format).to_string())
        .unwrap_or_default()
}

/// How long ago `ms` was, as a list shows it: `now`, `12 min`, `3 h`, `5 d`, and
/// the date past two months.
pub fn age(ms: i64, now: i64) -> String {
    let minutes = (now - ms).max(0) / 60_000;
    match minutes {
        0 => "now".into(),
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => format!("{} h", m / 60),
        m if m < 60 * 24 * 60 => format!("{} d", m / (24 * 60)),
        _ => local(ms, "%Y-%m-%d"),
    }
}

/// The time now, in ms (the browser's clock in the browser: the standard library
/// has none there).
pub fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A time in a list: its age, the full time and zone on hover, the instant for
/// machines (`<time datetime>`).
#[component]
pub fn When(ms: i64) -> impl IntoView {
    let instant = instant(ms);
    let full = format!("{} {}", timestamp(ms), ViewerZone::current().0);
    view! {
        <time datetime=instant title=full>
            {age(ms, now_ms())}
        </time>
    }
}

/// A full time, where a page shows one email or event: `<time>` with the instant.
#[component]
pub fn FullTime(ms: i64) -> impl IntoView {
    view! { <time datetime=instant(ms)>{timestamp(ms)}</time> }
}

/// The instant in UTC, as `<time datetime>` takes it.
fn instant(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// A category name as people read it: `invoice_billing` → `invoice billing`.
pub fn category(name: &str) -> String {
    name.replace('_', " ")
}

/// `0.873` → `87%`.
pub fn percent(p: f64) -> String {
    format!("{:.0}%", (p * 100.0).clamp(0.0, 100.0))
}

/// A size as people read it: `512 B`, `12 KB`, `3.4 MB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / 1_048_576.0),
    }
}

/// Words from the server as a sentence: a capital first letter and a full stop.
pub fn sentence(words: &str) -> String {
    let words = words.trim();
    let mut chars = words.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let end = if words.ends_with(['.', '!', '?']) {
        ""
    } else {
        "."
    };
    format!("{}{}{end}", first.to_uppercase(), chars.as_str())
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_read_naturally() {
        assert_eq!(super::timestamp(0), "1970-01-01 00:00");
        let now = 1_800_000_000_000;
        assert_eq!(super::age(now - 30_000, now), "now");
        assert_eq!(super::age(now - 12 * 60_000, now), "12 min");
        assert_eq!(super::age(now - 3 * 3_600_000 - 5, now), "3 h");
        assert_eq!(super::age(now - 5 * 86_400_000, now), "5 d");
        assert_eq!(super::age(0, now), "1970-01-01");
        assert_eq!(
            super::age(now + 60_000, now),
            "now",
            "a clock a little behind"
        );
        assert_eq!(super::category("order_status"), "order status");
        assert_eq!(super::percent(0.873), "87%");
        assert_eq!(super::size(512), "512 B");
        assert_eq!(
            super::sentence("no mailbox can send"),
            "No mailbox can send."
        );
        assert_eq!(super::sentence("Signed in."), "Signed in.");
        assert_eq!(super::size(3 * 1_048_576 + 420_000), "3.4 MB");
    }
}
