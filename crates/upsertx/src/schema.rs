//! The reflected table model every dialect fills in, and the Arrow types that map onto
//! it (for `--create` from a typed input).

use crate::error::Result;
use crate::value::SqlType;
use arrow_schema::{DataType, Schema};

/// A column of the target table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: SqlType,
    /// The type as the database declares it (`VARCHAR(20)`, `numeric(10,2)`); for a
    /// column `--create` is about to make, a type every database spells alike, or empty
    /// for the dialect's own choice from `ty`.
    pub declared: String,
    /// The database's own name of the underlying type (for a PostgreSQL domain, its base
    /// type), for the dialect's use: `int4`, `jsonb`, `_text`...
    pub native: String,
    pub not_null: bool,
    pub has_default: bool,
    /// Computed by the database; never written.
    pub generated: bool,
    /// Its default draws from a sequence (serial, identity): inserting a row that then
    /// turns out to exist would burn a value.
    pub sequence_default: bool,
}

/// A primary key or unique constraint/index: something an upsert can key on.
#[derive(Debug, Clone, PartialEq)]
pub struct UniqueKey {
    /// The constraint or index name, where it has one.
    pub name: Option<String>,
    pub columns: Vec<String>,
    /// The collation of each column where it is not the default (SQLite).
    pub collations: Vec<Option<String>>,
    pub primary: bool,
    /// A partial index's condition (`deleted_at IS NULL`), as the database shows it:
    /// the key is unique only over the rows it holds for.
    pub predicate: Option<String>,
}

/// A target table as reflected from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The table's name as the database spells it.
    pub name: String,
    pub columns: Vec<Column>,
    /// The primary key first (if any), then the unique constraints and indexes.
    pub keys: Vec<UniqueKey>,
    /// The column a distributed table's rows are placed by (Citus): every unique key of
    /// such a table includes it, so an upsert key must too.
    pub distributed_by: Option<String>,
}

impl Column {
    /// A nullable column without a default: what `--create` makes.
    pub(crate) fn new(name: impl Into<String>, ty: SqlType) -> Column {
        Column {
            name: name.into(),
            ty,
            declared: String::new(),
            native: String::new(),
            not_null: false,
            has_default: false,
            generated: false,
            sequence_default: false,
        }
    }
}

impl UniqueKey {
    pub fn is_partial(&self) -> bool {
        self.predicate.is_some()
    }
}

/// A predicate in a form where spacing, case, quotes and parentheses do not matter, to
/// compare what the user typed with what the database shows.
pub(crate) fn normalize_predicate(p: &str) -> String {
    p.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | '"' | '`'))
        .flat_map(char::to_lowercase)
        .collect()
}

impl Table {
    pub fn primary_key(&self) -> Option<&UniqueKey> {
        self.keys.iter().find(|k| k.primary)
    }

    /// Finds a column by name: the exact spelling first, else the one column that
    /// matches ignoring case.
    pub fn find_column(&self, name: &str) -> Option<usize> {
        if let Some(i) = self.columns.iter().position(|c| c.name == name) {
            return Some(i);
        }
        let mut folded = self.columns.iter().enumerate().filter(|(_, c)| c.name.eq_ignore_ascii_case(name));
        match (folded.next(), folded.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    }
}

/// The field metadata key that names the SQL type behind a column whose Arrow type says
/// less: a query source's exact decimals (`decimal`), SQLite's dates (`date`, `time`,
/// `timestamp`), JSON text (`json`), UUIDs (`uuid`).
pub(crate) const SQL_TYPE_KEY: &str = "upsertx.sql_type";

/// The SQL type a field's metadata names: [`SQL_TYPE_KEY`], or Arrow's canonical
/// extension types `arrow.json` and `arrow.uuid`.
fn sql_type_named(f: &arrow_schema::Field) -> Option<SqlType> {
    let named = f.metadata().get(SQL_TYPE_KEY).or_else(|| f.metadata().get("ARROW:extension:name"))?;
    Some(match named.as_str() {
        "decimal" => SqlType::Decimal,
        "date" => SqlType::Date,
        "time" => SqlType::Time,
        "timestamp" => SqlType::Timestamp,
        "json" | "arrow.json" => SqlType::Json,
        "uuid" | "arrow.uuid" => SqlType::Uuid,
        _ => return None,
    })
}

/// The columns `--create` makes for a typed (Arrow) input: each column's type from its
/// Arrow type, no inference pass.
pub(crate) fn columns_of(input: &str, schema: &Schema) -> Result<Vec<Column>> {
    schema
        .fields()
        .iter()
        .map(|f| match sql_type_named(f).map_or_else(|| sql_type(f.data_type()), Ok) {
            Ok(ty) => {
                let mut column = Column::new(f.name(), ty);
                // A decimal keeps its precision and scale where every database can
                // declare them (MySQL: at most 65 digits, 30 after the point).
                if let DataType::Decimal32(p, s)
                | DataType::Decimal64(p, s)
                | DataType::Decimal128(p, s)
                | DataType::Decimal256(p, s) = f.data_type()
                {
                    if *p <= 65 && (0..=30).contains(s) && i16::from(*s) <= i16::from(*p) {
                        column.declared = format!("DECIMAL({p},{s})");
                    }
                }
                Ok(column)
            }
            Err(e) => Err(crate::error::Error::Schema(format!(
                "{input}: column {}: {e}, so --create cannot choose its SQL type: create the table first",
                crate::error::quote_ident(f.name())
            ))),
        })
        .collect()
}

/// The SQL type `--create` gives a column of this Arrow type, or why it has none.
pub(crate) fn sql_type(ty: &DataType) -> Result<SqlType, String> {
    Ok(match ty {
        DataType::Boolean => SqlType::Boolean,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => SqlType::Integer { bits: 16 },
        DataType::Int32 | DataType::UInt16 => SqlType::Integer { bits: 32 },
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => SqlType::Integer { bits: 64 },
        DataType::Float16 | DataType::Float32 => SqlType::Real { nan: false, single: true },
        DataType::Float64 => SqlType::Real { nan: false, single: false },
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            SqlType::Decimal
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => SqlType::Text { max_chars: None },
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => SqlType::Blob,
        DataType::Date32 | DataType::Date64 => SqlType::Date,
        DataType::Time32(_) | DataType::Time64(_) => SqlType::Time,
        DataType::Timestamp(_, None) => SqlType::Timestamp,
        DataType::Timestamp(_, Some(_)) => SqlType::TimestampTz,
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::ListView(_)
        | DataType::LargeListView(_)
        | DataType::FixedSizeList(..)
        | DataType::Struct(_)
        | DataType::Map(..) => SqlType::Json,
        DataType::Dictionary(_, values) => sql_type(values)?,
        other => return Err(format!("Arrow type {other} is not supported")),
    })
}

/// The columns `--create` or `--evolve` would make: refused when a name is longer than
/// the database keeps (`max`, in bytes; PostgreSQL would cut it and then not find it).
pub(crate) fn check_new_names(columns: &[Column], max: Option<(usize, &str)>) -> crate::error::Result<()> {
    let Some((max, database)) = max else { return Ok(()) };
    match columns.iter().find(|c| c.name.len() > max) {
        Some(c) => Err(crate::error::Error::Schema(format!(
            "column name {} is {} bytes long; {database} keeps at most {max}: rename the input's column",
            crate::error::quote_ident(&c.name),
            c.name.len()
        ))),
        None => Ok(()),
    }
}
