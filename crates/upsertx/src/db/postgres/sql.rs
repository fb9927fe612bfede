//! The spelling PostgreSQL's files share: identifiers quoted, an expression as text.

pub(crate) use crate::db::sql::double_quoted as q;

/// An expression as text (the form the sink reads).
pub(crate) fn text(e: String) -> String {
    format!("({e})::text")
}
