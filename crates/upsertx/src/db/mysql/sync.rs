//! What `upsertx sync` asks of MySQL and MariaDB: their tables, a cursor's greatest
//! value, the marks (in the URL's database).

use super::session::db_error;
use super::sql::q;
use super::MyConnection;
use crate::db::{sql, Catalog, Mark, SourceTable, MARKS};
use crate::error::Result;
use mysql::prelude::Queryable;

impl Catalog for MyConnection {
    fn tables(&mut self) -> Result<Vec<SourceTable>> {
        let rows: Vec<(String, String, bool, bool)> = self
            .conn
            .exec(
                "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_SCHEMA = DATABASE(), TABLE_TYPE = 'VIEW' FROM information_schema.TABLES
                 WHERE TABLE_TYPE IN ('BASE TABLE', 'VIEW') AND TABLE_NAME <> ?
                   AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
                 ORDER BY 1, 2",
                (MARKS,),
            )
            .map_err(|e| db_error("listing the tables", e))?;
        Ok(rows
            .into_iter()
            .map(|(schema, name, default_schema, view)| SourceTable {
                schema: Some(schema),
                name,
                default_schema,
                view,
            })
            .collect())
    }

    fn quote(&self, name: &str) -> String {
        q(name)
    }

    fn literal(&self, text: &str) -> String {
        // Backslashes escape in MySQL's literals unless NO_BACKSLASH_ESCAPES.
        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
    }

    fn max_text(&mut self, from: &str, column: &str) -> Result<Option<String>> {
        let sql = format!("SELECT CAST(max({column}) AS CHAR) FROM {from}");
        let row: Option<Option<String>> =
            self.conn.query_first(sql).map_err(|e| db_error("reading the cursor's greatest value", e))?;
        Ok(row.flatten())
    }

    fn create_marks(&mut self) -> Result<()> {
        let sql = sql::create_marks(
            q,
            ["VARCHAR(255)", "VARCHAR(500)"],
            "TEXT",
            " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        );
        self.conn.query_drop(sql).map_err(|e| db_error("creating the table of marks", e))
    }

    fn mark(&mut self, table: &str, item: &str) -> Result<Option<Mark>> {
        let exists: Option<i64> = self
            .conn
            .exec_first(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                (MARKS,),
            )
            .map_err(|e| db_error("reading the marks", e))?;
        if exists.is_none() {
            return Ok(None);
        }
        let sql = sql::read_mark(q, ["?", "?"]);
        let row: Option<(String, String, String)> =
            self.conn.exec_first(sql, (table, item)).map_err(|e| db_error("reading the marks", e))?;
        Ok(row.map(|(stream, cursor, value)| Mark {
            table: table.to_owned(),
            item: item.to_owned(),
            stream,
            cursor,
            value,
        }))
    }

    fn save_mark(&mut self, m: &Mark) -> Result<()> {
        let sql = sql::save_mark(q, ["?"; 5], false);
        self.conn
            .exec_drop(sql, (&m.table, &m.item, &m.stream, &m.cursor, &m.value))
            .map_err(|e| db_error("saving the mark", e))
    }
}
