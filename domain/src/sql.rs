//! Writing SQL that runs on both databases: a statement built from the parts that
//! apply, with its values bound in order, and the small helpers the hot paths use
//! to write many rows with a few statements.

use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryAs, QueryScalar};

use crate::db::{Db, Dialect};
use crate::error::{DomainError, DomainResult};

/// A SQL statement built from the parts that apply (a filter's set fields, say),
/// with its values in order. Only present parts appear in the text, so each database
/// plans each shape once, with the indexes that shape can use.
#[derive(Default, Clone, Debug)]
pub struct Sql {
    text: String,
    values: Vec<Value>,
}

/// A value bound to a [`Sql`] statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}

/// Bound as the value it holds.
impl<'q> sqlx::Encode<'q, sqlx::Any> for &'q Value {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self {
            Value::Int(i) => <i64 as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(i, buf),
            Value::Real(f) => <f64 as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(f, buf),
            Value::Text(s) => <&'q str as sqlx::Encode<'q, sqlx::Any>>::encode(s.as_str(), buf),
        }
    }
}

/// The Any driver reads each value's own kind; this is only what `bind` asks for.
impl sqlx::Type<sqlx::Any> for &Value {
    fn type_info() -> <sqlx::Any as sqlx::Database>::TypeInfo {
        <String as sqlx::Type<sqlx::Any>>::type_info()
    }
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            values: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Appends the next placeholder (`$n`) and binds `v` to it.
    pub fn bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.values.push(v.into());
        self.text.push_str(&format!("${}", self.values.len()));
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The statement with its values bound.
    pub fn query(&self) -> Query<'_, sqlx::Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for v in &self.values {
            q = q.bind(v);
        }
        q
    }

    /// The statement with its values bound, its rows read as `T`.
    pub fn query_as<T>(&self) -> QueryAs<'_, sqlx::Any, T, AnyArguments<'_>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let mut q = sqlx::query_as(&self.text);
        for v in &self.values {
            q = q.bind(v);
        }
        q
    }

    /// The statement with its values bound, its rows' first column read as `T`.
    pub fn query_scalar<T>(&self) -> QueryScalar<'_, sqlx::Any, T, AnyArguments<'_>>
    where
        (T,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let mut q = sqlx::query_scalar(&self.text);
        for v in &self.values {
            q = q.bind(v);
        }
        q
    }
}

/// `1,2,3` for an `IN (…)`: ids are integers, so they are written in, not bound
/// (one statement per batch instead of one per email). Such a statement is run once:
/// `persistent(false)` keeps it out of sqlx's statement cache, where it would push
/// out the statements that are used again.
pub fn id_list(ids: impl Iterator<Item = i64>) -> String {
    ids.map(|id| id.to_string()).collect::<Vec<_>>().join(",")
}

/// The ids of an [`id_list`] (anything that is not an id is skipped).
pub fn parse_id_list(list: &str) -> impl Iterator<Item = i64> + '_ {
    list.split(',').filter_map(|id| id.parse().ok())
}

/// The placeholders of a multi-row `VALUES`: `rows` groups of `width`, numbered
/// on PostgreSQL (`($1,$2),($3,$4)`) and plain on SQLite (`(?,?),(?,?)`). sqlx-sqlite
/// looks every numbered parameter's name up in a list, a cost that grows with the
/// square of their count (a ninth of a scoring job's database time with 900 per
/// statement); plain `?` are bound in order.
pub fn values_placeholders(dialect: Dialect, rows: usize, width: usize) -> String {
    let mut sql = String::with_capacity(rows * width * 5);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ",(" });
        for column in 0..width {
            if column > 0 {
                sql.push(',');
            }
            match dialect {
                Dialect::Sqlite => sql.push('?'),
                Dialect::Postgres => {
                    sql.push('$');
                    sql.push_str(&(row * width + column + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// A nullable double as a query parameter: text, for the SQL to cast with
/// `CAST($n AS DOUBLE PRECISION)`. sqlx 0.8.6's Any driver sends a NULL double to
/// PostgreSQL as a `real` (it swaps the two kinds), and the statement it prepared
/// then refuses a later non-NULL double on the same connection ("incorrect binary
/// data format in bind parameter"). Text is text either way; Rust writes a double's
/// shortest exact form, so nothing is lost.
pub fn nullable_double(value: Option<f64>) -> Option<String> {
    value.map(|v| v.to_string())
}

/// Sets a row's nullable timestamp flag (`retired_at`, `revoked_at`) to now, once.
/// `NotFound` when no row with this id has the flag unset. `table` and `column` come
/// from the code, never from a request.
pub async fn stamp_once(
    db: &Db,
    table: &'static str,
    column: &'static str,
    id: i64,
) -> DomainResult<()> {
    let done = sqlx::query(&format!(
        "UPDATE {table} SET {column} = $1 WHERE id = $2 AND {column} IS NULL"
    ))
    .bind(crate::time::now_ms())
    .bind(id)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_placeholders_are_numbered_on_postgres_and_plain_on_sqlite() {
        assert_eq!(
            values_placeholders(Dialect::Postgres, 2, 3),
            "($1,$2,$3),($4,$5,$6)"
        );
        assert_eq!(
            values_placeholders(Dialect::Sqlite, 2, 3),
            "(?,?,?),(?,?,?)"
        );
        assert_eq!(values_placeholders(Dialect::Sqlite, 0, 3), "");
    }

    #[test]
    fn a_statement_numbers_its_values_in_order() {
        let mut sql = Sql::new("SELECT id FROM emails WHERE 1 = 1");
        sql.push(" AND status = ")
            .bind("new")
            .push(" AND confidence < ")
            .bind(0.5);
        assert_eq!(
            sql.text(),
            "SELECT id FROM emails WHERE 1 = 1 AND status = $1 AND confidence < $2"
        );
        assert_eq!(sql.values, [Value::Text("new".into()), Value::Real(0.5)]);
    }

    #[test]
    fn id_lists_read_back() {
        let list = id_list([3, 1, 2].into_iter());
        assert_eq!(list, "3,1,2");
        assert_eq!(parse_id_list(&list).collect::<Vec<_>>(), [3, 1, 2]);
    }
}
