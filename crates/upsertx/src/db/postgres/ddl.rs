//! `CREATE TABLE` for `--create`: PostgreSQL's names for the checked types.

use super::sql::q;
use crate::schema::Column;
use crate::value::SqlType;

pub(crate) fn ddl_type(ty: &SqlType) -> &'static str {
    match ty {
        SqlType::Boolean => "boolean",
        SqlType::Integer { bits: 16 } => "smallint",
        SqlType::Integer { bits: 32 } => "integer",
        SqlType::Integer { .. } | SqlType::Unsigned { .. } => "bigint",
        SqlType::Real { .. } => "double precision",
        SqlType::Numeric | SqlType::Decimal => "numeric",
        SqlType::Text { .. } | SqlType::Any | SqlType::Other | SqlType::Array(_) => "text",
        SqlType::Blob => "bytea",
        SqlType::Date => "date",
        SqlType::Time => "time",
        SqlType::Timestamp => "timestamp",
        SqlType::TimestampTz => "timestamptz",
        SqlType::Json => "jsonb",
        SqlType::Uuid => "uuid",
    }
}

pub(crate) fn create_table_sql(table: &str, columns: &[Column], key: &[String]) -> String {
    crate::db::sql::create_table_sql(table, columns, key, q, |c, _| ddl_type(&c.ty))
}
