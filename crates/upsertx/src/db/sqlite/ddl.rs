//! `CREATE TABLE` for `--create`: SQLite's declared types for the checked types.

use super::sql::q;
use crate::schema::Column;
use crate::value::SqlType;

pub(crate) fn ddl_type(ty: &SqlType) -> &'static str {
    match ty {
        SqlType::Boolean => "BOOLEAN",
        SqlType::Integer { .. } | SqlType::Unsigned { .. } => "INTEGER",
        SqlType::Real { .. } => "REAL",
        SqlType::Numeric | SqlType::Decimal => "NUMERIC",
        // JSON is stored as TEXT: a declared JSON type would have NUMERIC affinity.
        SqlType::Text { .. } | SqlType::Json => "TEXT",
        SqlType::Blob => "BLOB",
        SqlType::Date => "DATE",
        SqlType::Time => "TIME",
        SqlType::Timestamp => "TIMESTAMP",
        SqlType::TimestampTz => "TIMESTAMP",
        SqlType::Uuid => "TEXT",
        SqlType::Any | SqlType::Other | SqlType::Array(_) => "",
    }
}

pub(crate) fn create_table_sql(table: &str, columns: &[Column], key: &[String]) -> String {
    crate::db::sql::create_table_sql(&format!("main.{}", q(table)), columns, key, q, |c, _| ddl_type(&c.ty))
}
