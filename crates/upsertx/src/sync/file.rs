//! The pipeline file (TOML): where rows come from and go, the load options every
//! stream shares (`[defaults]`) and the streams. Every mistake that can be seen without
//! a database is refused here, naming the file, the line and the key.

use crate::error::{Error, Result};
use crate::options::OptionValue;
use crate::spec::Spec;
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The keys of a stream that are not load options.
const STREAM_KEYS: &[&str] = &["table", "name", "query", "files", "into", "incremental"];
/// The keys of the file's top level.
const TOP_KEYS: &[&str] = &["source", "target", "jobs", "defaults", "streams"];

/// A pipeline file, read and checked.
#[derive(Clone)]
pub struct Pipeline {
    /// The file's path as given (messages name it).
    pub(crate) path: String,
    /// The file's text (messages count its lines).
    pub(crate) text: String,
    /// The source database's URL (its `${VAR}`s read).
    pub(crate) source: String,
    /// The target database's URL.
    pub(crate) target: String,
    /// Streams at once, if the file says.
    pub(crate) jobs: Option<usize>,
    /// The streams, in the file's order.
    pub(crate) streams: Vec<Stream>,
}

/// Shown without the URLs' passwords (a `${VAR}` of the file is read into them).
impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("path", &self.path)
            .field("source", &crate::net::url::redact(&self.source))
            .field("target", &crate::net::url::redact(&self.target))
            .field("jobs", &self.jobs)
            .field("streams", &self.streams)
            .finish()
    }
}

/// One `[[streams]]` entry as the file declares it.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    /// Where it is declared (its first key), for messages.
    pub at: usize,
    /// What it reads.
    pub from: From,
    /// Its `name`, if given.
    pub name: Option<String>,
    /// The target table (`{table}` in it stands for each source table of a pattern).
    pub into: Option<String>,
    /// The cursor column of an incremental stream, and where it is declared.
    pub incremental: Option<(String, usize)>,
    /// Its load options: `[defaults]`, then its own (its own win).
    pub spec: Spec,
    /// Where its `key` is declared, if anywhere (the stream's own or `[defaults]`).
    pub key_at: Option<usize>,
}

/// What a stream reads.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum From {
    /// A source table, or a pattern of them (`public.*`).
    Table(String),
    /// A query's rows.
    Query(String),
    /// The files of the source folder this pattern matches (`drops/*.parquet`).
    Files(String),
}

