//! The streams of a pipeline made concrete against the source and the target, before
//! anything is written: patterns expanded into tables, each stream's key and cursor
//! found in the source, its target table and mark settled, its query written.

use super::file::{is_pattern, matches, From, Pipeline, Stream};
use crate::db::{self, Connection, Mark, SourceTable};
use crate::error::{Error, Result};
use crate::source::Source;
use crate::spec::{ChangesTo, Spec};

/// One stream, ready to run.
#[derive(Debug)]
pub(crate) struct Job {
    /// Its name (`public.orders`, its `name`, or its `files` pattern).
    pub stream: String,
    /// Its loads, one after the other, each in a transaction of its own: one for a table
    /// or a query, one per new or changed file for a files stream.
    pub loads: Vec<Load>,
    /// The options of its loads (the target table in `table`, the key in `key`).
    pub spec: Spec,
    /// The mark it had, kept when it has no new one (or fails).
    pub kept: Option<String>,
}

/// One load of a job: where its rows come from, its options, and the mark saved with it.
#[derive(Debug)]
pub(crate) struct Load {
    pub from: Rows,
    pub spec: Spec,
    pub mark: Option<Mark>,
    /// The source's keys (a query of them), which `delete_missing` compares with the
    /// table's in place of the rows': an incremental stream's rows are the ones changed
    /// since its mark.
    pub keys: Option<Rows>,
}

/// Where a load's rows come from.
#[derive(Debug)]
pub(crate) enum Rows {
    /// A query on the source database (its URL, the SQL).
    Query(String, String),
    /// A file of the source folder.
    File(std::path::PathBuf),
}

impl Rows {
    pub(crate) fn source(&self) -> Source {
        match self {
            Rows::Query(url, sql) => Source::query(url.clone(), sql.clone()),
            Rows::File(path) => Source::path(path.clone()),
        }
    }
}

/// The jobs of `pipeline`, in the file's order (a pattern's tables in name order);
/// `only`, when not empty, keeps the streams of those names; `full_refresh` reads those
/// whole. Every mistake is a usage error naming the file's line.
pub(crate) fn jobs(pipeline: &Pipeline, only: &[String], full_refresh: &[String], dry_run: bool) -> Result<Vec<Job>> {
    if let Some(folder) = pipeline.folder() {
        return file_jobs(pipeline, &folder, only, full_refresh, dry_run);
    }
    if let Some(stream) = pipeline.streams.iter().find(|s| matches!(s.from, From::Files(_))) {
        return Err(pipeline.error(stream.at, "files", "files streams read a folder: the source is a database URL"));
    }
    let mut source = db::open::connect(&pipeline.source, false)?;
    let tables = match pipeline.streams.iter().any(|s| matches!(s.from, From::Table(_))) {
        true => source.tables()?,
        false => Vec::new(),
    };
    let mut found = Vec::new();
    for stream in &pipeline.streams {
        for (name, from, into, key) in expand(pipeline, stream, &tables, &mut *source)? {
            found.push((stream, name, from, into, key));
        }
    }
    let named: Vec<(&Stream, &str, &str)> = found.iter().map(|f| (f.0, f.1.as_str(), f.3.as_str())).collect();
    check_streams(pipeline, &named, only, full_refresh)?;
    let mut target = None;
    let mut jobs = Vec::new();
    for (stream, name, from, into, key) in found {
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        let mut spec = stream.spec.clone();
        spec.table = Some(into.clone());
        spec.key = key;
        spec.dry_run |= dry_run;
        if let Some(ChangesTo::Path(path)) = &spec.changes {
            let path = path.to_string_lossy().replace("{stream}", &name);
            spec.changes = Some(ChangesTo::Path(path.into()));
        }
        let mut query_sql = format!("SELECT * FROM {from}");
        let (mut mark, mut kept) = (None, None);
        let mut keys_query = None;
        if let Some((cursor, at)) = &stream.incremental {
            let apart = [
                (spec.replace_where.is_some(), "replace_where"),
                // Its values would have to be read from every source row.
                (spec.delete_missing && !spec.scope.is_empty(), "scope with delete_missing"),
            ];
            if let Some((_, what)) = apart.iter().find(|(given, _)| *given) {
                return Err(pipeline.error(
                    *at,
                    "incremental",
                    format!("{what} on an incremental stream is not built yet"),
                ));
            }
            let column = source.quote(cursor);
            // The greatest value first, then the rows: a row written in between is read
            // now and again next time, never missed.
            let greatest = source.max_text(&from, &column).map_err(|e| pipeline.error(*at, "incremental", e))?;
            let target: &mut Box<dyn Connection> = match &mut target {
                Some(t) => t,
                None => target.insert(db::open::connect(&pipeline.target, true)?),
            };
            let had = target.mark(&into, "")?.filter(|m| &m.cursor == cursor && !full_refresh.contains(&name));
            // Without a mark every row is read: its keys are all there for the deletes.
            if spec.delete_missing && had.is_some() {
                // The deletes compare the source's keys, all of them, with the table's.
                let list: Vec<String> = spec.key.iter().map(|c| source.quote(c)).collect();
                keys_query = Some(format!("SELECT {} FROM {from}", list.join(", ")));
            }
            if let Some(had) = &had {
                query_sql = format!("{query_sql} WHERE {column} >= {} OR {column} IS NULL", source.literal(&had.value));
            }
            kept = had.map(|m| m.value);
            mark = greatest.map(|value| Mark {
                table: into.clone(),
                item: String::new(),
                stream: name.clone(),
                cursor: cursor.clone(),
                value,
            });
        }
        let from = Rows::Query(pipeline.source.clone(), query_sql);
        let keys = keys_query.map(|sql| Rows::Query(pipeline.source.clone(), sql));
        let loads = vec![Load { from, spec: spec.clone(), mark, keys }];
        jobs.push(Job { stream: name, loads, spec, kept });
    }
    if let (Some(mut target), false) = (target, dry_run) {
        // Made once, before the loads: MySQL's DDL would commit a load's transaction.
        target.begin()?;
        target.create_marks()?;
        target.commit()?;
    }
    Ok(jobs)
}

