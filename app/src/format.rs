//! Formatting shared by the server render and the browser, so both produce the same
//! text (a difference would break hydration).

use chrono::DateTime;

/// `2026-11-22 14:05` in UTC.
pub fn timestamp(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
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
