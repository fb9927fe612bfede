//! The databases: what each one must do ([`Connection`]), one folder per database
//! holding all of it (`mod.rs` its [`Connection`], `session.rs` opening it,
//! `reflect.rs`, `ddl.rs`, `stage.rs`, `merge.rs`, `delete.rs`, `changes.rs`,
//! `query.rs` its rows as a source), the SQL they all write alike in [`sql`], the
//! `--history` steps in [`history`] and the query source in [`query`]. Everything
//! database-neutral (reading, checking values, planning, reporting) lives outside, once.
//!
//! A load drives a [`Connection`] in this order: `begin`, `reflect` (and
//! `create_table` when asked), `create_stage`, `stage` for each batch, `finish_stage`,
//! (`prepare_delete` and `count_in_scope` for `--delete-missing`), `merge`
//! (`delete_missing`), then `commit` (or `rollback` on any error and for dry runs).

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod digits;
pub(crate) mod history;
#[cfg(feature = "mysql")]
pub(crate) mod mysql;
pub(crate) mod open;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod query;
mod rows;
pub(crate) mod sorted;
pub(crate) mod sql;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

pub(crate) use crate::batch::Batch;

/// The batches a load stages, in input order (see [`Connection::stage`]).
pub(crate) type Batches<'a> = &'a mut dyn Iterator<Item = Result<Batch>>;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::schema::{Column, Table};
use crate::spec::OnConflict;

/// What a merge did. `staged` counts distinct keys after de-duplication.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MergeCounts {
    pub staged: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub ignored: u64,
    /// Matched rows `--newer-by` did not apply (they differ, but are not newer).
    pub stale: u64,
}

impl MergeCounts {
    /// The counts of a merge that staged `staged` distinct keys, inserted `inserted` of
    /// them and updated `updated`: the rest matched an existing row, and are unchanged
    /// (`--on-conflict update`) or ignored (`ignore`; `error` lets none match). Every
    /// database's merge reports through this, so the rule is written once.
    pub(crate) fn derive(on_conflict: OnConflict, staged: u64, inserted: u64, updated: u64) -> MergeCounts {
        // Saturating: a server's row counts are never trusted to underflow.
        let matched = staged.saturating_sub(inserted);
        match on_conflict {
            OnConflict::Update => MergeCounts {
                staged,
                inserted,
                updated,
                unchanged: matched.saturating_sub(updated),
                ..Default::default()
            },
            OnConflict::Ignore => MergeCounts { staged, inserted, ignored: matched, ..Default::default() },
            OnConflict::Error => MergeCounts { staged, inserted, ..Default::default() },
        }
    }

    /// These counts with `stale` of the rows counted unchanged found stale instead
    /// (`--newer-by`: matched, not updated, and differing from the table's row).
    pub(crate) fn with_stale(self, stale: u64) -> MergeCounts {
        let stale = stale.min(self.unchanged);
        MergeCounts { unchanged: self.unchanged - stale, stale, ..self }
    }
}

/// A row `--changes` reports, and how the values of its [`ChangeRow`] are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeOp {
    /// NULL, then every plan column as inserted.
    Insert = 0,
    /// The change mask (a `0` or `1` per updated column: `1` where it changes), every
    /// plan column as the merge writes it, then the updated columns as they were.
    Update,
    /// Every plan column, before the row was deleted (or marked).
    Delete,
}

/// One row handed to a [`ChangeSink`]: its values as the database writes them as text,
/// fetched when asked.
pub(crate) trait ChangeRow {
    /// Value `i`, `None` for NULL.
    fn text(&mut self, i: usize) -> Option<&str>;
}

/// What receives the rows of [`Connection::merge`] and
/// [`Connection::delete_missing`], one at a time.
pub(crate) trait ChangeSink {
    /// One row the load writes.
    fn row(&mut self, op: ChangeOp, row: &mut dyn ChangeRow) -> Result<()>;

    /// Every row of `op` and of the ops a load applies before it (updates, inserts,
    /// deletes) has been handed over: the lines of the next can go straight in.
    fn done(&mut self, op: ChangeOp) -> Result<()>;
}

