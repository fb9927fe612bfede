//! The machinery of the load's options, which `spec.rs` declares once with
//! `declare_options!`: each becomes a field of [`Spec`](crate::Spec), a setter of
//! [`Upsert`](crate::Upsert), and a [`LoadOption`] that callers read to offer it in
//! their own words: the command line makes a flag of it (`--max-delete`), the Python
//! package a keyword (`max_delete=`), a sync file a key (`max_delete = 5`). Each caller
//! hands the values it was given to [`Spec::set`](crate::Spec::set) as [`OptionValue`]s.

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
            pub fn set(&mut self, name: &str, value: $crate::options::OptionValue) -> $crate::error::Result<()> {
                let set: Result<(), String> = match name {
                    $( stringify!($name) => $crate::options::declare_options!(@set self.$name, value, $kind($($arg)*)), )+
                    _ => return Err($crate::error::Error::Usage(unknown_option(name))),
                };
                set.map_err(|e| $crate::error::Error::Usage(format!("--{}: {e}", name.replace('_', "-"))))
            }
        }

        /// Every option of [`Spec`], in its order.
        pub(crate) const DECLARED: &[$crate::options::LoadOption] = &[$(
            $crate::options::LoadOption {
                name: stringify!($name),
                takes: $crate::options::declare_options!(@takes $kind($($arg)*)),
                value_name: $crate::options::declare_options!(@value_name $kind($($arg)*)),
                heading: $crate::options::declare_options!(@heading $($heading)?),
                doc: concat!($($doc, "\n"),+),
            },
        )+];

        /// The setters of [`Upsert`](crate::Upsert), one per option, for `lib.rs` to
        /// place in its `impl Upsert` (so that nothing here names the type above it).
        macro_rules! upsert_setters {
            () => {
                $(
                    $crate::options::declare_options!(@setter [
                        $(#[doc = $doc])+
                        #[doc = ""]
                        #[doc = concat!("Sets [`Spec::", stringify!($name), "`].")]
                    ] $name $kind($($arg)*));
                )+
            };
        }
        pub(crate) use upsert_setters;
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

    (@takes Switch()) => { $crate::options::Takes::Switch };
    (@takes Text($v:literal)) => { $crate::options::Takes::Text };
    (@takes Names($v:literal)) => { $crate::options::Takes::Names };
    (@takes Value($t:ty, $v:literal, $parse:expr)) => { $crate::options::Takes::Value };
    (@takes Choice($t:ty)) => { $crate::options::Takes::Choice(<$t as $crate::options::Choices>::WORDS) };

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