/// Checks the streams as planned, (declaration, name, target table) each: no two load one
/// target table (they would overwrite each other's rows and marks), and every name
/// `only` and `full_refresh` give is a stream's.
fn check_streams(
    pipeline: &Pipeline,
    streams: &[(&Stream, &str, &str)],
    only: &[String],
    full_refresh: &[String],
) -> Result<()> {
    for (i, (stream, name, into)) in streams.iter().enumerate() {
        if let Some((other, other_name, _)) = streams[..i].iter().find(|o| o.2 == *into) {
            let line = pipeline.line(other.at);
            let both = format!("{name} and {other_name} (line {line}) both load table {into:?}");
            return Err(pipeline.error(stream.at, "into", both));
        }
    }
    for wanted in only.iter().chain(full_refresh) {
        if !streams.iter().any(|s| s.1 == wanted) {
            let names: Vec<&str> = streams.iter().map(|s| s.1).collect();
            return Err(Error::Usage(format!("no stream named {wanted:?} (the streams: {})", names.join(", "))));
        }
    }
    Ok(())
}

/// A stream's tables: (its name, its `FROM` clause, its target table, its key).
type Expanded = (String, String, String, Vec<String>);

fn expand(
    pipeline: &Pipeline,
    stream: &Stream,
    tables: &[SourceTable],
    source: &mut dyn Connection,
) -> Result<Vec<Expanded>> {
    let pattern = match &stream.from {
        From::Query(query) => {
            let name = stream.name.clone().expect("the file checks a query has a name");
            if stream.spec.key.is_empty() {
                return Err(pipeline.error(stream.at, "key", "a query's stream needs key = \"...\" (its key columns)"));
            }
            let into = stream.into.clone().unwrap_or_else(|| name.clone());
            return Ok(vec![(name, format!("({query}) AS upsertx_q"), into, stream.spec.key.clone())]);
        }
        From::Table(pattern) => pattern,
        From::Files(_) => unreachable!("files streams are planned by file_jobs"),
    };
    // A pattern takes tables; a view is read when a stream names it.
    let hit = |t: &&SourceTable| match pattern.contains('.') {
        _ if t.view && is_pattern(pattern) => false,
        true => matches(pattern, &t.qualified()),
        false => t.default_schema && matches(pattern, &t.name),
    };
    let matched: Vec<&SourceTable> = tables.iter().filter(hit).collect();
    if matched.is_empty() {
        let what =
            if is_pattern(pattern) { "matches no table of the source" } else { "is not a table or view of the source" };
        return Err(pipeline.error(stream.at, "table", format!("{pattern:?} {what}")));
    }
    if is_pattern(pattern) && stream.name.is_some() {
        return Err(pipeline.error(stream.at, "name", "a pattern makes one stream per table: it takes no name"));
    }
    let mut out = Vec::new();
    for t in matched {
        let qualified = t.qualified();
        let from = match &t.schema {
            Some(schema) => format!("{}.{}", source.quote(schema), source.quote(&t.name)),
            None => source.quote(&t.name),
        };
        // A table's columns and primary key as reflected; a view's columns as a query of
        // it says (it has no key).
        let (columns, primary) = match t.view {
            false => {
                let table = source.reflect(&qualified)?.ok_or_else(|| {
                    pipeline.error(stream.at, "table", format!("{qualified:?} vanished from the source"))
                })?;
                let primary = table.keys.iter().find(|k| k.primary).map(|k| k.columns.clone());
                (table.columns.into_iter().map(|c| c.name).collect(), primary)
            }
            true => {
                let (_, rows) = db::query::query(&pipeline.source, &format!("SELECT * FROM {from} WHERE 1 = 0"))?;
                let columns: Vec<String> = rows.schema().fields().iter().map(|f| f.name().clone()).collect();
                (columns, None)
            }
        };
        let has = |c: &str| columns.iter().any(|col| col == c);
        let key = match stream.spec.key.is_empty() {
            false => stream.spec.key.clone(),
            true => match primary {
                Some(pk) => pk,
                None => {
                    let what = if t.view { "is a view" } else { "has no primary key" };
                    return Err(pipeline.error(
                        stream.at,
                        "key",
                        format!("{qualified} {what}: give key = [\"...\"] (its key columns)"),
                    ));
                }
            },
        };
        if let Some(missing) = key.iter().find(|c| !has(c)) {
            let at = stream.key_at.unwrap_or(stream.at);
            return Err(pipeline.error(at, "key", format!("{missing:?} is not a column of {qualified}")));
        }
        if let Some((cursor, at)) = &stream.incremental {
            if !has(cursor) {
                return Err(pipeline.error(*at, "incremental", format!("{cursor:?} is not a column of {qualified}")));
            }
        }
        let into = match &stream.into {
            Some(into) => into.replace("{table}", &t.name),
            None => t.name.clone(),
        };
        let name = match (&stream.name, is_pattern(pattern)) {
            (Some(name), false) => name.clone(),
            _ => qualified,
        };
        out.push((name, from, into, key));
    }
    Ok(out)
}