/// Hands one row of [`sql::written_select`] to `sink`: an insert when its mask is NULL;
/// counted in `told`.
pub(crate) fn tell_written(sink: &mut dyn ChangeSink, row: &mut dyn ChangeRow, told: &mut Told) -> Result<()> {
    let op = match row.text(0) {
        None => ChangeOp::Insert,
        Some(_) => ChangeOp::Update,
    };
    told.0[op as usize] += 1;
    sink.row(op, row)
}

/// The rows a read before the merge ([`sql::written_select`]) found it will insert and
/// update. When the table (or those rows and the new keys' gaps) stays locked against
/// other writers until commit, they are the rows the merge writes, short of a trigger of
/// the table (the engine checks the counts).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Told([u64; 2]);

// Only the databases that read their changes before writing them count this way.
#[cfg(any(feature = "postgres", feature = "mysql"))]
impl Told {
    pub(crate) fn inserts(&self) -> u64 {
        self.0[ChangeOp::Insert as usize]
    }

    pub(crate) fn updates(&self) -> u64 {
        self.0[ChangeOp::Update as usize]
    }

    /// Whether the merge has only one kind of row to write (or none): then only the
    /// statement for that kind needs to run. Not under `--always-update`, which rewrites
    /// rows no line tells.
    pub(crate) fn one_kind(&self, plan: &Plan) -> bool {
        self.inserts() == 0 || (self.updates() == 0 && !plan.spec.always_update)
    }

    /// Whether the merge's UPDATE has rows to write.
    pub(crate) fn updating(&self, plan: &Plan) -> bool {
        self.updates() > 0 || plan.spec.always_update
    }
}

/// `--evolve`: a column of the table too small for the input's values, and what it
/// becomes.
#[derive(Debug, Clone)]
pub(crate) struct Widen {
    /// The column as reflected.
    pub column: Column,
    pub to: Widening,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Widening {
    /// A `varchar(n)`/`char(n)` holding this many characters.
    Chars(u32),
    /// An integer column too narrow: a 64-bit integer of its signedness.
    BigInt,
    /// A decimal with this precision and scale (a decimal too small, or an integer
    /// column given numbers with a fraction).
    Decimal { precision: u32, scale: u32 },
    /// A double (an integer column given typed floating-point numbers).
    Double,
}

/// `--evolve`: the type a column declared `declared` (`varchar(20)`, `character(5)`,
/// `int(11) unsigned`) widens to: the same kind holding `n` characters, a 64-bit integer
/// of its signedness, `numeric(p,s)` (every database's spelling of a decimal), or
/// `double precision`.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn widened_type(declared: &str, to: Widening) -> String {
    match to {
        Widening::Chars(n) => match (declared.find('('), declared.find(')')) {
            (Some(open), Some(close)) if open < close => {
                format!("{}({n}){}", &declared[..open], &declared[close + 1..])
            }
            _ => format!("varchar({n})"),
        },
        Widening::BigInt if declared.to_ascii_lowercase().contains("unsigned") => "bigint unsigned".into(),
        Widening::BigInt => "bigint".into(),
        Widening::Decimal { precision, scale } => format!("numeric({precision},{scale})"),
        Widening::Double => "double precision".into(),
    }
}

/// A table of a source database, as `upsertx sync` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceTable {
    /// Its schema (PostgreSQL) or database (MySQL); `None` on SQLite.
    pub schema: Option<String>,
    pub name: String,
    /// Whether its schema is the session's default one (`public`, the URL's database).
    pub default_schema: bool,
    /// A view (or materialized view): named by a stream, never taken by a pattern.
    pub view: bool,
}

