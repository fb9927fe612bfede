//! The spelling MySQL's files share: identifiers quoted, an expression as text.

/// Quotes an identifier for MySQL.
pub(crate) fn q(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// An expression as text, for a statement whose values come typed (a prepared one, in
/// the binary protocol). A plain query's come as text already, the same text.
pub(crate) fn text(e: String) -> String {
    format!("CAST({e} AS CHAR)")
}