impl Pipeline {
    /// Reads the pipeline file at `path`.
    pub fn read(path: impl AsRef<std::path::Path>) -> Result<Pipeline> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("{}: cannot read the pipeline file: {e}", path.display())))?;
        Pipeline::parse(&path.display().to_string(), &text)
    }

    /// Reads a pipeline from `text`; `path` is what messages call it.
    pub fn parse(path: &str, text: &str) -> Result<Pipeline> {
        let doc = DeTable::parse(text).map_err(|e| Error::Usage(format!("{path}: {}", e.to_string().trim_end())))?;
        let file = File { path, text };
        let doc = doc.get_ref();
        for (key, _) in doc.iter() {
            if !TOP_KEYS.contains(&key.get_ref().as_ref()) {
                return Err(file.unknown(key, TOP_KEYS.iter().copied()));
            }
        }
        let url = |name: &str| -> Result<Option<String>> {
            match doc.get(name) {
                None => Ok(None),
                Some(value) => file.string(name, value).and_then(|s| file.expand(&s, value.span().start)).map(Some),
            }
        };
        let source = url("source")?.ok_or_else(|| file.at(0, "source", "missing: the source database's URL"))?;
        let target = url("target")?.ok_or_else(|| file.at(0, "target", "missing: the target database's URL"))?;
        let jobs = match doc.get("jobs") {
            None => None,
            Some(v) => match v.get_ref() {
                DeValue::Integer(i) if i.as_str().parse::<usize>().is_ok_and(|n| n > 0) => i.as_str().parse().ok(),
                _ => return Err(file.at(v.span().start, "jobs", "expected a number of streams at once, 1 or more")),
            },
        };
        let defaults = match doc.get("defaults") {
            None => Vec::new(),
            Some(v) => match v.get_ref() {
                DeValue::Table(t) => file.options(t, &[], &["table"])?,
                _ => return Err(file.at(v.span().start, "defaults", "expected a table of load options")),
            },
        };
        let entries = match doc.get("streams").map(|v| (v.span(), v.get_ref())) {
            Some((_, DeValue::Array(a))) => a.iter().collect::<Vec<_>>(),
            Some((span, _)) => return Err(file.at(span.start, "streams", "expected [[streams]] tables")),
            None => Vec::new(),
        };
        if entries.is_empty() {
            return Err(file.at(text.len(), "streams", "none: add a [[streams]] table for each table or query"));
        }
        let mut streams = Vec::new();
        for entry in entries {
            let DeValue::Table(t) = entry.get_ref() else {
                return Err(file.at(entry.span().start, "streams", "expected [[streams]] tables"));
            };
            streams.push(file.stream(t, entry.span(), &defaults)?);
        }
        Ok(Pipeline { path: path.to_owned(), text: text.to_owned(), source, target, jobs, streams })
    }

    /// The source as a folder of files, when it is one: not a database URL (no `://`,
    /// no libpq `key=value`). A relative folder is relative to the pipeline file's.
    pub(crate) fn folder(&self) -> Option<std::path::PathBuf> {
        if self.source.contains("://") || self.source.contains('=') {
            return None;
        }
        let folder = std::path::Path::new(&self.source);
        let base = std::path::Path::new(&self.path).parent().filter(|p| folder.is_relative() && p.is_dir());
        Some(base.map_or_else(|| folder.to_path_buf(), |b| b.join(folder)))
    }

    /// The 1-based line of byte offset `at`.
    pub(crate) fn line(&self, at: usize) -> usize {
        line_of(&self.text, at)
    }

    /// A usage error about the declaration at `at`: `pipeline.toml:7: key: message`.
    pub(crate) fn error(&self, at: usize, key: &str, message: impl std::fmt::Display) -> Error {
        File { path: &self.path, text: &self.text }.at(at, key, message)
    }
}

fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// A load option as the file gives it: its name, where, and its value.
type Given = (String, usize, OptionValue);

/// The file being read, for messages.
struct File<'a> {
    path: &'a str,
    text: &'a str,
}

