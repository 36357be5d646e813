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

#[cfg(test)]
mod tests {
    #[test]
    fn values_read_naturally() {
        assert_eq!(super::timestamp(0), "1970-01-01 00:00");
        assert_eq!(super::category("order_status"), "order status");
        assert_eq!(super::percent(0.873), "87%");
    }
}
