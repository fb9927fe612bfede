//! One load from start to end: read and check rows on one thread, stage and merge
//! them on this one, all in one transaction.

use crate::changes::{ChangeLog, Sink};
use crate::check::infer::infer_columns;
use crate::check::{self, Batch};
use crate::db::{self, Batches, ChangeOp, Connection, MergeCounts};
use crate::diff;
use crate::error::{quote_ident, Error, Result};
use crate::plan::{Plan, PlanColumn, Staged};
use crate::report::{Progress, Report};
use crate::schema::columns_of;
use crate::source::{Input, Source};
use crate::spec::{MaxDelete, OnConflict, Spec};
use crate::trace::trace;
use std::sync::mpsc;
use std::time::Instant;

const BATCH_ROWS: usize = 4096;
/// Batches in flight between the reader and the database: bounds memory (four staged
/// PostgreSQL's COPYs of several batches 5% to 10% faster, but took a 360 MB file of
/// 1,000-byte rows over the memory test's 90 MB cap, when a batch was 4096 rows whatever
/// their width; batches now end at about 1 MB, and PostgreSQL's COPY runs on a thread of
/// its own).
const BATCHES_IN_FLIGHT: usize = 2;

/// The caller's view of a load: told how far it is, and asked whether to stop.
pub(crate) struct Watch<'a> {
    pub progress: &'a mut dyn FnMut(Progress),
    /// Asked after each staged batch, before the merge and before the commit: true stops
    /// the load there with [`Error::Interrupted`] (the transaction rolls back).
    pub stop: &'a mut dyn FnMut() -> bool,
    /// An incremental stream's mark, written in the load's transaction (`upsertx sync`).
    pub mark: Option<&'a db::Mark>,
    /// The source's keys, which `--delete-missing` compares with the table's in place of
    /// the input's (an incremental `upsertx sync` stream: its input is the rows changed
    /// since its mark; see [`delete_by_keys`]).
    pub keys: Option<Source>,
}

impl Watch<'_> {
    fn report(&mut self, p: Progress) -> Result<()> {
        (self.progress)(p);
        self.check()
    }

    fn check(&mut self) -> Result<()> {
        if (self.stop)() {
            return Err(Error::Interrupted);
        }
        Ok(())
    }
}

pub(crate) fn run(url: &str, spec: &Spec, source: Source, watch: &mut Watch<'_>) -> Result<Report> {
    let started = Instant::now();
    // The load's time, one value for the whole load (what `--soft-delete` marks with and
    // `--history` dates versions by): `--as-of`, else now.
    let loaded_at = spec.as_of.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
    });
    spec.validate()?;
    let table = match (&spec.table, source.stem()) {
        (Some(t), _) => t.clone(),
        (None, Some(stem)) => stem,
        (None, None) => return Err(Error::Usage(format!("{}: name the target table with --table", source.name()))),
    };
    if table.is_empty() {
        return Err(Error::Usage("the table name is empty".into()));
    }
    source.resolved_format()?;
    let mut changes = spec.changes.as_ref().map(ChangeLog::open).transpose()?;
    let mut conn = db::open::connect(url, spec.create)?;
    if let Some(seconds) = spec.lock_timeout {
        conn.set_lock_timeout(seconds)?;
    }
    conn.begin()?;
    // An interruption during the merge still rolls back: asked once more before COMMIT.
    let loaded = load(&mut *conn, &table, spec, source, watch, loaded_at, changes.as_mut()).and_then(|report| {
        match watch.mark.filter(|_| !spec.dry_run) {
            Some(mark) => conn.save_mark(mark).map(|_| report),
            None => Ok(report),
        }
    });
    match loaded.and_then(|r| watch.check().map(|_| r)) {
        Ok(mut report) => {
            if spec.dry_run {
                conn.rollback()?;
            } else {
                conn.commit()?;
            }
            trace("committed");
            // Only now: the lines tell what was committed (or, for a dry run, would be).
            let written = changes.map(|c| c.finish()).transpose();
            trace("changes written");
            report.elapsed_ms = started.elapsed().as_millis() as u64;
            match written {
                Ok(_) => Ok(report),
                Err(e) => Err(Error::ChangesNotWritten { report: Box::new(report), reason: e.reason, kept: e.kept }),
            }
        }
        Err(e) => {
            // The original error is what matters; a failed rollback leaves the
            // transaction to die with the connection.
            let _ = conn.rollback();
            Err(e)
        }
    }
}

