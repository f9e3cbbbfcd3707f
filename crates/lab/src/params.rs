//! Study parameters, defined once.
//!
//! A study's configuration is a plain Rust struct written with the [`params!`](crate::params!)
//! macro: each field's doc comment, type, default and valid range sit on the field itself, and
//! the macro derives everything else from that one definition — the [`ParamSpec`] list that
//! `cargo xtask check` prints and the docs are generated from, the parser that turns an
//! experiment's `[params]` table into the struct (every problem reported, not only the first),
//! and [`Params::check`], the range check a library user's hand-built config goes through.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! /// How eigenvalues fill the spectrum.
//! #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
//! #[serde(rename_all = "kebab-case")]
//! pub enum Layout { Uniform, TwoCluster }
//! lab::choice!(Layout);
//!
//! lab::params! {
//!     /// One run of a toy study.
//!     #[derive(Debug, Clone, PartialEq, Serialize)]
//!     pub struct ToyConfig as "toy study" {
//!         /// Dimension of x.
//!         pub dim: usize = 16; bounds(min = 2, max = 100_000),
//!         /// Condition number L/mu.
//!         pub kappa: f64; bounds(min = 1),
//!         /// Explicit step (theory's when unset).
//!         pub lr: Option<f64> = None; bounds(gt = 0),
//!         /// Eigenvalue layout.
//!         pub layout: Layout = Layout::Uniform,
//!     }
//! }
//!
//! use lab::params::Params;
//! let t: toml::Table = toml::from_str("kappa = 100\nlayout = \"two-cluster\"").unwrap();
//! let cfg = ToyConfig::from_table(&t).unwrap();
//! assert_eq!((cfg.dim, cfg.kappa, cfg.layout), (16, 100.0, Layout::TwoCluster));
//!
//! let bad: toml::Table = toml::from_str("kappa = 0.5\ndim = 1\nlayuot = \"uniform\"").unwrap();
//! let errors = ToyConfig::from_table(&bad).unwrap_err();
//! assert_eq!(errors.len(), 3); // an unknown key (with a suggestion) and two ranges
//! assert!(errors[0].message.contains("did you mean `layout`?"));
//! ```
//!
//! Floats must be finite; integers are non-negative; a choice is one of the enum's serde
//! names (aliases included), found by asking serde rather than listing them again.

use std::fmt;

use serde::de::{DeserializeOwned, Deserializer, Visitor};
use serde::Serialize;
pub use toml::{Table, Value};

/// The type of a parameter as an experiment file sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamType {
    /// A finite number (integers accepted).
    Float,
    /// A non-negative integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// Any string.
    Text,
    /// One of these strings.
    Choice(Vec<&'static str>),
}

impl ParamType {
    /// How the type reads in a message: "a number", "one of gd, adam".
    pub fn describe(&self) -> String {
        match self {
            ParamType::Float => "a number".into(),
            ParamType::Int => "a non-negative integer".into(),
            ParamType::Bool => "true or false".into(),
            ParamType::Text => "a string".into(),
            ParamType::Choice(o) => format!("one of the strings {}", o.join(", ")),
        }
    }
}

/// A valid range: every bound given must hold (`min <= v <= max`, `gt < v < lt`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bounds {
    /// Inclusive lower bound.
    pub min: Option<f64>,
    /// Inclusive upper bound.
    pub max: Option<f64>,
    /// Exclusive lower bound.
    pub gt: Option<f64>,
    /// Exclusive upper bound.
    pub lt: Option<f64>,
}

impl Bounds {
    /// No bounds.
    pub const NONE: Bounds = Bounds {
        min: None,
        max: None,
        gt: None,
        lt: None,
    };

    /// Whether `v` lies inside.
    pub fn contains(&self, v: f64) -> bool {
        self.min.is_none_or(|b| v >= b)
            && self.max.is_none_or(|b| v <= b)
            && self.gt.is_none_or(|b| v > b)
            && self.lt.is_none_or(|b| v < b)
    }

