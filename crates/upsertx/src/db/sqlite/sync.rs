//! What `upsertx sync` asks of SQLite: its tables, a cursor's greatest value, the marks.

use super::sql::q;
use super::SqliteConnection;
use crate::db::{sql, Catalog, Mark, SourceTable, MARKS};
use crate::error::{Error, Result};
use rusqlite::OptionalExtension;

fn db(context: &str, e: rusqlite::Error) -> Error {
    Error::db(context, e)
}

impl Catalog for SqliteConnection {
    fn tables(&mut self) -> Result<Vec<SourceTable>> {
        let sql = "SELECT name, type = 'view' FROM sqlite_schema WHERE type IN ('table', 'view')
                   AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> ?1 ORDER BY name";
        let mut stmt = self.conn.prepare(sql).map_err(|e| db("listing the tables", e))?;
        let names = stmt
            .query_map([MARKS], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| db("listing the tables", e))?;
        Ok(names
            .into_iter()
            .map(|(name, view)| SourceTable { schema: None, name, default_schema: true, view })
            .collect())
    }

    fn quote(&self, name: &str) -> String {
        q(name)
    }

    fn literal(&self, text: &str) -> String {
        sql::single_quoted(text)
    }

    fn max_text(&mut self, from: &str, column: &str) -> Result<Option<String>> {
        // A real as its 17 significant digits (CAST keeps 15); the rest as stored.
        let sql = format!(
            "SELECT CASE typeof(m) WHEN 'real' THEN printf('%!.17g', m) ELSE CAST(m AS TEXT) END
             FROM (SELECT max({column}) AS m FROM {from})"
        );
        self.conn.query_row(&sql, [], |r| r.get(0)).map_err(|e| db("reading the cursor's greatest value", e))
    }

    fn create_marks(&mut self) -> Result<()> {
        let sql = sql::create_marks(q, ["TEXT", "TEXT"], "TEXT", "");
        self.conn.execute_batch(&sql).map_err(|e| db("creating the table of marks", e))
    }

    fn mark(&mut self, table: &str, item: &str) -> Result<Option<Mark>> {
        let exists: Option<i64> = self
            .conn
            .query_row("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1", [MARKS], |r| r.get(0))
            .optional()
            .map_err(|e| db("reading the marks", e))?;
        if exists.is_none() {
            return Ok(None);
        }
        let sql = sql::read_mark(q, ["?1", "?2"]);
        self.conn
            .query_row(&sql, [table, item], |r| {
                Ok(Mark {
                    table: table.to_owned(),
                    item: item.to_owned(),
                    stream: r.get(0)?,
                    cursor: r.get(1)?,
                    value: r.get(2)?,
                })
            })
            .optional()
            .map_err(|e| db("reading the marks", e))
    }

    fn save_mark(&mut self, m: &Mark) -> Result<()> {
        let sql = sql::save_mark(q, ["?1", "?2", "?3", "?4", "?5"], true);
        self.conn
            .execute(&sql, [&m.table, &m.item, &m.stream, &m.cursor, &m.value])
            .map(|_| ())
            .map_err(|e| db("saving the mark", e))
    }
}