fn load(
    conn: &mut dyn Connection,
    table: &str,
    spec: &Spec,
    mut source: Source,
    watch: &mut Watch<'_>,
    loaded_at: i64,
    changes: Option<&mut ChangeLog>,
) -> Result<Report> {
    if spec.deletes() {
        source.require_whole();
    }
    let (target, opened, created) = prepare_table(conn, table, spec, &mut source)?;
    trace("table ready");
    // `--evolve` may have to read a text input twice (to type a new column).
    if spec.evolve && opened.is_none() && !source.is_typed() {
        source.make_rereadable()?;
    }
    let reader = match opened {
        Some(input) => input,
        None => source.open()?,
    };
    let (target, reader, schema_changes, left_out) = match spec.evolve && !created {
        true => {
            let e = crate::evolve::evolve(conn, table, target, &mut source, reader, spec)?;
            (e.table, e.input, e.changes, e.left_out)
        }
        false => (target, reader, Vec::new(), Vec::new()),
    };
    let mut plan = Plan::leaving_out(target, source.name(), reader.columns(), spec, &left_out)?;
    plan.set_loaded_at(loaded_at, |c| conn.second_digits(c));
    conn.create_stage(&plan)?;
    let rows_read = stage_all(conn, &plan, reader, watch)?;
    trace(&format!("staged {rows_read} rows"));
    conn.finish_stage(&plan)?;
    watch.report(Progress::Merging)?;
    let (counts, deleted) = apply(conn, &mut plan, spec, rows_read, changes, watch)?;
    Ok(Report {
        table: plan.table.name.clone(),
        rows_read,
        inserted: counts.inserted,
        updated: counts.updated,
        unchanged: counts.unchanged,
        ignored: counts.ignored,
        duplicates: rows_read - counts.staged,
        stale: counts.stale,
        deleted,
        created,
        schema_changes,
        dry_run: spec.dry_run,
        elapsed_ms: 0,
    })
}

/// The target table as reflected, or created (`--create`) from the input's columns
/// (typed, or inferred from a first read of the text): the table, the input when it was
/// opened for that, and whether this load created the table.
fn prepare_table(
    conn: &mut dyn Connection,
    table: &str,
    spec: &Spec,
    source: &mut Source,
) -> Result<(crate::schema::Table, Option<Input>, bool)> {
    if let Some(t) = conn.reflect(table)? {
        return distributed_as_asked(t, spec).map(|t| (t, None, false));
    }
    if !spec.create {
        return Err(Error::Schema(format!(
            "table {} does not exist (pass --create to create it from the input)",
            quote_ident(table)
        )));
    }
    let Some(key) = spec.key_columns() else {
        return Err(Error::Usage(format!(
            "table {} does not exist: --create needs --key to know the primary key",
            quote_ident(table)
        )));
    };
    // A typed input carries its column types; text is read once to infer them.
    if !source.is_typed() {
        source.make_rereadable()?;
    }
    let mut opened = None;
    let mut columns = match source.open()? {
        Input::Batches(b) => {
            let columns = columns_of(source.name(), b.schema())?;
            opened = Some(Input::Batches(b));
            columns
        }
        Input::Rows(mut rows) => infer_columns(&mut *rows)?,
    };
    let mut key_cols = Vec::new();
    for k in key {
        match columns.iter().find(|c| &c.name == k) {
            Some(c) => key_cols.push(c.name.clone()),
            None => {
                return Err(Error::Schema(format!(
                    "{}: key column {} is not in the input",
                    source.name(),
                    quote_ident(k)
                )))
            }
        }
    }
    if let Some(h) = &spec.history_columns() {
        // The versions of an entity: keyed by (key..., from).
        let (added, from) = crate::plan::history_columns_to_create(h, &columns);
        columns.extend(added);
        key_cols.push(from);
    }
    crate::schema::check_new_names(&columns, conn.max_name_bytes())?;
    let created = conn.create_table(table, &columns, &key_cols)?;
    // (`Spec::validate` found the column among --key's.)
    if let Some(by) = spec.distribute_by.as_ref().filter(|_| created) {
        conn.distribute(table, by)?;
    }
    let t = conn
        .reflect(table)?
        .ok_or_else(|| Error::Schema(format!("table {} vanished after creation", quote_ident(table))))?;
    let t = if created { t } else { distributed_as_asked(t, spec)? };
    Ok((t, opened, created))
}

