//! How names are shown in messages (below every other module: the report and the
//! errors both use it).

/// Shows an identifier with double quotes, so spaces and odd characters stay visible.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
