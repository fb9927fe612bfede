//! `CREATE TABLE` for `--create`: MySQL's types for the checked types (text keys as
//! `VARCHAR(255)`, which an index can hold; text compared as bytes, see [`Binary`]).

use super::sql::q;
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

/// The collation of the text columns of a table upsertx creates: binary and without
/// padding where the server has one, so that keys compare as on SQLite and PostgreSQL
/// (`'n123ab'` and `'N123AB'` are two keys, so are `'a'` and `'a '`), where the server's
/// default collation is case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binary {
    /// MariaDB's `utf8mb4_nopad_bin`.
    NoPad,
    /// MySQL 8's `utf8mb4_0900_bin` (no padding).
    Mysql0900,
    /// `utf8mb4_bin` (MySQL 5.7: trailing spaces ignored in comparisons).
    Bin,
}

impl Binary {
    /// The collations to look for on the server, best first.
    pub(crate) const NAMES: [(&'static str, Binary); 2] =
        [("utf8mb4_nopad_bin", Binary::NoPad), ("utf8mb4_0900_bin", Binary::Mysql0900)];

    fn types(self) -> [&'static str; 2] {
        match self {
            Binary::NoPad => [
                "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
                "TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
            ],
            Binary::Mysql0900 => [
                "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin",
                "TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin",
            ],
            Binary::Bin => [
                "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
                "TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            ],
        }
    }
}

pub(crate) fn create_table_sql(table: &str, columns: &[Column], key: &[String], text: Binary) -> String {
    let [varchar, long] = text.types();
    crate::db::sql::create_table_sql(&q(table), columns, key, q, |c, is_key| match (&c.ty, is_key) {
        // A key must be indexable: text keys become VARCHAR.
        (SqlType::Text { .. } | SqlType::Uuid, true) => varchar,
        (SqlType::Text { .. } | SqlType::Any | SqlType::Other, false) => long,
        (t, _) => ddl_type(t),
    })
}