/// `--distribute-by` on a table this load did not create: it must be distributed by
/// that column already (distributing a table that holds rows moves them all: not
/// something a load does unasked).
fn distributed_as_asked(t: crate::schema::Table, spec: &Spec) -> Result<crate::schema::Table> {
    match &spec.distribute_by {
        Some(by) if t.distributed_by.as_ref() != Some(by) => Err(Error::Schema(format!(
            "table {} exists and is {}: --distribute-by {} applies when --create creates the table",
            quote_ident(&t.name),
            match &t.distributed_by {
                Some(other) => format!("distributed by column {}", quote_ident(other)),
                None => "not distributed".into(),
            },
            quote_ident(by)
        ))),
        _ => Ok(t),
    }
}

/// Reads and checks the input on a thread of its own while this one stages each batch;
/// returns the rows read. Asks `watch` after each batch.
fn stage_all(conn: &mut dyn Connection, plan: &Plan, reader: Input, watch: &mut Watch<'_>) -> Result<u64> {
    Reading::start(reader, plan.columns.clone(), &plan.input, BATCHES_IN_FLIGHT)?
        .each(|batches| conn.stage(plan, batches), |rows| watch.report(Progress::Staged(rows)))
}

/// An input read and checked on a thread of its own, up to `ahead` batches before this
/// one takes them.
struct Reading {
    batches: mpsc::Receiver<Result<Batch>>,
    thread: std::thread::JoinHandle<()>,
}

impl Reading {
    fn start(input: Input, columns: Vec<PlanColumn>, name: &str, ahead: usize) -> Result<Reading> {
        let (tx, batches) = mpsc::sync_channel::<Result<Batch>>(ahead);
        let name = name.to_owned();
        let thread = std::thread::Builder::new()
            .name("upsertx-reader".into())
            .spawn(move || read_batches(input, &columns, &name, &tx))
            .map_err(|e| Error::Io(format!("starting the reader thread: {e}")))?;
        Ok(Reading { batches, thread })
    }

