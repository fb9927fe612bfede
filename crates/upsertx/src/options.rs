//! The options of a load, declared once (in `spec.rs`, with [`declare_options!`]): each
//! is a field of [`Spec`](crate::Spec), a setter of [`Upsert`](crate::Upsert), and a
//! [`LoadOption`] that callers read to offer it in their own words: the command line
//! makes a flag of it (`--max-delete`), the Python package a keyword (`max_delete=`), a
//! sync file a key (`max_delete = 5`). Each caller hands the values it was given to
//! [`Spec::set`](crate::Spec::set) as [`OptionValue`]s.
//!
//! Library messages name an option by its flag (`--evolve`), as the command line shows
//! it; [`in_words`] says the same message in another caller's words (`evolve=True`).

/// What an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Takes {
    /// Nothing: on or off (`--evolve`; Python `evolve=True`).
    Switch,
    /// A name or other text of its own (a column, SQL).
    Text,
    /// Column names: comma-separated text or a list (`--key a,b`; `key=["a", "b"]`).
    Names,
    /// A value the option parses (a number, a path, a timestamp).
    Value,
    /// One of these words; the first is the default (`--on-conflict ignore`).
    Choice(&'static [&'static str]),
}

/// One option of a load, as the library declares it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct LoadOption {
    /// Its identity: the [`Spec`](crate::Spec) field, the Python keyword, the sync file's key.
    pub name: &'static str,
    /// What it takes.
    pub takes: Takes,
    /// What its value is, in a usage line (`COLS`, `SQL`, `N|P%`); empty for a switch.
    pub value_name: &'static str,
    /// The group it is shown in, if any (`Deleting what vanished`).
    pub heading: Option<&'static str>,
    /// What it does: one paragraph, naming options by their flags.
    pub doc: &'static str,
}

impl LoadOption {
    /// Its command-line flag: `--` and its name with `-` for `_` (`--max-delete`).
    pub fn flag(&self) -> String {
        format!("--{}", self.name.replace('_', "-"))
    }

    /// [`doc`](LoadOption::doc) as one line of text.
    pub fn help(&self) -> String {
        self.doc.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// A value given for an option, as a caller carries it: a command-line argument, a
/// Python keyword's value, a sync file's value. [`Spec::set`](crate::Spec::set) takes
/// the forms that make sense for the option (a number of rows as `Int(5)` or
/// `Text("5")`, column names as `Text("a,b")` or `List`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OptionValue {
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text.
    Text(String),
    /// A list of texts.
    List(Vec<String>),
}

impl OptionValue {
    /// The value as a message shows it.
    fn shown(&self) -> String {
        match self {
            OptionValue::Bool(b) => b.to_string(),
            OptionValue::Int(i) => i.to_string(),
            OptionValue::Float(f) => f.to_string(),
            OptionValue::Text(t) => format!("{t:?}"),
            OptionValue::List(l) => format!("{l:?}"),
        }
    }

    /// A switch's value.
    pub(crate) fn switch(self) -> Result<bool, String> {
        match self {
            OptionValue::Bool(b) => Ok(b),
            other => Err(format!("expected true or false, not {}", other.shown())),
        }
    }

    /// A text option's value.
    pub(crate) fn text(self) -> Result<String, String> {
        match self {
            OptionValue::Text(t) => Ok(t),
            other => Err(format!("expected text, not {}", other.shown())),
        }
    }

    /// Column names: a list, or comma-separated text (blanks around names dropped).
    pub(crate) fn names(self) -> Result<Vec<String>, String> {
        match self {
            OptionValue::Text(t) => Ok(t.split(',').map(str::trim).filter(|n| !n.is_empty()).map(Into::into).collect()),
            OptionValue::List(l) => Ok(l),
            other => Err(format!("expected a column name or a list of them, not {}", other.shown())),
        }
    }