impl SourceTable {
    /// `schema.name` (a stream's name), or `name` on SQLite.
    pub(crate) fn qualified(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Where an incremental stream got to: the greatest value of its cursor column that a
/// run loaded, as the source wrote it as text; kept in the target's `upsertx_sync_marks`
/// table, keyed by the target table, written in the load's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    pub table: String,
    /// What is marked in that table: `""` for a cursor, a file's path for a file.
    pub item: String,
    pub stream: String,
    pub cursor: String,
    pub value: String,
}

/// The table of marks in a target database.
pub(crate) const MARKS: &str = "upsertx_sync_marks";

/// What `upsertx sync` asks of a database besides loads: as a source, its tables, how
/// it spells a name and a text literal, and the greatest value of a cursor column; as a
/// target, the marks it keeps. Each database's `sync.rs`.
pub trait Catalog {
    /// The base tables, in name order, system schemas (and the marks table) left out.
    fn tables(&mut self) -> Result<Vec<SourceTable>>;
    /// `name` quoted as an identifier (one part).
    fn quote(&self, name: &str) -> String;
    /// `text` as a string literal.
    fn literal(&self, text: &str) -> String;
    /// The greatest non-NULL value of `column` (an expression) among the rows of `from`
    /// (a table or `(query) AS q`), as text at its full precision; `None` when none.
    fn max_text(&mut self, from: &str, column: &str) -> Result<Option<String>>;
    /// Creates the table of marks when it is missing (outside any load's transaction).
    fn create_marks(&mut self) -> Result<()>;
    /// The mark kept for `item` of target table `table`, if any (`None` too when there
    /// is no table of marks).
    fn mark(&mut self, table: &str, item: &str) -> Result<Option<Mark>>;
    /// Writes `mark` (in the load's transaction).
    fn save_mark(&mut self, mark: &Mark) -> Result<()>;
}

/// Why `--distribute-by` cannot run here.
pub(crate) const NO_CITUS: &str =
    "--distribute-by distributes a table across a Citus cluster: only a PostgreSQL server with the citus extension can";

/// One database session of one load.
pub trait Connection: Catalog {
    /// `--lock-timeout`: from now on, a wait for a lock ends after `seconds` with an error
    /// (called before [`begin`](Connection::begin)).
    fn set_lock_timeout(&mut self, seconds: f64) -> Result<()>;
    fn begin(&mut self) -> Result<()>;
    /// The table, or `None` when it does not exist.
    fn reflect(&mut self, table: &str) -> Result<Option<Table>>;
    /// Creates the table with `key` as its primary key. False when another session
    /// created it first (two loads that create one table at once): the later one waits
    /// for the earlier to end, then upserts into its table. A table created by a load
    /// that fails is gone with its rollback.
    fn create_table(&mut self, table: &str, columns: &[Column], key: &[String]) -> Result<bool>;
    /// `--distribute-by`: distributes the table this load just created across a Citus
    /// cluster by `column`. Only a Citus coordinator can.
    fn distribute(&mut self, _table: &str, _column: &str) -> Result<()> {
        Err(Error::Usage(NO_CITUS.into()))
    }
    /// `--evolve`: widens the columns of `widen` and adds `add` (nullable) to the table
    /// [`reflect`](Connection::reflect) found (unless `apply` is false); returns what it
    /// did, one line each (`widened "name" varchar(20) -> varchar(64)`, `added column
    /// "tier" text`). Where DDL commits (MySQL, MariaDB) it is one `ALTER`: all of it
    /// or none.
    fn evolve_table(&mut self, table: &str, widen: &[Widen], add: &[Column], apply: bool) -> Result<Vec<String>>;
    /// The digits after the second a timestamp column of this database keeps (6 unless
    /// its type says otherwise: MySQL's `datetime` keeps none).
    fn second_digits(&self, column: &Column) -> u32 {
        sql::second_digits(&column.declared, 6)
    }
    /// The longest column name, in bytes, the database keeps whole (PostgreSQL cuts a
    /// longer one to 63 bytes with a mere notice; MySQL refuses past 64); `None`: no
    /// limit worth checking.
    fn max_name_bytes(&self) -> Option<(usize, &'static str)> {
        None
    }
    /// Whether DDL commits the load's transaction (MySQL, MariaDB): then `--evolve`
    /// checks every value before changing the table, and a dry run changes nothing.
    fn ddl_commits(&self) -> bool {
        false
    }
    /// Creates the session-private staging table for the plan's columns.
    fn create_stage(&mut self, plan: &Plan) -> Result<()>;
    /// Stages every batch of `batches`, in order, until it ends or yields an error (the
    /// input's, or the caller's stop), which ends the staging with it. One call takes the
    /// whole stream, so a dialect can keep one statement open across batches (a COPY);
    /// it may also hold rows until [`finish_stage`](Connection::finish_stage). Dialects
    /// that de-duplicate while staging apply `plan.spec.duplicates` here.
    fn stage(&mut self, plan: &Plan, batches: Batches<'_>) -> Result<()>;
    /// Finishes staging once every batch is in (stages that sort the rows send them now).
    fn finish_stage(&mut self, _plan: &Plan) -> Result<()> {
        Ok(())
    }
    /// `--delete-missing`, before the merge: records the `--scope` values the input holds
    /// (from the stage) for [`count_in_scope`](Connection::count_in_scope) and
    /// [`delete_missing`](Connection::delete_missing).
    fn prepare_delete(&mut self, plan: &Plan) -> Result<()>;
    /// The table's rows within the delete scope (before the merge, for `--max-delete P%`).
    fn count_in_scope(&mut self, plan: &Plan) -> Result<u64>;
    /// Applies the staged rows to the table with exact counts. Under `--changes`, hands
    /// `tell` every row it inserts or updates, as the table held it before: read first
    /// ([`sql::written_select`], the rows to update locked until commit), or taken by the
    /// statements that write them (SQLite).
    fn merge(&mut self, plan: &Plan, tell: Option<&mut dyn ChangeSink>) -> Result<MergeCounts>;
    /// `--delete-missing`, after the merge: deletes the table's rows within the scope
    /// whose key no input row has, in key order; returns how many. Under `--changes`,
    /// hands them to `tell` first, as they are ([`sql::deleted_select`], locked).
    fn delete_missing(&mut self, plan: &Plan, tell: Option<&mut dyn ChangeSink>) -> Result<u64>;
    /// The table's keys ([`sql::table_keys`]), read in the load's transaction and held in
    /// memory: what `upsertx sync`'s incremental deletes compare with the source's
    /// (`diff.rs`). Its columns are named as the table's.
    fn table_keys(&mut self, plan: &Plan) -> Result<Box<dyn arrow_array::RecordBatchReader + Send>>;
    fn commit(&mut self) -> Result<()>;
    fn rollback(&mut self) -> Result<()>;
}

/// Loads `batches` of (id, size) rows, numbered from 1 (each on line row + 1), into table
/// `t (id, size)`: the stagers' tests, which make runs tiny to cross their boundaries.
/// `id` makes the key's value (an integer, or its text).
#[cfg(test)]
pub(crate) fn load_id_size(
    conn: &mut dyn Connection,
    duplicates: crate::spec::Duplicates,
    batches: &[&[(i64, &str)]],
    id: fn(i64) -> crate::value::Value<'static>,
) -> Result<MergeCounts> {
    use crate::value::Value;
    conn.begin()?;
    let table = conn.reflect("t")?.expect("table t");
    let spec = crate::spec::Spec { duplicates, ..Default::default() };
    let plan = Plan::new(table, "in.csv", &["id".into(), "size".into()], &spec)?;
    conn.create_stage(&plan)?;
    let mut row = 0;
    let mut staged = batches.iter().map(|rows| {
        let mut values = Vec::new();
        for (n, size) in rows.iter() {
            row += 1;
            values.push((row, Some(row + 1), vec![id(*n), Value::text(size.to_string())]));
        }
        Ok(Batch::from_rows(values))
    });
    conn.stage(&plan, &mut staged)?;
    conn.finish_stage(&plan)?;
    let counts = conn.merge(&plan, None)?;
    conn.commit()?;
    Ok(counts)
}

#[cfg(test)]
mod second_digits_tests {
    #[test]
    fn timestamps_keep_the_digits_their_type_declares() {
        use super::sql::second_digits;
        assert_eq!(second_digits("datetime", 0), 0);
        assert_eq!(second_digits("datetime(3)", 0), 3);
        assert_eq!(second_digits("TIMESTAMP", 6), 6);
        assert_eq!(second_digits("timestamp without time zone", 6), 6);
        assert_eq!(second_digits("timestamp(0) with time zone", 6), 0);
    }
}