    /// Hands the batches to `consume` as one stream, telling `after` the rows read so far
    /// as each batch is done with (when the next is asked for: an error `after` returns
    /// ends the stream with it); returns the rows read.
    fn each(
        self,
        consume: impl FnOnce(Batches<'_>) -> Result<()>,
        mut after: impl FnMut(u64) -> Result<()>,
    ) -> Result<u64> {
        let mut rows_read = 0u64;
        let mut handed: Option<u64> = None;
        let mut ended = false;
        let received = &self.batches;
        let mut batches = std::iter::from_fn(|| {
            if ended {
                return None;
            }
            if let Some(n) = handed.take() {
                rows_read += n;
                if let Err(e) = after(rows_read) {
                    ended = true;
                    return Some(Err(e));
                }
            }
            let batch = received.recv().ok()?;
            match &batch {
                Ok(b) => handed = Some(b.rows.len() as u64),
                Err(_) => ended = true,
            }
            Some(batch)
        });
        let done = consume(&mut batches);
        // The reader stops at its next send.
        drop(self.batches);
        self.thread.join().map_err(|_| Error::Io("the reader thread panicked".into()))?;
        done.map(|()| rows_read)
    }
}

/// Applies the staged rows: the merge, the deletions (`--delete-missing`,
/// `--replace-where`) and their guards, each row told to the change log; returns the
/// merge's counts and the rows deleted.
fn apply(
    conn: &mut dyn Connection,
    plan: &mut Plan,
    spec: &Spec,
    rows_read: u64,
    changes: Option<&mut ChangeLog>,
    watch: &mut Watch<'_>,
) -> Result<(MergeCounts, u64)> {
    let mut in_scope = None;
    // The source's keys decide the deletes when they come apart (`delete_by_keys`),
    // else the input's.
    let keys = watch.keys.take();
    if spec.deletes() {
        if keys.is_none() {
            refuse_empty(plan, spec, rows_read)?;
        }
        // Before the merge either way: the load's turn (a merge then deletes lock rows in
        // two phases), the table's rows in scope as they were before the load.
        conn.prepare_delete(plan)?;
        if let Some(MaxDelete::Percent(_)) = spec.max_delete {
            in_scope = Some(conn.count_in_scope(plan)?);
        }
    }
    // `--changes`: each row is told as it is before the statement that writes it, read
    // under the lock that statement takes (see `Connection::merge`).
    let mut log = changes;
    if let Some(log) = log.as_deref_mut() {
        // A load that updates nothing: its inserts' lines go straight in.
        if plan.keyless() || plan.update.is_empty() || spec.on_conflict != OnConflict::Update {
            log.done(plan, ChangeOp::Update)?;
        }
    }
    // Without a key the window is deleted first: the rows inserted next are in it too.
    let deleted_first = match plan.keyless() {
        true => Some(conn.delete_missing(plan, tell(log.as_deref_mut(), plan).as_mut().map(|t| t as _))?),
        false => None,
    };
    let counts = conn.merge(plan, tell(log.as_deref_mut(), plan).as_mut().map(|t| t as _))?;
    trace("merged");
    if let Some(log) = log.as_deref_mut() {
        log.done(plan, ChangeOp::Insert)?;
    }
    let deleted = match (deleted_first, keys) {
        (Some(n), _) => n,
        (None, Some(keys)) => delete_by_keys(conn, plan, spec, keys, log.as_deref_mut(), watch)?,
        (None, None) if spec.deletes() => {
            conn.delete_missing(plan, tell(log.as_deref_mut(), plan).as_mut().map(|t| t as _))?
        }
        (None, None) => 0,
    };
    if let Some(max) = spec.max_delete {
        check_max_delete(plan, max, deleted, in_scope)?;
    }
    if let Some(log) = log {
        verify_change_log(log, plan, spec, &counts, deleted)?;
    }
    Ok((counts, deleted))
}

/// Refuses `--delete-missing` (or `--replace-where`) on an empty input, unless
/// `--allow-empty`: an export that failed silently would delete every row.
fn refuse_empty(plan: &Plan, spec: &Spec, rows_read: u64) -> Result<()> {
    if rows_read > 0 || spec.allow_empty {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "{}: the input is empty, and {} would delete every row of table {}{}: nothing was \
         written (pass --allow-empty when an empty input is right)",
        plan.input,
        spec.delete_flag(),
        quote_ident(&plan.table.name),
        if plan.scope.is_empty() && spec.delete_where().is_none() { "" } else { " in scope" }
    )))
}

/// `--delete-missing` by the source's keys, after the merge of the rows changed since an
/// incremental stream's mark: the table's keys, read in this transaction, and the
/// source's are compared in memory (`diff.rs`), and the table's keys the source lacks are
/// staged and deleted ([`Staged::Gone`]); when the comparison cannot tell, every source
/// key is staged ([`Staged::Keys`]) and the deletes take what they lack, as they would a
/// whole input's. Returns the rows deleted.
fn delete_by_keys(
    conn: &mut dyn Connection,
    plan: &mut Plan,
    spec: &Spec,
    mut keys: Source,
    log: Option<&mut ChangeLog>,
    watch: &mut Watch<'_>,
) -> Result<u64> {
    keys.require_whole();
    let name = format!("the keys of table {}", quote_ident(&plan.table.name));
    let table_keys =
        crate::source::Input::Batches(crate::source::BatchReader::new(name.clone(), conn.table_keys(plan)?)?);
    let held = diff::Keys::read(plan, table_keys, &name)?;
    trace(&format!("read {} table keys", held.as_ref().map_or(0, |k| k.len())));
    let mut read = 0u64;
    let gone = match held {
        Some(mut held) => {
            let compare = |batches: Batches<'_>| {
                for batch in batches {
                    held.find(&batch?);
                }
                Ok(())
            };
            read = read_keys(plan, &mut keys)?.each(compare, |_| watch.check())?;
            held.gone()
        }
        None => None,
    };
    match gone {
        Some(gone) => {
            refuse_empty(plan, spec, read)?;
            trace(&format!("compared {read} source keys"));
            plan.staged = Staged::Gone;
            conn.create_stage(plan)?;
            conn.stage(plan, &mut gone.into_iter().map(|batch| Ok(diff::as_plan_rows(plan, batch))))?;
        }
        None => {
            trace("the source's keys staged");
            plan.staged = Staged::Keys;
            conn.create_stage(plan)?;
            let stage =
                |batches: Batches<'_>| conn.stage(plan, &mut batches.map(|b| b.map(|b| diff::as_plan_rows(plan, b))));
            read = read_keys(plan, &mut keys)?.each(stage, |_| watch.check())?;
            refuse_empty(plan, spec, read)?;
        }
    }
    conn.finish_stage(plan)?;
    let deleted = conn.delete_missing(plan, tell(log, plan).as_mut().map(|t| t as _))?;
    trace("deleted");
    Ok(deleted)
}