    /// A value the option parses from text (a number given as a number is its text).
    pub(crate) fn parsed<T>(self, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, String> {
        match self {
            OptionValue::Text(t) => parse(&t),
            OptionValue::Int(i) => parse(&i.to_string()),
            OptionValue::Float(f) => parse(&f.to_string()),
            other => Err(format!("expected a value, not {}", other.shown())),
        }
    }
}

/// Serde reads an option's value as the caller wrote it (a sync file, JSON).
impl<'de> serde::Deserialize<'de> for OptionValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = OptionValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true or false, a number, text, or a list of texts")
            }
            fn visit_bool<E>(self, v: bool) -> Result<OptionValue, E> {
                Ok(OptionValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<OptionValue, E> {
                Ok(OptionValue::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<OptionValue, E> {
                i64::try_from(v).map(OptionValue::Int).map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_f64<E>(self, v: f64) -> Result<OptionValue, E> {
                Ok(OptionValue::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<OptionValue, E> {
                Ok(OptionValue::Text(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<OptionValue, A::Error> {
                let mut list = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    list.push(item);
                }
                Ok(OptionValue::List(list))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// A type whose values are words (`update`, `ignore`, `error`): the first is the default.
pub(crate) trait Choices {
    const WORDS: &'static [&'static str];
}

/// Declares the options of a load, once. Each entry is the option's docs (one
/// paragraph, naming options by their flags: they are its rustdoc, its `--help` and
/// its Python docstring), `name: Kind(...)`, and optionally `in "Heading"`. The kinds:
/// `Switch()` (a `bool`), `Text("VALUE")` (an `Option<String>`), `Names("VALUE")` (a
/// `Vec<String>`), `Value(Type, "VALUE", parse)` (an `Option<Type>`, `parse` reading
/// it from text), `Choice(Type)` (a `Type` of words, see `Choices`).
macro_rules! declare_options {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident: $kind:ident($($arg:tt)*) $(in $heading:literal)?;
    )+) => {
        /// The full description of one load, independent of where the rows come from:
        /// every option, as a Rust value. Build it with [`Upsert`](crate::Upsert)'s
        /// setters, or name by name from a caller's words with [`Spec::set`] (or serde:
        /// a map of option names to values). Its docs name each option by its
        /// command-line flag; the field is the flag's name with `_` for `-`. Times
        /// (`as_of`) are microseconds since 1970-01-01 UTC ([`parse_time`](crate::parse_time)
        /// reads them from text).
        #[derive(Debug, Clone, Default, PartialEq)]
        #[non_exhaustive]
        pub struct Spec {
            $( $(#[doc = $doc])+ pub $name: $crate::options::declare_options!(@type $kind($($arg)*)), )+
        }

        impl Spec {
            /// Sets the option called `name` (a field of this struct, the Python keyword)
            /// from a caller's value: a usage error names the option and says what it
            /// takes.
            ///
            /// ```
            /// use upsertx::{OptionValue, Spec};
            /// let mut spec = Spec::default();
            /// spec.set("key", OptionValue::Text("region,sku".into()))?;
            /// spec.set("max_delete", OptionValue::Text("5%".into()))?;
            /// assert_eq!(spec.key, ["region", "sku"]);
            /// let wrong = spec.set("evolve", OptionValue::Text("yes".into())).unwrap_err();
            /// assert_eq!(wrong.to_string(), "--evolve: expected true or false, not \"yes\"");
            /// # Ok::<(), upsertx::Error>(())
            /// ```
            pub fn set(&mut self, name: &str, value: $crate::OptionValue) -> $crate::Result<()> {
                let set: Result<(), String> = match name {
                    $( stringify!($name) => $crate::options::declare_options!(@set self.$name, value, $kind($($arg)*)), )+
                    _ => return Err($crate::Error::Usage(unknown_option(name))),
                };
                set.map_err(|e| $crate::Error::Usage(format!("--{}: {e}", name.replace('_', "-"))))
            }
        }

        /// Every option of [`Spec`], in its order.
        pub(crate) const DECLARED: &[$crate::LoadOption] = &[$(
            $crate::LoadOption {
                name: stringify!($name),
                takes: $crate::options::declare_options!(@takes $kind($($arg)*)),
                value_name: $crate::options::declare_options!(@value_name $kind($($arg)*)),
                heading: $crate::options::declare_options!(@heading $($heading)?),
                doc: concat!($($doc, "\n"),+),
            },
        )+];

        impl $crate::Upsert {
            $(
                $crate::options::declare_options!(@setter [
                    $(#[doc = $doc])+
                    #[doc = ""]
                    #[doc = concat!("Sets [`Spec::", stringify!($name), "`].")]
                ] $name $kind($($arg)*));
            )+
        }
    };

    (@type Switch()) => { bool };
    (@type Text($v:literal)) => { Option<String> };
    (@type Names($v:literal)) => { Vec<String> };
    (@type Value($t:ty, $v:literal, $parse:expr)) => { Option<$t> };
    (@type Choice($t:ty)) => { $t };

    (@set $field:expr, $value:ident, Switch()) => { $value.switch().map(|v| $field = v) };
    (@set $field:expr, $value:ident, Text($v:literal)) => { $value.text().map(|v| $field = Some(v)) };
    (@set $field:expr, $value:ident, Names($v:literal)) => { $value.names().map(|v| $field = v) };
    (@set $field:expr, $value:ident, Value($t:ty, $v:literal, $parse:expr)) => {
        $value.parsed($parse).map(|v| $field = Some(v))
    };
    (@set $field:expr, $value:ident, Choice($t:ty)) => { $value.parsed(str::parse::<$t>).map(|v| $field = v) };

    (@takes Switch()) => { $crate::Takes::Switch };
    (@takes Text($v:literal)) => { $crate::Takes::Text };
    (@takes Names($v:literal)) => { $crate::Takes::Names };
    (@takes Value($t:ty, $v:literal, $parse:expr)) => { $crate::Takes::Value };
    (@takes Choice($t:ty)) => { $crate::Takes::Choice(<$t as $crate::options::Choices>::WORDS) };

    (@value_name Switch()) => { "" };
    (@value_name Text($v:literal)) => { $v };
    (@value_name Names($v:literal)) => { $v };
    (@value_name Value($t:ty, $v:literal, $parse:expr)) => { $v };
    (@value_name Choice($t:ty)) => { "" };

    (@heading) => { None };
    (@heading $h:literal) => { Some($h) };

    (@setter [$($doc:tt)*] $name:ident Switch()) => {
        $($doc)*
        pub fn $name(mut self, yes: bool) -> Self {
            self.spec.$name = yes;
            self
        }
    };
    (@setter [$($doc:tt)*] $name:ident Text($v:literal)) => {
        $($doc)*
        pub fn $name(mut self, value: impl Into<String>) -> Self {
            self.spec.$name = Some(value.into());
            self
        }
    };
    (@setter [$($doc:tt)*] $name:ident Names($v:literal)) => {
        $($doc)*
        pub fn $name<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
            self.spec.$name = names.into_iter().map(Into::into).collect();
            self
        }
    };
    (@setter [$($doc:tt)*] $name:ident Value($t:ty, $v:literal, $parse:expr)) => {
        $($doc)*
        pub fn $name(mut self, value: $t) -> Self {
            self.spec.$name = Some(value);
            self
        }
    };
    (@setter [$($doc:tt)*] $name:ident Choice($t:ty)) => {
        $($doc)*
        pub fn $name(mut self, value: $t) -> Self {
            self.spec.$name = value;
            self
        }
    };
}
pub(crate) use declare_options;

/// A spec reads from any serde format as a map of option names to values (a sync
/// file's table, JSON), each set with [`Spec::set`](crate::Spec::set).
impl<'de> serde::Deserialize<'de> for crate::Spec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = crate::Spec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of option names to values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<crate::Spec, A::Error> {
                let mut spec = crate::Spec::default();
                while let Some((name, value)) = map.next_entry::<String, OptionValue>()? {
                    spec.set(&name, value).map_err(serde::de::Error::custom)?;
                }
                Ok(spec)
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// The usage error for an option no one declared, with the nearest declared one.
pub(crate) fn unknown_option(name: &str) -> String {
    let near = crate::spec::DECLARED.iter().map(|o| o.name).min_by_key(|known| distance(name, known));
    match near.filter(|known| distance(name, known) <= 2) {
        Some(known) => format!("unknown option {name:?} (did you mean {known:?}?)"),
        None => format!("unknown option {name:?}"),
    }
}

/// Levenshtein distance, for suggestions.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The options of a load's source, which messages name too; they are not part of a
/// [`Spec`](crate::Spec) (the command line and the Python package take them beside it).
const SOURCE_OPTIONS: &[(&str, Takes)] = &[
    ("format", Takes::Choice(&["csv", "tsv", "ndjson", "json", "parquet", "arrow"])),
    ("from_db", Takes::Text),
    ("query", Takes::Text),
];

/// Every option of a load, as [`Spec`](crate::Spec) declares it: its identity (the
/// field, the Python keyword, the sync file's key), what it takes, and its docs. The
/// command line makes its flags of these, the Python package its keywords.
///
/// ```
/// let max_delete = upsertx::load_options().find(|o| o.name == "max_delete").unwrap();
/// assert_eq!(max_delete.flag(), "--max-delete");
/// ```
pub fn load_options() -> impl Iterator<Item = &'static LoadOption> {
    crate::spec::DECLARED.iter()
}

/// Whose words a message is said in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Words {
    /// The command line's: `--evolve`, `--max-delete 5` (how the library writes them).
    Cli,
    /// The Python package's keywords: `evolve=True`, `max_delete=5`,
    /// `on_conflict="ignore"`.
    Python,
}

/// `message` (a library message, naming options by their flags) in `words`.
///
/// ```
/// use upsertx::{in_words, Words};
/// let message = "\"tier\" not in table \"t\" (pass --evolve to add it); more than --max-delete 5";
/// assert_eq!(
///     in_words(message, Words::Python),
///     "\"tier\" not in table \"t\" (pass evolve=True to add it); more than max_delete=5"
/// );
/// assert_eq!(in_words(message, Words::Cli), message);
/// ```
pub fn in_words(message: &str, words: Words) -> String {
    if words == Words::Cli {
        return message.to_owned();
    }
    let declared = load_options().map(|o| (o.name, o.takes)).chain(SOURCE_OPTIONS.iter().copied());
    let options: Vec<(String, &str, Takes)> =
        declared.map(|(name, takes)| (name.replace('_', "-"), name, takes)).collect();
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("--") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        // A flag starts a word: `--evolve`, not the middle of `a--b`.
        let starts_word = !out.chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '-');
        let len = from[2..].find(|c: char| !(c.is_ascii_lowercase() || c == '-')).unwrap_or(from.len() - 2);
        let found = options.iter().find(|(flag, ..)| flag == &from[2..2 + len]).filter(|_| starts_word);
        let Some((_, name, takes)) = found else {
            out.push_str("--");
            rest = &from[2..];
            continue;
        };
        rest = &from[2 + len..];
        out.push_str(name);
        // `--evolve: expected ...` speaks of the option itself, not of a value of it.
        if rest.starts_with(':') {
            continue;
        }
        match takes {
            Takes::Switch => out.push_str("=True"),
            Takes::Choice(choices) => {
                let word = next_word(rest).filter(|w| w.split('/').all(|part| choices.contains(&part)));
                if let Some(word) = word {
                    out.push_str(&format!("=\"{word}\""));
                    rest = &rest[1 + word.len()..];
                }
            }
            Takes::Text | Takes::Names | Takes::Value => {
                // A number (`--max-delete 5`, `5%`) or `-` (stdout) is the option's value.
                let word = next_word(rest)
                    .filter(|w| *w == "-" || w.trim_end_matches('%').parse::<f64>().is_ok_and(|_| !w.starts_with('-')));
                if let Some(word) = word {
                    match word.parse::<u64>() {
                        Ok(_) => out.push_str(&format!("={word}")),
                        Err(_) => out.push_str(&format!("=\"{word}\"")),
                    }
                    rest = &rest[1 + word.len()..];
                }
            }
        }
    }
    out.push_str(rest);
    out
}

/// The word after one space at the start of `s` (up to a space or `,;:)`), if any.
fn next_word(s: &str) -> Option<&str> {
    let s = s.strip_prefix(' ')?;
    let end = s.find(|c: char| c.is_whitespace() || ",;:)\"".contains(c)).unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_keywords() {
        let py = |m: &str| in_words(m, Words::Python);
        assert_eq!(py("pass --evolve to add it"), "pass evolve=True to add it");
        assert_eq!(py("more than --max-delete 5: nothing"), "more than max_delete=5: nothing");
        assert_eq!(py("more than --max-delete 5%"), "more than max_delete=\"5%\"");
        assert_eq!(py("but --on-conflict ignore never"), "but on_conflict=\"ignore\" never");
        assert_eq!(py("--on-conflict ignore/error"), "on_conflict=\"ignore/error\"");
        assert_eq!(
            py("--scope only applies with --delete-missing (or --replace-where)"),
            "scope only applies with delete_missing=True (or replace_where)"
        );
        assert_eq!(py("--changes -"), "changes=\"-\"");
        assert_eq!(py("--changes: expected a file path"), "changes: expected a file path");
        assert_eq!(py("--evolve: expected true or false"), "evolve: expected true or false");
        assert_eq!(py("x--evolve, --json, --unknown, -- alone"), "x--evolve, --json, --unknown, -- alone");
        assert_eq!(py("--history FROM,TO"), "history FROM,TO");
        assert_eq!(py("--max-delete -5"), "max_delete -5");
        assert_eq!(py("the --format"), "the format");
    }

    #[test]
    fn options_parse_as_callers_give_them() {
        use crate::{MaxDelete, OnConflict, Spec};
        let mut spec = Spec::default();
        let set = |spec: &mut Spec, name: &str, value: OptionValue| spec.set(name, value).map_err(|e| e.to_string());
        set(&mut spec, "key", OptionValue::List(vec!["a".into(), "b".into()])).unwrap();
        set(&mut spec, "scope", OptionValue::Text(" region , day ".into())).unwrap();
        set(&mut spec, "max_delete", OptionValue::Int(5)).unwrap();
        set(&mut spec, "on_conflict", OptionValue::Text("Ignore".into())).unwrap();
        set(&mut spec, "as_of", OptionValue::Text("2026-01-01".into())).unwrap();
        set(&mut spec, "create", OptionValue::Bool(true)).unwrap();
        assert_eq!((spec.key.len(), spec.scope.as_slice()), (2, &["region".to_string(), "day".into()][..]));
        assert_eq!(
            (spec.max_delete, spec.on_conflict, spec.create),
            (Some(MaxDelete::Rows(5)), OnConflict::Ignore, true)
        );
        assert_eq!(spec.as_of, Some(1_767_225_600_000_000));
        let wrong = [
            ("max_delete", OptionValue::Float(1.5), "--max-delete: \"1.5\" is not a number of rows"),
            ("max_delete", OptionValue::Bool(true), "--max-delete: expected a value, not true"),
            ("on_conflict", OptionValue::Text("merge".into()), "--on-conflict: \"merge\" is not a conflict action"),
            ("key", OptionValue::Int(1), "--key: expected a column name or a list of them, not 1"),
            ("as_of", OptionValue::Text("last tuesday".into()), "--as-of: \"last tuesday\" is not a date"),
            ("evolv", OptionValue::Bool(true), "unknown option \"evolv\" (did you mean \"evolve\"?)"),
        ];
        for (name, value, message) in wrong {
            let e = set(&mut spec, name, value).unwrap_err();
            assert!(e.starts_with(message), "{name}: {e}");
        }
    }

    #[test]
    fn a_spec_reads_from_serde() {
        let spec: crate::Spec =
            serde_json::from_str(r#"{"key": "id", "delete_missing": true, "max_delete": "5%", "history": ["f", "t"]}"#)
                .unwrap();
        assert_eq!((spec.key, spec.delete_missing, spec.history.len()), (vec!["id".to_string()], true, 2));
        let e = serde_json::from_str::<crate::Spec>(r#"{"evolve": "yes"}"#).unwrap_err().to_string();
        assert!(e.starts_with("--evolve: expected true or false, not \"yes\""), "{e}");
    }

    #[test]
    fn every_flag_the_library_writes_is_declared() {
        // Each `--flag` on a line of code (not a comment) of the library, so that a
        // message naming an option cannot name one that does not exist.
        fn walk(dir: &std::path::Path, flags: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, flags);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("options.rs") {
                    for line in std::fs::read_to_string(&path).unwrap().lines() {
                        if line.trim_start().starts_with("//") {
                            continue;
                        }
                        for (at, _) in line.match_indices("--") {
                            let rest = &line[at + 2..];
                            let len = rest.find(|c: char| !(c.is_ascii_lowercase() || c == '-')).unwrap_or(rest.len());
                            if len > 0 {
                                flags.push(format!("--{}", &rest[..len]));
                            }
                        }
                    }
                }
            }
        }
        let mut flags = Vec::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut flags);
        assert!(flags.len() > 50, "{flags:?}");
        let declared: Vec<String> = load_options()
            .map(LoadOption::flag)
            .chain(SOURCE_OPTIONS.iter().map(|(name, _)| format!("--{}", name.replace('_', "-"))))
            .collect();
        for flag in flags {
            assert!(declared.contains(&flag), "{flag} is written by the library but not declared");
        }
    }
}
