//! Timestamps are Unix milliseconds in the database (`BIGINT`): native timestamp types
//! do not cross sqlx's Any driver on either database (docs/architecture.md).

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `YYYY-MM-DD HH:MM UTC`, for the command line's tables.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// A day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// `YYYY-MM-DD` → midnight UTC in milliseconds; `field` names the input in the error.
pub fn day_start(field: &str, v: &str) -> crate::error::DomainResult<i64> {
    chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| {
            crate::error::DomainError::invalid(
                field,
                format!("{v:?} is not a date like 2026-11-23"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_midnights() {
        assert_eq!(day_start("from", "1970-01-02").unwrap(), DAY_MS);
        assert!(day_start("from", "02/01/1970").is_err());
    }
}
