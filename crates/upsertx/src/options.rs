//! The options of a load, by identity: the name a Python keyword (and a sync file's
//! key) gives each, the flag the command line gives it, and what it takes. Library
//! messages name an option by its flag (`--evolve`), as the command line shows it;
//! [`in_words`] says the same message in another caller's words (`evolve=True`).

/// What an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// Nothing: on or off (`--evolve`; Python `evolve=True`).
    Nothing,
    /// One of these words (`--on-conflict ignore`; Python `on_conflict="ignore"`).
    Choice(&'static [&'static str]),
    /// A value of its own (a name, a number, SQL).
    Value,
}

/// One option: its identity (`max_delete`), its flag (`--max-delete`), what it takes.
struct Opt {
    name: &'static str,
    flag: &'static str,
    takes: Takes,
}

const fn opt(name: &'static str, flag: &'static str, takes: Takes) -> Opt {
    Opt { name, flag, takes }
}

use Takes::{Choice, Nothing, Value};

/// Every option a library message may name.
const OPTIONS: &[Opt] = &[
    opt("table", "--table", Value),
    opt("key", "--key", Value),
    opt("constraint", "--constraint", Value),
    opt("key_where", "--key-where", Value),
    opt("on_conflict", "--on-conflict", Choice(&["update", "ignore", "error", "ignore/error"])),
    opt("update", "--update", Value),
    opt("no_update", "--no-update", Value),
    opt("always_update", "--always-update", Nothing),
    opt("duplicates", "--duplicates", Choice(&["last", "first", "error"])),
    opt("create", "--create", Nothing),
    opt("dry_run", "--dry-run", Nothing),
    opt("delete_missing", "--delete-missing", Nothing),
    opt("scope", "--scope", Value),
    opt("scope_where", "--scope-where", Value),
    opt("allow_empty", "--allow-empty", Nothing),
    opt("max_delete", "--max-delete", Value),
    opt("soft_delete", "--soft-delete", Value),
    opt("replace_where", "--replace-where", Value),
    opt("newer_by", "--newer-by", Value),
    opt("changes", "--changes", Value),
    opt("history", "--history", Value),
    opt("current_flag", "--current-flag", Value),
    opt("as_of", "--as-of", Value),
    opt("evolve", "--evolve", Nothing),
    opt("format", "--format", Choice(&["csv", "tsv", "ndjson", "json", "parquet", "arrow"])),
    opt("from_db", "--from-db", Value),
    opt("query", "--query", Value),
];

/// Every option of a load a caller names: its identity (the Python keyword, the sync
/// file's key) and its command-line flag, one declaration that the command line and the
/// Python package check themselves against.
///
/// ```
/// assert!(upsertx::load_options().any(|o| o == ("max_delete", "--max-delete")));
/// ```
pub fn load_options() -> impl Iterator<Item = (&'static str, &'static str)> {
    OPTIONS.iter().map(|o| (o.name, o.flag))
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
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("--") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        // A flag starts a word: `--evolve`, not the middle of `a--b`.
        let starts_word = !out.chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '-');
        let len = from[2..].find(|c: char| !(c.is_ascii_lowercase() || c == '-')).map_or(from.len(), |n| n + 2);
        let found = OPTIONS.iter().find(|o| o.flag == &from[..len]).filter(|_| starts_word);
        let Some(o) = found else {
            out.push_str("--");
            rest = &from[2..];
            continue;
        };
        rest = &from[len..];
        match o.takes {
            Nothing => {
                out.push_str(o.name);
                out.push_str("=True");
            }
            Choice(choices) => {
                out.push_str(o.name);
                let word = next_word(rest);
                if let Some(word) = word.filter(|w| choices.contains(w)) {
                    out.push_str(&format!("=\"{word}\""));
                    rest = &rest[1 + word.len()..];
                }
            }
            Value => {
                out.push_str(o.name);
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
        assert_eq!(py("x--evolve, --json, --unknown, -- alone"), "x--evolve, --json, --unknown, -- alone");
        assert_eq!(py("--history FROM,TO"), "history FROM,TO");
        assert_eq!(py("--max-delete -5"), "max_delete -5");
    }

    #[test]
    fn every_flag_the_library_writes_is_declared() {
        // Each `--flag` on a line of code (not a comment) of the library, so that a
        // message naming a new option cannot miss its line in OPTIONS.
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
        for flag in flags {
            assert!(OPTIONS.iter().any(|o| o.flag == flag), "{flag} is written by the library but not in OPTIONS");
        }
    }
}