    /// The range in words ("must be >= 1", "must be in (0, 1)"), or `None` when unbounded.
    pub fn describe(&self) -> Option<String> {
        let lo = self
            .min
            .map(|b| ('[', ">=", b))
            .or(self.gt.map(|b| ('(', ">", b)));
        let hi = self
            .max
            .map(|b| (']', "<=", b))
            .or(self.lt.map(|b| (')', "<", b)));
        Some(match (lo, hi) {
            (Some((l, _, a)), Some((h, _, b))) => format!("must be in {l}{a}, {b}{h}"),
            (Some((_, op, a)), None) | (None, Some((_, op, a))) => format!("must be {op} {a}"),
            (None, None) => return None,
        })
    }
}

/// What a parameter defaults to.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    /// The file must give it.
    Required,
    /// An optional parameter left unset (the study decides, e.g. a theory-derived step).
    Unset,
    /// This value.
    Value(Value),
}

impl fmt::Display for DefaultValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefaultValue::Required => write!(f, "required"),
            DefaultValue::Unset => write!(f, "unset"),
            DefaultValue::Value(v) => write!(f, "{}", show_value(v)),
        }
    }
}

/// Turns a valid value into the form the configuration serialises to (an enum's alias into
/// its name, an integer into a float for a number parameter); `None` when it does not parse.
#[derive(Clone, Copy)]
pub struct Canonical(fn(&Value) -> Option<Value>);

impl Canonical {
    /// The canonical form of `v`.
    pub fn of(&self, v: &Value) -> Option<Value> {
        (self.0)(v)
    }
}

impl fmt::Debug for Canonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Canonical")
    }
}

impl PartialEq for Canonical {
    /// Specs compare by their data; the function is fixed by the field's type.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

fn canonical<T: ParamKind>(v: &Value) -> Option<Value> {
    let t = T::deserialize(v.clone()).ok()?;
    Value::try_from(&t).ok()
}

/// One parameter of a study: the single definition everything else reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// The key in `[params]` / `[sweep]`.
    pub name: &'static str,
    /// Its type.
    pub ty: ParamType,
    /// Its default.
    pub default: DefaultValue,
    /// What it means (the field's doc comment).
    pub doc: String,
    /// Its valid range (numbers only).
    pub bounds: Bounds,
    /// Its values' canonical form.
    pub canonical: Canonical,
}

impl ParamSpec {
    /// The spec of a field of type `T` (what the [`params!`](crate::params!) macro calls).
    pub fn new<T: ParamKind>(
        name: &'static str,
        doc: &str,
        default: Option<T>,
        bounds: Bounds,
    ) -> ParamSpec {
        let default = match default {
            None => DefaultValue::Required,
            Some(d) => match Value::try_from(&d) {
                Ok(v) => DefaultValue::Value(v),
                // Serialising `None` fails: an optional parameter with no value.
                Err(_) => DefaultValue::Unset,
            },
        };
        let doc = doc
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        ParamSpec {
            name,
            ty: T::param_type(),
            default,
            doc,
            bounds,
            canonical: Canonical(canonical::<T>),
        }
    }

    /// Checks one value against the type and range; returns it normalised (an integer given
    /// for a number becomes a float).
    ///
    /// # Errors
    /// A message naming the parameter, what it must be and what it got.
    pub fn check_value(&self, v: &Value) -> Result<Value, String> {
        let name = self.name;
        let v = match (&self.ty, v) {
            (ParamType::Float, Value::Float(f)) if !f.is_finite() => {
                return Err(format!("{name} must be a finite number, got {f}"))
            }
            (ParamType::Float, Value::Float(_)) => v.clone(),
            (ParamType::Float, Value::Integer(i)) => Value::Float(*i as f64),
            (ParamType::Int, Value::Integer(i)) if *i < 0 => {
                return Err(format!("{name} must be a non-negative integer, got {i}"))
            }
            (ParamType::Int, Value::Integer(_))
            | (ParamType::Bool, Value::Boolean(_))
            | (ParamType::Text, Value::String(_)) => v.clone(),
            (ParamType::Choice(options), Value::String(s)) => {
                if !options.contains(&s.as_str()) {
                    return Err(format!(
                        "{name} = \"{s}\" is not one of: {}{}",
                        options.join(", "),
                        did_you_mean(s, options.iter().copied())
                    ));
                }
                v.clone()
            }
            (ty, v) => {
                return Err(format!(
                    "{name} must be {}, got {}",
                    ty.describe(),
                    type_name(v)
                ))
            }
        };
        let number = match &v {
            Value::Float(f) => Some(*f),
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        };
        if let (Some(x), Some(range)) = (number, self.bounds.describe()) {
            if !self.bounds.contains(x) {
                return Err(format!(
                    "{name} = {} is out of range: {range}",
                    show_value(&v)
                ));
            }
        }
        Ok(v)
    }
}

