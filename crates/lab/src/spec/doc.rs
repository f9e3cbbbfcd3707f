//! An experiment file as a tree whose every key and value remembers where it came from — a
//! byte offset in the file, or a `--set` argument — so that overrides never disturb the
//! file's line numbers and every error can be located.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::{Spanned, Value};

/// Where a key or value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A byte offset in the file.
    File(usize),
    /// The `--set` argument with this index.
    Set(usize),
    /// Nowhere in particular (the file as a whole).
    Nowhere,
}

/// A value of the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A table: keys in file order, each with its own origin.
    Table(Vec<Entry>),
    /// An array.
    Array(Vec<Located>),
    /// A string, number, boolean or datetime.
    Scalar(Value),
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// Where.
    pub at: Origin,
    /// What.
    pub node: Node,
}

/// A key of a table, its origin and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Where the key is written.
    pub at: Origin,
    /// The value.
    pub value: Located,
}

impl Located {
    /// The entries of a table (empty for anything else).
    pub fn entries(&self) -> &[Entry] {
        match &self.node {
            Node::Table(t) => t,
            _ => &[],
        }
    }

    /// The entry called `key`, if this is a table that has it.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries().iter().find(|e| e.key == key)
    }

    /// The value as plain TOML (origins dropped).
    pub fn to_value(&self) -> Value {
        match &self.node {
            Node::Scalar(v) => v.clone(),
            Node::Array(items) => Value::Array(items.iter().map(Located::to_value).collect()),
            Node::Table(t) => Value::Table(
                t.iter()
                    .map(|e| (e.key.clone(), e.value.to_value()))
                    .collect(),
            ),
        }
    }

    /// Sets `table.key` to `value`, creating the table if needed; returns `false` when
    /// `table` exists but is not a table.
    pub fn set(&mut self, table: &str, key: &str, at: Origin, value: Located) -> bool {
        let Node::Table(root) = &mut self.node else {
            return false;
        };
        if !root.iter().any(|e| e.key == table) {
            root.push(Entry {
                key: table.to_string(),
                at,
                value: Located {
                    at,
                    node: Node::Table(Vec::new()),
                },
            });
        }
        let entry = root.iter_mut().find(|e| e.key == table).expect("added");
        let Node::Table(t) = &mut entry.value.node else {
            return false;
        };
        match t.iter_mut().find(|e| e.key == key) {
            Some(e) => {
                e.at = at;
                e.value = value;
            }
            None => t.push(Entry {
                key: key.to_string(),
                at,
                value,
            }),
        }
        true
    }

    /// Removes `table.key` if present.
    pub fn remove(&mut self, table: &str, key: &str) {
        if let Node::Table(root) = &mut self.node {
            if let Some(Entry {
                value:
                    Located {
                        node: Node::Table(t),
                        ..
                    },
                ..
            }) = root.iter_mut().find(|e| e.key == table)
            {
                t.retain(|e| e.key != key);
            }
        }
    }
}

/// Converts the parser's spanned tree; `origin` maps a span start to an [`Origin`].
fn convert(v: &Spanned<DeValue<'_>>, origin: &dyn Fn(usize) -> Origin) -> Located {
    let at = origin(v.span().start);
    let node = match v.get_ref() {
        DeValue::Table(t) => Node::Table(entries(t, origin)),
        DeValue::Array(a) => Node::Array(a.iter().map(|x| convert(x, origin)).collect()),
        _ => Node::Scalar(
            Value::deserialize(ValueDeserializer::from(v.clone()))
                .unwrap_or(Value::String(String::new())),
        ),
    };
    Located { at, node }
}

fn entries(t: &DeTable<'_>, origin: &dyn Fn(usize) -> Origin) -> Vec<Entry> {
    t.iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            at: origin(k.span().start),
            value: convert(v, origin),
        })
        .collect()
}

/// Parses a whole file; on syntax errors returns every one the parser found, located.
///
/// # Errors
/// `(offset, message)` for each syntax error.
pub fn parse_file(text: &str) -> Result<Located, Vec<(Option<usize>, String)>> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors
            .iter()
            .map(|e| (e.span().map(|s| s.start), e.message().trim().to_string()))
            .collect());
    }
    Ok(Located {
        at: Origin::Nowhere,
        node: Node::Table(entries(doc.get_ref(), &Origin::File)),
    })
}