/// The jobs of a pipeline whose source is a folder: each `files` stream loads, in name
/// order, the files its pattern matches that were not loaded before (or have changed
/// size or modification time since), each in a transaction of its own with its mark.
fn file_jobs(
    pipeline: &Pipeline,
    folder: &std::path::Path,
    only: &[String],
    full_refresh: &[String],
    dry_run: bool,
) -> Result<Vec<Job>> {
    let mut files = Vec::new();
    list_files(folder, folder, &mut files)
        .map_err(|e| Error::Usage(format!("{}: cannot list the source folder: {e}", folder.display())))?;
    files.sort();
    let mut planned: Vec<(&Stream, String, String)> = Vec::new();
    for stream in &pipeline.streams {
        let From::Files(pattern) = &stream.from else {
            return Err(pipeline.error(stream.at, "table", "the source is a folder: its streams read files = \"...\""));
        };
        let into = stream.into.clone().ok_or_else(|| {
            pipeline.error(stream.at, "into", "a files stream needs into = \"...\" (the target table)")
        })?;
        planned.push((stream, stream.name.clone().unwrap_or_else(|| pattern.clone()), into));
    }
    let named: Vec<(&Stream, &str, &str)> = planned.iter().map(|p| (p.0, p.1.as_str(), p.2.as_str())).collect();
    check_streams(pipeline, &named, only, full_refresh)?;
    let mut target = db::open::connect(&pipeline.target, true)?;
    let mut jobs = Vec::new();
    for (stream, name, into) in planned {
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        let From::Files(pattern) = &stream.from else { unreachable!("checked above") };
        let mut spec = stream.spec.clone();
        spec.table = Some(into.clone());
        spec.dry_run |= dry_run;
        let mut loads = Vec::new();
        for (relative, state) in files.iter().filter(|(relative, _)| matches(pattern, relative)) {
            let had = target.mark(&into, relative)?.filter(|_| !full_refresh.contains(&name));
            if had.is_some_and(|m| &m.value == state) {
                continue;
            }
            let mark = Mark {
                table: into.clone(),
                item: relative.clone(),
                stream: name.clone(),
                cursor: "file".into(),
                value: state.clone(),
            };
            let from = Rows::File(folder.join(relative));
            loads.push(Load { from, spec: spec.clone(), mark: Some(mark), keys: None });
        }
        jobs.push(Job { stream: name, loads, spec, kept: None });
    }
    if !dry_run {
        target.begin()?;
        target.create_marks()?;
        target.commit()?;
    }
    Ok(jobs)
}

/// Every file under `dir`: its path relative to `root` (`/`-separated) and its state
/// (`size:modified`, nanoseconds since 1970), which says whether it changed.
fn list_files(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, String)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let meta = entry.metadata()?;
        if meta.is_dir() {
            list_files(root, &path, out)?;
        } else if meta.is_file() {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let relative: Vec<String> =
                relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            let modified = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            out.push((relative.join("/"), format!("{}:{modified}", meta.len())));
        }
    }
    Ok(())
}
