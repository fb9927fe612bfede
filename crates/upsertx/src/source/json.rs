//! JSON input: an array of objects, or objects one after another (NDJSON). Either
//! way the objects are read one at a time, so memory does not grow with the input.
//!
//! The columns are the keys of the first object, in its order. A later object that
//! lacks one of them gives NULL for it; a later object with a key the first one does
//! not have is an error (the value would otherwise be dropped without a word).

use super::{check_columns, RawRef, RowReader};
use crate::error::{Error, Location, Result};
use serde_json::{Map, Value};
use std::io::BufRead;

pub(crate) struct JsonReader<R> {
    input: R,
    name: String,
    columns: Vec<String>,
    current: Map<String, Value>,
    /// The first object, read to learn the columns, not yet handed out.
    pending: Option<Map<String, Value>>,
    scratch: Vec<u8>,
    in_array: Option<bool>,
    done: bool,
    row: u64,
}

impl<R: BufRead + Send> JsonReader<R> {
    pub(crate) fn new(input: R, name: String) -> Result<Self> {
        let mut r = JsonReader {
            input,
            name,
            columns: Vec::new(),
            current: Map::new(),
            pending: None,
            scratch: Vec::new(),
            in_array: None,
            done: false,
            row: 0,
        };
        match r.read_object()? {
            Some(first) => {
                r.columns = first.keys().cloned().collect();
                check_columns(&r.name, &r.columns)?;
                r.pending = Some(first);
                r.row = 0;
            }
            None => return Err(Error::Source { input: r.name, reason: "the input holds no JSON object".into() }),
        }
        Ok(r)
    }

    fn location(&self) -> Location {
        Location { input: self.name.clone(), row: self.row, line: None }
    }

    fn fail<T>(&self, reason: impl Into<String>) -> Result<T> {
        Err(Error::Input { at: self.location(), reason: reason.into() })
    }

    fn peek(&mut self) -> Result<Option<u8>> {
        let buf =
            self.input.fill_buf().map_err(|e| Error::Source { input: self.name.clone(), reason: e.to_string() })?;
        Ok(buf.first().copied())
    }

    fn skip_whitespace(&mut self) -> Result<Option<u8>> {
        loop {
            match self.peek()? {
                Some(b) if b.is_ascii_whitespace() => self.input.consume(1),
                other => return Ok(other),
            }
        }
    }

    /// Reads the next object of the stream, `None` at its end.
    fn read_object(&mut self) -> Result<Option<Map<String, Value>>> {
        if self.done {
            return Ok(None);
        }
        let mut next = self.skip_whitespace()?;
        if self.in_array.is_none() {
            self.in_array = Some(next == Some(b'['));
            if next == Some(b'[') {
                self.input.consume(1);
                next = self.skip_whitespace()?;
            }
        } else if self.in_array == Some(true) && next == Some(b',') {
            self.input.consume(1);
            next = self.skip_whitespace()?;
        }
        self.row += 1;
        match next {
            None if self.in_array == Some(true) => return self.fail("the JSON array is not closed with ']'"),
            None => {
                self.done = true;
                return Ok(None);
            }
            Some(b']') if self.in_array == Some(true) => {
                self.input.consume(1);
                self.done = true;
                if self.skip_whitespace()?.is_some() {
                    return self.fail("unexpected data after the closing ']' of the JSON array");
                }
                return Ok(None);
            }
            Some(b'{') => {}
            Some(b) => return self.fail(format!("expected a JSON object, found {:?}", b as char)),
        }
        self.scan_object()?;
        match serde_json::from_slice::<Object>(&self.scratch) {
            Ok(Object(map)) => Ok(Some(map)),
            Err(e) => self.fail(format!("invalid JSON: {e}")),
        }
    }

    /// Copies the bytes of one object (from `{` to its matching `}`) into `scratch`.
    fn scan_object(&mut self) -> Result<()> {
        self.scratch.clear();
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        loop {
            let buf =
                self.input.fill_buf().map_err(|e| Error::Source { input: self.name.clone(), reason: e.to_string() })?;
            if buf.is_empty() {
                return self.fail("the input ends inside a JSON object");
            }
            let mut end = None;
            for (i, &b) in buf.iter().enumerate() {
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let n = end.unwrap_or(buf.len());
            self.scratch.extend_from_slice(&buf[..n]);
            self.input.consume(n);
            if end.is_some() {
                return Ok(());
            }
        }
    }
}

impl<R: BufRead + Send> RowReader for JsonReader<R> {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn advance(&mut self) -> Result<bool> {
        let next = match self.pending.take() {
            Some(first) => {
                self.row = 1;
                first
            }
            None => match self.read_object()? {
                Some(obj) => obj,
                None => return Ok(false),
            },
        };
        if let Some(extra) = next.keys().find(|k| !self.columns.contains(k)) {
            return self.fail(format!(
                "key {extra:?} is not in the first object; the columns are the first object's keys ({})",
                self.columns.join(", ")
            ));
        }
        self.current = next;
        Ok(true)
    }

    fn value(&self, i: usize) -> RawRef<'_> {
        match self.current.get(&self.columns[i]) {
            None | Some(Value::Null) => RawRef::Null,
            Some(v) => RawRef::Json(v),
        }
    }

    fn position(&self) -> (u64, Option<u64>) {
        (self.row, None)
    }
}

/// A JSON object whose keys must be distinct: `serde_json::Map` keeps the last of two
/// equal keys without a word, which would silently drop a value.
struct Object(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for Object {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Object, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Object;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> std::result::Result<Object, A::Error> {
                let mut map = Map::new();
                while let Some(key) = a.next_key::<String>()? {
                    let value: Value = a.next_value()?;
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("the key {key:?} appears twice in one object")));
                    }
                    map.insert(key, value);
                }
                Ok(Object(map))
            }
        }
        d.deserialize_map(Keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str) -> Result<Vec<Vec<Option<String>>>> {
        let mut r = JsonReader::new(input.as_bytes(), "t.json".into())?;
        let mut out = Vec::new();
        while r.advance()? {
            out.push((0..r.columns().len()).map(|i| r.value(i).shown()).collect());
        }
        Ok(out)
    }

    #[test]
    fn arrays_and_ndjson_read_alike() {
        let s = |v: &str| Some(v.to_string());
        let want = vec![vec![s("1"), s("a}\"[")], vec![s("2"), None], vec![s("3"), s("{\"x\":[1]}")]];
        let array = r#"[{"id":1,"name":"a}\"["}, {"id":2}, {"id":3,"name":{"x":[1]}}]"#;
        assert_eq!(read(array).unwrap(), want);
        let ndjson = "{\"id\":1,\"name\":\"a}\\\"[\"}\n{\"id\":2,\"name\":null}\n{\"id\":3,\"name\":{\"x\":[1]}}\n";
        assert_eq!(read(ndjson).unwrap(), want);
    }

    #[test]
    fn errors_name_the_row() {
        let err = read("[{\"id\":1},{\"id\":2,\"zz\":3}]").unwrap_err().to_string();
        assert!(err.starts_with("t.json: row 2: key \"zz\" is not in the first object"), "{err}");
        let err = read("{\"id\":1}\n{\"id\":2\n").unwrap_err().to_string();
        assert_eq!(err, "t.json: row 2: the input ends inside a JSON object");
        let err = read("[{\"id\":1}, 5]").unwrap_err().to_string();
        assert_eq!(err, "t.json: row 2: expected a JSON object, found '5'");
    }
}
