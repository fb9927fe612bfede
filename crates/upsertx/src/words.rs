//! Messages in a caller's words: the library names an option by its flag (`--evolve`),
//! as the command line shows it; [`in_words`] says the same message as the Python
//! package's keywords do (`evolve=True`), from the options `spec.rs` declares.

use crate::error::Error;
use crate::options::Takes;
use crate::spec::load_options;

/// The options of a load's source, which messages name too; they are not part of a
/// [`Spec`](crate::Spec) (the command line and the Python package take them beside it).
const SOURCE_OPTIONS: &[(&str, Takes)] = &[
    ("format", Takes::Choice(&["csv", "tsv", "ndjson", "json", "parquet", "arrow"])),
    ("from_db", Takes::Text),
    ("query", Takes::Text),
];

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

impl Error {
    /// The message in a caller's words: options named as that caller names them
    /// (`--evolve` on the command line, `evolve=True` in Python; see [`in_words`]).
    pub fn message(&self, words: Words) -> String {
        in_words(&self.to_string(), words)
    }
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
    fn every_flag_the_library_writes_is_declared() {
        // Each `--flag` on a line of code (not a comment) of the library, so that a
        // message naming an option cannot name one that does not exist.
        fn walk(dir: &std::path::Path, flags: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, flags);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("words.rs") {
                    for line in std::fs::read_to_string(&path).unwrap().lines() {
                        if line.trim_start().starts_with("//") {
                            continue;
                        }
                        for (at, _) in line.match_indices("--") {
                            let rest = &line[at + 2..];
                            let len = rest.find(|c: char| !(c.is_ascii_lowercase() || c == '-')).unwrap_or(rest.len());
                            // A flag starts with a letter (not a PEM line's `-----BEGIN`).
                            if rest.starts_with(|c: char| c.is_ascii_lowercase()) && len > 0 {
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
            .map(crate::options::LoadOption::flag)
            .chain(SOURCE_OPTIONS.iter().map(|(name, _)| format!("--{}", name.replace('_', "-"))))
            .collect();
        for flag in flags {
            assert!(declared.contains(&flag), "{flag} is written by the library but not declared");
        }
    }
}