impl File<'_> {
    fn at(&self, at: usize, key: &str, message: impl std::fmt::Display) -> Error {
        Error::Usage(format!("{}:{}: {key}: {message}", self.path, line_of(self.text, at)))
    }

    fn unknown<'k>(&self, key: &Spanned<std::borrow::Cow<'_, str>>, known: impl Iterator<Item = &'k str>) -> Error {
        let name = key.get_ref().as_ref();
        let near =
            known.min_by_key(|k| crate::options::distance(name, k)).filter(|k| crate::options::distance(name, k) <= 2);
        let message = match near {
            Some(k) => format!("unknown key (did you mean {k:?}?)"),
            None => "unknown key".into(),
        };
        self.at(key.span().start, name, message)
    }

    fn string(&self, key: &str, value: &Spanned<DeValue<'_>>) -> Result<String> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            _ => Err(self.at(value.span().start, key, "expected text")),
        }
    }

    /// `${VAR}` read from the environment (a URL's password need not be in the file).
    fn expand(&self, text: &str, at: usize) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start..].find('}') else { break };
            let var = &rest[start + 2..start + len];
            let value =
                std::env::var(var).map_err(|_| self.at(at, "source/target", format!("${{{var}}} is not set")))?;
            out.push_str(&rest[..start]);
            out.push_str(&value);
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The load options of a table, each checked as [`Spec::set`] checks it; `own`:
    /// the table's keys that are not load options (a stream's), `forbidden`: load
    /// options not taken here (`table` in `[defaults]`).
    fn options(&self, table: &DeTable<'_>, own: &[&str], forbidden: &[&str]) -> Result<Vec<Given>> {
        let mut given = Vec::new();
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            if own.contains(&name) {
                continue;
            }
            if forbidden.contains(&name) || !crate::spec::load_options().any(|o| o.name == name) {
                let options = crate::spec::load_options().map(|o| o.name).filter(|n| !forbidden.contains(n));
                return Err(self.unknown(key, options.chain(own.iter().copied())));
            }
            let value = self.value(name, value)?;
            // Checked here, so that the error names its line.
            Spec::default().set(name, value.clone()).map_err(|e| self.at(key.span().start, name, plain(e)))?;
            given.push((name.to_owned(), key.span().start, value));
        }
        Ok(given)
    }

    fn value(&self, key: &str, value: &Spanned<DeValue<'_>>) -> Result<OptionValue> {
        let at = value.span().start;
        Ok(match value.get_ref() {
            DeValue::Boolean(b) => OptionValue::Bool(*b),
            DeValue::String(s) => OptionValue::Text(s.to_string()),
            DeValue::Integer(i) => OptionValue::Int(
                i64::from_str_radix(i.as_str(), i.radix()).map_err(|_| self.at(at, key, "number out of range"))?,
            ),
            DeValue::Float(f) => OptionValue::Float(f.as_str().parse().map_err(|_| self.at(at, key, "not a number"))?),
            DeValue::Datetime(d) => OptionValue::Text(d.to_string()),
            DeValue::Array(items) => {
                OptionValue::List(items.iter().map(|item| self.string(key, item)).collect::<Result<Vec<_>>>()?)
            }
            DeValue::Table(_) => return Err(self.at(at, key, "expected a value, not a table")),
        })
    }

    fn stream(&self, table: &DeTable<'_>, span: Range<usize>, defaults: &[Given]) -> Result<Stream> {
        let first = table.iter().map(|(k, _)| k.span().start).min().unwrap_or(span.start);
        let text = |key: &str| -> Result<Option<(String, usize)>> {
            table.get(key).map(|v| Ok((self.string(key, v)?, v.span().start))).transpose()
        };
        let (name, query, files) = (text("name")?, text("query")?, text("files")?);
        let from = match (text("table")?, query, files) {
            (Some((t, _)), None, None) => From::Table(t),
            (None, Some((q, at)), None) => {
                if name.is_none() {
                    return Err(self.at(at, "query", "a query needs a name = \"...\" (its stream's name)"));
                }
                From::Query(q)
            }
            (None, None, Some((f, _))) => From::Files(f),
            (None, None, None) => return Err(self.at(first, "streams", "say what it reads: table, query or files")),
            _ => return Err(self.at(first, "streams", "table, query and files are apart: give one of them")),
        };
        let into = text("into")?;
        if let (From::Table(pattern), Some((into, at))) = (&from, &into) {
            if is_pattern(pattern) && !into.contains("{table}") {
                return Err(self.at(*at, "into", "a pattern reads several tables: use {table} for each one's name"));
            }
        }
        let own = self.options(table, STREAM_KEYS, &[])?;
        let mut spec = Spec::default();
        let mut key_at = None;
        for (name, at, value) in defaults.iter().chain(&own) {
            spec.set(name, value.clone()).map_err(|e| self.at(*at, name, plain(e)))?;
            if name == "key" {
                key_at = Some(*at);
            }
        }
        Ok(Stream {
            at: first,
            from,
            name: name.map(|(n, _)| n),
            into: into.map(|(i, _)| i),
            incremental: text("incremental")?,
            spec,
            key_at,
        })
    }
}

/// Whether a table name is a pattern (`*`, `?`).
pub(crate) fn is_pattern(name: &str) -> bool {
    name.contains(['*', '?'])
}

