//! Timestamps are Unix milliseconds in the database (`BIGINT`): native timestamp types
//! do not cross sqlx's Any driver on either database (docs/architecture.md).

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
