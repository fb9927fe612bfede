//! `CREATE TABLE` for `--create`: MySQL's types for the checked types (text keys as
//! `VARCHAR(255)`, which an index can hold).

use super::q;
use crate::schema::Column;
use crate::value::SqlType;

pub(crate) fn ddl_type(ty: &SqlType) -> &'static str {
    match ty {
        SqlType::Boolean => "BOOLEAN",
        SqlType::Integer { .. } | SqlType::Unsigned { .. } => "BIGINT",
        SqlType::Real { .. } => "DOUBLE",
        SqlType::Numeric | SqlType::Decimal => "DECIMAL(65,30)",
        SqlType::Text { .. } | SqlType::Any | SqlType::Other | SqlType::Array(_) => "TEXT",
        SqlType::Blob => "LONGBLOB",
        SqlType::Date => "DATE",
        SqlType::Time => "TIME(6)",
        SqlType::Timestamp | SqlType::TimestampTz => "DATETIME(6)",
        SqlType::Json => "JSON",
        SqlType::Uuid => "CHAR(36)",
    }
}

pub(crate) fn create_table_sql(table: &str, columns: &[Column], key: &[String]) -> String {
    crate::target::sql::create_table_sql(&q(table), columns, key, q, |c, is_key| match (&c.ty, is_key) {
        // A key must be indexable: text keys become VARCHAR.
        (SqlType::Text { .. } | SqlType::Uuid, true) => "VARCHAR(255)",
        (t, _) => ddl_type(t),
    })
}