/// A value outside its valid range: the one error shape optim, nn and the studies share.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidParameter {
    /// The optimizer, layer, configuration or function.
    pub what: &'static str,
    /// The parameter's name.
    pub field: &'static str,
    /// The value given.
    pub value: f64,
    /// The valid range, in words ("must be > 0").
    pub reason: String,
}

impl fmt::Display for InvalidParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} = {} is invalid: {}",
            self.what, self.field, self.value, self.reason
        )
    }
}

impl std::error::Error for InvalidParameter {}

/// Returns [`InvalidParameter`] unless `ok`.
///
/// # Errors
/// The [`InvalidParameter`] built from the arguments when `ok` is false.
pub fn ensure(
    ok: bool,
    what: &'static str,
    field: &'static str,
    value: f64,
    reason: impl Into<String>,
) -> Result<(), InvalidParameter> {
    if ok {
        Ok(())
    } else {
        Err(InvalidParameter {
            what,
            field,
            value,
            reason: reason.into(),
        })
    }
}

/// A problem with a study's parameters; `field` lets the experiment engine locate it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    /// The parameter concerned, when one is.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ParamError {
    /// An error about `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ParamError {
        ParamError {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParamError {}

impl From<InvalidParameter> for ParamError {
    fn from(e: InvalidParameter) -> Self {
        ParamError::field(e.field, e.to_string())
    }
}

/// A configuration defined with [`params!`](crate::params!).
pub trait Params: Sized + Serialize {
    /// What the configuration is called in messages ("quadratic study").
    const NAME: &'static str;

    /// Every parameter, in definition order.
    fn specs() -> Vec<ParamSpec>;

    /// Builds the configuration from a `[params]`-like table: unknown keys (with the nearest
    /// valid name), wrong types, values out of range and missing required parameters are all
    /// reported.
    ///
    /// # Errors
    /// Every problem found.
    fn from_table(table: &Table) -> Result<Self, Vec<ParamError>>;

    /// Checks every field against its range (for configurations built in code).
    ///
    /// # Errors
    /// The first field out of range.
    fn check(&self) -> Result<(), InvalidParameter>;

    /// The configuration as a table (every parameter, defaults included; unset optional
    /// parameters omitted).
    fn to_table(&self) -> Table {
        match Value::try_from(self) {
            Ok(Value::Table(t)) => t,
            _ => Table::new(),
        }
    }
}

/// A Rust type usable as a parameter: numbers, `bool`, `String`, `Option` of those, and unit
/// enums registered with [`choice!`](crate::choice!).
pub trait ParamKind: Serialize + DeserializeOwned {
    /// The type as a file sees it.
    fn param_type() -> ParamType;

    /// The value as a number, for the range check (`None` for non-numbers and unset options).
    fn number(&self) -> Option<f64> {
        None
    }
}

macro_rules! numeric {
    ($kind:ident: $($t:ty),+) => {$(
        impl ParamKind for $t {
            fn param_type() -> ParamType {
                ParamType::$kind
            }
            fn number(&self) -> Option<f64> {
                Some(*self as f64)
            }
        }
    )+};
}
numeric!(Float: f64, f32);
numeric!(Int: usize, u64, u32, u16, u8);

impl ParamKind for bool {
    fn param_type() -> ParamType {
        ParamType::Bool
    }
}

impl ParamKind for String {
    fn param_type() -> ParamType {
        ParamType::Text
    }
}

impl<T: ParamKind> ParamKind for Option<T> {
    fn param_type() -> ParamType {
        T::param_type()
    }
    fn number(&self) -> Option<f64> {
        self.as_ref().and_then(ParamKind::number)
    }
}

/// The serde names (aliases included) of a unit enum's variants, asked of serde itself: the
/// derived `Deserialize` hands them to `deserialize_enum`, which this probe captures.
pub fn variants<T: DeserializeOwned>() -> Vec<&'static str> {
    #[derive(Debug)]
    struct Found(Option<&'static [&'static str]>);
    impl fmt::Display for Found {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("variant probe")
        }
    }
    impl std::error::Error for Found {}
    impl serde::de::Error for Found {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Found(None)
        }
    }
    struct Probe;
    impl<'de> Deserializer<'de> for Probe {
        type Error = Found;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found(None))
        }
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Found> {
            Err(Found(Some(variants)))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct
            identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Found(Some(v))) => v.to_vec(),
        _ => Vec::new(),
    }
}