/// Starts reading the source's keys (`keys`: the key columns, by name), checked against
/// the plan's key columns. (Read while the table's keys are, they took no less time on
/// the benchmark's two cores.)
fn read_keys(plan: &Plan, keys: &mut Source) -> Result<Reading> {
    let input = keys.open()?;
    let columns = diff::key_columns(plan, input.columns(), keys.name())?;
    Reading::start(input, columns, keys.name(), BATCHES_IN_FLIGHT)
}

/// Hands the change log its last rows and checks that it told what the merge wrote:
/// unless something else changed the table in between (another writer, a trigger of the
/// table's), the load fails rather than tell it wrong.
fn verify_change_log(log: &mut ChangeLog, plan: &Plan, spec: &Spec, counts: &MergeCounts, deleted: u64) -> Result<()> {
    log.flush(plan)?;
    trace("changes handed over");
    let [inserts, updates, deletes] = log.seen;
    if inserts != counts.inserted || deletes != deleted || (updates != counts.updated && !spec.always_update) {
        return Err(Error::db(
            format!("telling the changes of table {} (--changes)", quote_ident(&plan.table.name)),
            format!(
                "the load wrote {} new and {} changed rows where {inserts} and {updates} were expected: another \
                 writer (or a trigger of the table) changed it during the load; nothing was written",
                counts.inserted, counts.updated
            ),
        ));
    }
    Ok(())
}

/// Refuses a load that deleted more than `--max-delete` allows (it rolls back): `in_scope`
/// is how many rows the scope held before the load, for a percentage.
fn check_max_delete(plan: &Plan, max: MaxDelete, deleted: u64, in_scope: Option<u64>) -> Result<()> {
    let table = quote_ident(&plan.table.name);
    let over = match (max, in_scope) {
        (MaxDelete::Rows(n), _) if deleted > n => Some(format!("{deleted} rows of table {table}")),
        (MaxDelete::Percent(p), Some(total)) if deleted as f64 > p / 100.0 * total as f64 => Some(format!(
            "{deleted} of the {total} rows of table {table} in scope ({:.1}%)",
            100.0 * deleted as f64 / total as f64
        )),
        _ => None,
    };
    match over {
        Some(what) => Err(Error::Refused(format!(
            "{} would delete {what}, more than --max-delete {max}: nothing was written",
            plan.spec.delete_flag()
        ))),
        None => Ok(()),
    }
}

/// Reads rows, checks every value against its column, and sends batches until the
/// input ends, an error occurs (sent as the last message), or the receiver is gone.
fn read_batches(mut input: Input, columns: &[PlanColumn], name: &str, tx: &mpsc::SyncSender<Result<Batch>>) {
    loop {
        match check::next_batch(&mut input, columns, name, BATCH_ROWS) {
            Ok(Some(batch)) => {
                if tx.send(Ok(batch)).is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

/// `--changes`: what hands each row told to `log`.
fn tell<'a>(log: Option<&'a mut ChangeLog>, plan: &'a Plan) -> Option<Sink<'a>> {
    log.map(|log| Sink { log, plan })
}
