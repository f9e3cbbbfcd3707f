//! Reading a study's output back from `data.json`.
//!
//! JSON has no NaN or infinity, and studies produce both (a gradient norm not taken, a loss
//! that diverged): `serde_json` writes them as `null`. Read back with plain `serde_json`, a
//! `null` where an `f64` is expected fails the whole output, and the run would vanish from
//! its report. [`from_value`] reads `null` as NaN wherever a float is asked for, and as
//! `None` wherever an option is, so every output that was written can be read.

use serde::de::value::{MapAccessDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, Visitor};
use serde_json::Value;

type Error = de::value::Error;

/// Deserialises `T` from JSON written by `serde_json`, reading `null` floats as NaN.
///
/// # Errors
/// The value does not have `T`'s shape.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    T::deserialize(Lenient(value))
}

/// A JSON value that reads `null` as NaN when a float is wanted.
struct Lenient(Value);

impl<'de> IntoDeserializer<'de, Error> for Lenient {
    type Deserializer = Lenient;
    fn into_deserializer(self) -> Lenient {
        self
    }
}

impl<'de> Deserializer<'de> for Lenient {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_string(s),
            Value::Array(a) => visitor.visit_seq(SeqDeserializer::new(a.into_iter().map(Lenient))),
            Value::Object(m) => visitor.visit_map(MapDeserializer::new(
                m.into_iter().map(|(k, v)| (k, Lenient(v))),
            )),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_f64(f64::NAN),
            other => Lenient(other).deserialize_any(visitor),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_f32(f32::NAN),
            other => Lenient(other).deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Lenient(other)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            // A unit variant is its name; any other variant a one-key object.
            Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            Value::Object(m) => visitor.visit_enum(MapAccessDeserializer::new(
                MapDeserializer::new(m.into_iter().map(|(k, v)| (k, Lenient(v)))),
            )),
            other => Err(de::Error::custom(format!("expected an enum, got {other}"))),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Kind {
        Plain,
        Scaled(f64),
        Pair { a: f64, b: Option<u64> },
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Out {
        x: f64,
        xs: Vec<f64>,
        pairs: Vec<(u64, f64)>,
        maybe: Option<f64>,
        none: Option<f64>,
        kinds: Vec<Kind>,
        n: usize,
        name: String,
    }

    #[test]
    fn non_finite_floats_survive_the_round_trip_as_nan() {
        let out = Out {
            x: f64::NAN,
            xs: vec![1.0, f64::INFINITY, -2.5],
            pairs: vec![(3, f64::NAN), (4, 0.5)],
            maybe: Some(2.0),
            none: None,
            kinds: vec![
                Kind::Plain,
                Kind::Scaled(f64::NAN),
                Kind::Pair { a: 1.0, b: None },
            ],
            n: 7,
            name: "run".into(),
        };
        let json = serde_json::to_value(&out).unwrap();
        assert!(
            serde_json::from_value::<Out>(json.clone()).is_err(),
            "plain serde_json fails"
        );
        let back: Out = super::from_value(json).unwrap();
        assert!(back.x.is_nan() && back.xs[1].is_nan() && back.pairs[0].1.is_nan());
        assert_eq!(
            (back.xs[0], back.xs[2], back.pairs[1]),
            (1.0, -2.5, (4, 0.5))
        );
        assert_eq!(
            (back.maybe, back.none, back.n, back.name.as_str()),
            (Some(2.0), None, 7, "run")
        );
        assert_eq!(back.kinds[0], Kind::Plain);
        assert!(matches!(back.kinds[1], Kind::Scaled(v) if v.is_nan()));
        assert_eq!(back.kinds[2], Kind::Pair { a: 1.0, b: None });
    }
}