/// Whether `name` matches the glob `pattern` (`*` any run of characters, `?` one).
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A usage error's message without its kind.
fn plain(e: Error) -> String {
    let text = e.to_string();
    // `--max-delete: "x" is not...`: the file names the key already.
    match text.split_once(": ") {
        Some((flag, rest)) if flag.starts_with("--") => rest.to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        Pipeline::parse("p.toml", text).unwrap_err().to_string()
    }

    const HEAD: &str = "source = \"sqlite://a.db\"\ntarget = \"sqlite://b.db\"\n";

    #[test]
    fn a_pipeline_reads_with_defaults_and_streams() {
        let text = format!(
            "{HEAD}jobs = 2\n[defaults]\ncreate = true\nmax_delete = \"5%\"\n\
             [[streams]]\ntable = \"orders\"\nkey = [\"id\"]\nincremental = \"updated_at\"\ncreate = false\n\
             [[streams]]\nname = \"totals\"\nquery = \"SELECT 1 AS day\"\ninto = \"t\"\nkey = \"day\"\n"
        );
        let p = Pipeline::parse("p.toml", &text).unwrap();
        assert_eq!((p.jobs, p.streams.len()), (Some(2), 2));
        let orders = &p.streams[0];
        assert_eq!(orders.from, From::Table("orders".into()));
        assert_eq!(orders.incremental.as_ref().map(|(c, _)| c.as_str()), Some("updated_at"));
        assert!(!orders.spec.create, "the stream's own value wins over [defaults]");
        assert_eq!(orders.spec.max_delete, Some(crate::spec::MaxDelete::Percent(5.0)));
        assert_eq!(p.line(orders.key_at.unwrap()), 9);
        assert_eq!(p.streams[1].from, From::Query("SELECT 1 AS day".into()));
        assert!(p.streams[1].spec.create);
    }

    #[test]
    fn mistakes_name_the_line_and_the_key() {
        let stream = |body: &str| format!("{HEAD}[[streams]]\n{body}");
        assert_eq!(
            refused(&stream("table = \"t\"\ndelet_missing = true\n")),
            "p.toml:5: delet_missing: unknown key (did you mean \"delete_missing\"?)"
        );
        assert_eq!(
            refused(&stream("table = \"t\"\nmax_delete = \"lots\"\n")),
            "p.toml:5: max_delete: \"lots\" is not a number of rows (1000) or a percentage (5%)"
        );
        assert_eq!(
            refused(&stream("query = \"SELECT 1\"\n")),
            "p.toml:4: query: a query needs a name = \"...\" (its stream's name)"
        );
        assert_eq!(
            refused(&stream("table = \"t\"\nquery = \"SELECT 1\"\n")),
            "p.toml:4: streams: table, query and files are apart: give one of them"
        );
        assert_eq!(
            refused(&stream("table = \"s.*\"\ninto = \"x\"\n")),
            "p.toml:5: into: a pattern reads several tables: use {table} for each one's name"
        );
        assert_eq!(
            refused(&format!("{HEAD}jobs = 0\n[[streams]]\ntable = \"t\"\n")),
            "p.toml:3: jobs: expected a number of streams at once, 1 or more"
        );
        assert_eq!(refused(&format!("{HEAD}sorce = 1\n")), "p.toml:3: sorce: unknown key (did you mean \"source\"?)");
        assert_eq!(refused("target = \"sqlite://b.db\"\n"), "p.toml:1: source: missing: the source database's URL");
        let table_in_defaults = refused(&format!("{HEAD}[defaults]\ntable = \"x\"\n[[streams]]\ntable = \"t\"\n"));
        assert!(table_in_defaults.starts_with("p.toml:4: table: unknown key"), "{table_in_defaults}");
        assert!(refused(HEAD).contains("streams: none"), "{}", refused(HEAD));
        assert!(refused("source = \n").starts_with("p.toml: TOML parse error at line 1"), "{}", refused("source = \n"));
        std::env::remove_var("UPSERTX_TEST_UNSET");
        assert_eq!(
            refused("source = \"postgres://a:${UPSERTX_TEST_UNSET}@h/db\"\ntarget = \"sqlite://b.db\"\n"),
            "p.toml:1: source/target: ${UPSERTX_TEST_UNSET} is not set"
        );
    }

    #[test]
    fn patterns() {
        assert!(matches("public.*", "public.orders"));
        assert!(matches("sales.order_*", "sales.order_lines"));
        assert!(!matches("sales.order_*", "sales.orders"));
        assert!(matches("*", "anything.at_all"));
        assert!(matches("t?", "t1") && !matches("t?", "t12"));
        assert!(is_pattern("a*") && !is_pattern("public.orders"));
    }
}
