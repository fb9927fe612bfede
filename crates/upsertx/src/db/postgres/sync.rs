//! What `upsertx sync` asks of PostgreSQL: its tables and views, a cursor's greatest value, the
//! marks (in the session's current schema).

use super::session::message;
use super::sql::q;
use super::PgConnection;
use crate::db::{sql, Catalog, Mark, SourceTable, MARKS};
use crate::error::{Error, Result};

fn db(context: &str, e: postgres::Error) -> Error {
    Error::db(context, message(&e))
}

impl Catalog for PgConnection {
    fn tables(&mut self) -> Result<Vec<SourceTable>> {
        let rows = self
            .client
            .query(
                "SELECT n.nspname::text, c.relname::text, n.nspname = current_schema(), c.relkind IN ('v', 'm')
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition AND c.relname <> $1
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
                 ORDER BY 1, 2",
                &[&MARKS],
            )
            .map_err(|e| db("listing the tables", e))?;
        Ok(rows
            .iter()
            .map(|r| SourceTable { schema: Some(r.get(0)), name: r.get(1), default_schema: r.get(2), view: r.get(3) })
            .collect())
    }

    fn quote(&self, name: &str) -> String {
        q(name)
    }

    fn literal(&self, text: &str) -> String {
        sql::single_quoted(text)
    }

    fn max_text(&mut self, from: &str, column: &str) -> Result<Option<String>> {
        let sql = format!("SELECT max({column})::text FROM {from}");
        let row = self.client.query_one(&sql, &[]).map_err(|e| db("reading the cursor's greatest value", e))?;
        Ok(row.get(0))
    }

    fn create_marks(&mut self) -> Result<()> {
        let sql = sql::create_marks(q, ["text", "text"], "text", "");
        self.client.batch_execute(&sql).map_err(|e| db("creating the table of marks", e))
    }

    fn mark(&mut self, table: &str, item: &str) -> Result<Option<Mark>> {
        let exists = self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&q(MARKS)])
            .map_err(|e| db("reading the marks", e))?;
        if !exists.get::<_, bool>(0) {
            return Ok(None);
        }
        let sql = sql::read_mark(q, ["$1", "$2"]);
        let row = self.client.query_opt(&sql, &[&table, &item]).map_err(|e| db("reading the marks", e))?;
        Ok(row.map(|r| Mark {
            table: table.to_owned(),
            item: item.to_owned(),
            stream: r.get(0),
            cursor: r.get(1),
            value: r.get(2),
        }))
    }

    fn save_mark(&mut self, m: &Mark) -> Result<()> {
        let sql = sql::save_mark(q, ["$1", "$2", "$3", "$4", "$5"], true);
        self.client
            .execute(&sql, &[&m.table, &m.item, &m.stream, &m.cursor, &m.value])
            .map(|_| ())
            .map_err(|e| db("saving the mark", e))
    }
}