/// ` ; did you mean "x"?` when a candidate is close to `word` (Jaro-Winkler >= 0.8 or a
/// small edit distance), else an empty string.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    suggest(word, candidates)
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

/// The candidate nearest to `word`, if any is near enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            (
                c,
                strsim::jaro_winkler(word, c),
                strsim::levenshtein(word, c),
            )
        })
        .filter(|&(c, jw, lev)| jw >= 0.8 || lev <= (c.len().max(word.len()) / 3).max(1))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _, _)| c)
}

/// The name of a value's TOML type, for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    }
}

/// A value for run ids, tables and messages: strings bare, whole floats without `.0`.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Value::Float(f) => format!("{f}"),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(show_value).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// Reports every key of `table` that no spec names (used by [`params!`](crate::params!)).
#[doc(hidden)]
pub fn __unknown_keys(table: &Table, specs: &[ParamSpec], errors: &mut Vec<ParamError>) {
    for key in table.keys() {
        if !specs.iter().any(|s| s.name == key) {
            errors.push(ParamError::field(
                key.clone(),
                format!(
                    "unknown parameter `{key}`{}; valid: {}",
                    did_you_mean(key, specs.iter().map(|s| s.name)),
                    specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
}

/// Reads one field (used by [`params!`](crate::params!)): the table's value checked and
/// converted, or the default, or an error.
#[doc(hidden)]
pub fn __take<T: ParamKind>(
    table: &Table,
    specs: &[ParamSpec],
    name: &'static str,
    default: Option<T>,
    errors: &mut Vec<ParamError>,
) -> Option<T> {
    let spec = specs.iter().find(|s| s.name == name).expect("own spec");
    let Some(raw) = table.get(name) else {
        if default.is_none() {
            errors.push(ParamError::field(
                name,
                format!("missing required parameter `{name}` ({})", spec.doc),
            ));
        }
        return default;
    };
    let checked = spec
        .check_value(raw)
        .and_then(|v| T::deserialize(v).map_err(|e| format!("{name}: {}", e.message())));
    match checked {
        Ok(v) => Some(v),
        Err(m) => {
            errors.push(ParamError::field(name, m));
            None
        }
    }
}

/// Checks one field's range (used by [`params!`](crate::params!)).
#[doc(hidden)]
pub fn __check<T: ParamKind>(
    what: &'static str,
    specs: &[ParamSpec],
    name: &'static str,
    value: &T,
) -> Result<(), InvalidParameter> {
    let spec = specs.iter().find(|s| s.name == name).expect("own spec");
    match value.number() {
        Some(x) if !x.is_finite() => ensure(false, what, name, x, "must be finite"),
        Some(x) => ensure(
            spec.bounds.contains(x),
            what,
            name,
            x,
            spec.bounds.describe().unwrap_or_default(),
        ),
        None => Ok(()),
    }
}

/// Defines a study configuration once: the struct, its [`Params`] implementation (specs,
/// parsing with every error, range checks) — see the [module docs](mod@crate::params).
///
/// Each field is `/// doc`, `name: Type`, an optional `= default` (no default: required) and
/// optional `; bounds(min = .., max = .., gt = .., lt = ..)`. The header names the
/// configuration for messages: `pub struct QuadraticConfig as "quadratic study"`.
#[macro_export]
macro_rules! params {
    (
        $(#[$smeta:meta])*
        $svis:vis struct $Name:ident as $what:literal {
            $(
                $(#[doc = $doc:literal])*
                $fvis:vis $field:ident : $ty:ty $(= $default:expr)? $(; bounds($($bk:ident = $bv:expr),* $(,)?))?
            ),* $(,)?
        }
    ) => {
        $(#[$smeta])*
        $svis struct $Name {
            $( $(#[doc = $doc])* $fvis $field: $ty, )*
        }

        impl $crate::params::Params for $Name {
            const NAME: &'static str = $what;

            fn specs() -> ::std::vec::Vec<$crate::params::ParamSpec> {
                ::std::vec![$(
                    $crate::params::ParamSpec::new::<$ty>(
                        ::std::stringify!($field),
                        ::std::concat!($($doc, "\n"),*),
                        $crate::__param_default!($($default)?),
                        $crate::params::Bounds { $($($bk: ::std::option::Option::Some(($bv) as f64),)*)? ..$crate::params::Bounds::NONE },
                    )
                ),*]
            }

            fn from_table(
                table: &$crate::params::Table,
            ) -> ::std::result::Result<Self, ::std::vec::Vec<$crate::params::ParamError>> {
                let specs = Self::specs();
                let mut errors = ::std::vec::Vec::new();
                $crate::params::__unknown_keys(table, &specs, &mut errors);
                $(
                    let $field = $crate::params::__take::<$ty>(
                        table, &specs, ::std::stringify!($field),
                        $crate::__param_default!($($default)?), &mut errors,
                    );
                )*
                if !errors.is_empty() {
                    return ::std::result::Result::Err(errors);
                }
                ::std::result::Result::Ok($Name { $($field: $field.expect("checked above"),)* })
            }

            fn check(&self) -> ::std::result::Result<(), $crate::params::InvalidParameter> {
                let specs = Self::specs();
                $( $crate::params::__check($what, &specs, ::std::stringify!($field), &self.$field)?; )*
                ::std::result::Result::Ok(())
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __param_default {
    () => {
        ::std::option::Option::None
    };
    ($e:expr) => {
        ::std::option::Option::Some($e)
    };
}

/// Makes unit enums usable as parameters: their valid names come from serde (`rename_all`,
/// `rename` and `alias` respected). Invoke it in the crate that defines the enum.
#[macro_export]
macro_rules! choice {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::params::ParamKind for $t {
            fn param_type() -> $crate::params::ParamType {
                $crate::params::ParamType::Choice($crate::params::variants::<$t>())
            }
        }
    )+};
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    enum Rule {
        #[serde(alias = "gd")]
        Sgd,
        HeavyBall,
    }
    crate::choice!(Rule);

    crate::params! {
        /// A test configuration.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        struct Cfg as "test config" {
            /// Dimension.
            /// Second line.
            dim: usize = 4; bounds(min = 2),
            /// Required number.
            kappa: f64; bounds(min = 1, max = 1e6),
            /// Optional step.
            lr: Option<f64> = None; bounds(gt = 0),
            /// The rule.
            rule: Rule = Rule::Sgd,
            /// A flag.
            flag: bool = false,
        }
    }

    fn table(s: &str) -> Table {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn specs_carry_type_default_doc_and_range() {
        let specs = Cfg::specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
        assert_eq!(names, ["dim", "kappa", "lr", "rule", "flag"]);
        assert_eq!(specs[0].doc, "Dimension. Second line.");
        assert_eq!(specs[0].default.to_string(), "4");
        assert_eq!(specs[1].default, DefaultValue::Required);
        assert_eq!(specs[2].default, DefaultValue::Unset);
        assert_eq!(
            specs[3].ty,
            ParamType::Choice(vec!["gd", "sgd", "heavy-ball"])
        );
        assert_eq!(specs[3].default.to_string(), "sgd");
        assert_eq!(
            specs[1].bounds.describe().as_deref(),
            Some("must be in [1, 1000000]")
        );
        assert_eq!(specs[2].bounds.describe().as_deref(), Some("must be > 0"));
        assert_eq!(specs[4].bounds.describe(), None);
        let gd = Value::String("gd".into());
        assert_eq!(
            specs[3].canonical.of(&gd),
            Some(Value::String("sgd".into()))
        );
        assert_eq!(
            specs[1].canonical.of(&Value::Integer(3)),
            Some(Value::Float(3.0))
        );
        assert_eq!(specs[3].canonical.of(&Value::Integer(3)), None);
    }

    #[test]
    fn a_table_becomes_the_struct_with_defaults_and_aliases() {
        let c = Cfg::from_table(&table("kappa = 10\nrule = \"gd\"\nlr = 0.5")).unwrap();
        assert_eq!(
            c,
            Cfg {
                dim: 4,
                kappa: 10.0,
                lr: Some(0.5),
                rule: Rule::Sgd,
                flag: false
            }
        );
        assert_eq!(c.check(), Ok(()));
        let t = c.to_table();
        assert_eq!(t["kappa"], Value::Float(10.0));
        assert_eq!(t["rule"], Value::String("sgd".into()));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let errors = Cfg::from_table(&table(
            "dim = 1\nlr = -1.0\nrule = \"heavyball\"\nflg = true\nflag = 3",
        ))
        .unwrap_err();
        let got: Vec<(Option<&str>, &str)> = errors
            .iter()
            .map(|e| (e.field.as_deref(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Some("flg"),
                    "unknown parameter `flg`; did you mean `flag`?; valid: dim, kappa, lr, rule, flag"
                ),
                (Some("dim"), "dim = 1 is out of range: must be >= 2"),
                (
                    Some("kappa"),
                    "missing required parameter `kappa` (Required number.)"
                ),
                (Some("lr"), "lr = -1 is out of range: must be > 0"),
                (
                    Some("rule"),
                    "rule = \"heavyball\" is not one of: gd, sgd, heavy-ball; did you mean `heavy-ball`?"
                ),
                (Some("flag"), "flag must be true or false, got an integer"),
            ]
        );
    }

    #[test]
    fn non_finite_and_negative_numbers_are_refused() {
        let spec = &Cfg::specs()[1];
        assert_eq!(
            spec.check_value(&Value::Float(f64::INFINITY)).unwrap_err(),
            "kappa must be a finite number, got inf"
        );
        assert!(spec.check_value(&Value::Float(f64::NAN)).is_err());
        assert_eq!(
            Cfg::specs()[0]
                .check_value(&Value::Integer(-1))
                .unwrap_err(),
            "dim must be a non-negative integer, got -1"
        );
        let bad = Cfg {
            dim: 4,
            kappa: f64::NAN,
            lr: None,
            rule: Rule::HeavyBall,
            flag: true,
        };
        assert_eq!(
            bad.check().unwrap_err().to_string(),
            "test config: kappa = NaN is invalid: must be finite"
        );
        let bad = Cfg { kappa: 0.5, ..bad };
        assert_eq!(
            bad.check().unwrap_err().to_string(),
            "test config: kappa = 0.5 is invalid: must be in [1, 1000000]"
        );
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(
            suggest("clasifier", ["quadratic", "classifier"]),
            Some("classifier")
        );
        assert_eq!(suggest("kapa", ["kappa", "dim"]), Some("kappa"));
        assert_eq!(suggest("zebra", ["kappa", "dim"]), None);
    }
}