/// Parses one `--set` value; every node gets origin `Set(index)`.
///
/// # Errors
/// The parser's message.
pub fn parse_set_value(text: &str, index: usize) -> Result<Located, String> {
    let v = DeValue::parse(text).map_err(|e| e.message().trim().to_string())?;
    Ok(convert(&v, &|_| Origin::Set(index)))
}

/// A problem with an experiment file, located in it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column in the file, when the problem is in it.
    pub line_col: Option<(usize, usize)>,
    /// The `--set` argument the problem is in, when it is in one.
    pub set: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.line_col {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(set) = &self.set {
            write!(f, ": --set {set}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in an experiment file.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

/// Collects located errors for one file.
pub struct Errors<'a> {
    file: &'a Path,
    text: &'a str,
    sets: &'a [String],
    list: Vec<SpecError>,
}

impl<'a> Errors<'a> {
    /// A collector for `file` with contents `text` and the `--set` arguments `sets`.
    pub fn new(file: &'a Path, text: &'a str, sets: &'a [String]) -> Self {
        Errors {
            file,
            text,
            sets,
            list: Vec::new(),
        }
    }

    /// Records a problem at `at` (the same message at the same place is kept once).
    pub fn push(&mut self, at: Origin, message: impl Into<String>) {
        let (line_col, set) = match at {
            Origin::File(offset) => (Some(line_col(self.text, offset)), None),
            Origin::Set(i) => (None, self.sets.get(i).cloned()),
            Origin::Nowhere => (None, None),
        };
        let e = SpecError {
            file: self.file.to_path_buf(),
            line_col,
            set,
            message: message.into(),
        };
        if !self.list.contains(&e) {
            self.list.push(e);
        }
    }

    /// How many problems were recorded.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether anything was recorded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The errors, in file order (unlocated ones last).
    pub fn finish(mut self) -> SpecErrors {
        self.list
            .sort_by_key(|e| (e.line_col.is_none(), e.line_col, e.set.clone()));
        SpecErrors(self.list)
    }
}

/// 1-based line and column of a byte offset (columns count characters).
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut o = offset.min(text.len());
    while !text.is_char_boundary(o) {
        o -= 1;
    }
    let before = &text[..o];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_keep_their_offsets_and_sets_their_index() {
        let text = "[params]\nkappa = 10\n\n[[sweep]]\nm = [\"a\", \"b\"]\n";
        let mut doc = parse_file(text).unwrap();
        let params = &doc.get("params").unwrap().value;
        let kappa = params.get("kappa").unwrap();
        assert_eq!(
            line_col(
                text,
                match kappa.at {
                    Origin::File(o) => o,
                    _ => 0,
                }
            ),
            (2, 1)
        );
        assert_eq!(kappa.value.to_value(), Value::Integer(10));
        let sweep = &doc.get("sweep").unwrap().value;
        let Node::Array(grids) = &sweep.node else {
            panic!("array of tables")
        };
        let m = grids[0].get("m").unwrap();
        let Node::Array(items) = &m.value.node else {
            panic!("list")
        };
        assert_eq!(
            line_col(
                text,
                match items[1].at {
                    Origin::File(o) => o,
                    _ => 0,
                }
            ),
            (5, 11)
        );

        let v = parse_set_value("[1, 2]", 0).unwrap();
        assert!(doc.set("params", "kappa", Origin::Set(0), v));
        let kappa = doc.get("params").unwrap().value.get("kappa").unwrap();
        assert_eq!(kappa.at, Origin::Set(0));
        assert_eq!(
            kappa.value.to_value(),
            Value::Array(vec![Value::Integer(1), Value::Integer(2)])
        );
    }

    #[test]
    fn every_syntax_error_is_reported() {
        let errs = parse_file("a = = 1\nb = [1,\nc = \"x").unwrap_err();
        assert!(errs.len() >= 2, "{errs:?}");
        assert_eq!(line_col("ab\ncdé\nx", 7), (2, 4));
    }
}
