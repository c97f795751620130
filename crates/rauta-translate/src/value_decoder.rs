//! Decodes a resource from its YAML value in one pass, naming the field an error is about and every
//! field the resource's type does not know.
//!
//! Written by hand rather than stacking `serde_ignored` (unknown fields) and `serde_path_to_error`
//! (error paths) over `serde_yaml::Value`, which is what the crates offer: each layer wraps the
//! deserializer and every visitor, so the `Deserialize` code of every generated Gateway API and
//! Kubernetes type was compiled once more for the stacked types. The two layers were 1.7 MB of the
//! binary's 11.7 MB of code and 1.6 MB of its idle RSS (`--release`; docs/benchmarks.md, "Idle
//! RSS"). This decoder is one layer, and its rules for each YAML shape are `serde_yaml::Value`'s
//! own: a null reads as an empty sequence or mapping, tags are looked through except by enums,
//! enums are a string (unit variant) or a tagged value.

use std::fmt;

use serde::Serialize;
use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};
use serde_yaml::{Mapping, Number, Value};

/// Where in the document the decoder is: `spec.rules[0].matches` when displayed.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(parent, key) => {
                parent.fmt(f)?;
                if !matches!(parent, Path::Root) {
                    f.write_str(".")?;
                }
                f.write_str(key)
            }
            Path::Index(parent, index) => {
                parent.fmt(f)?;
                write!(f, "[{index}]")
            }
        }
    }
}

/// Why a value does not decode, and the field it is about (`None` until the error has left the
/// value it was raised for).
#[derive(Debug)]
pub(crate) struct DecodeError {
    field: Option<String>,
    message: String,
}

impl DecodeError {
    /// The path of the offending field (`""` for the resource itself) and what is wrong with it.
    pub(crate) fn into_parts(self) -> (String, String) {
        (self.field.unwrap_or_default(), self.message)
    }

    fn at(mut self, path: &Path<'_>) -> Self {
        if self.field.is_none() {
            self.field = Some(path.to_string());
        }
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) if !field.is_empty() => write!(f, "{field}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self {
            field: None,
            message: message.to_string(),
        }
    }
}

/// Decodes `value` as a `T`, appending the path of every field `T` ignores to `unknown`.
pub(crate) fn decode<T: DeserializeOwned>(value: Value, unknown: &mut Vec<String>) -> Result<T, DecodeError> {
    let root = Path::Root;
    T::deserialize(Decoder {
        value,
        path: &root,
        unknown,
    })
    .map_err(|e| e.at(&root))
}

/// Reads a value of one generated type as another of the same shape, through its YAML value: the
/// Gateway API generates a Rust type per resource for schemas they share (a ListenerSet's listener
/// is a Gateway's, a TLSRoute rule's `backendRefs` an HTTPRoute rule's). Fields `B` lacks are
/// dropped. Going through this decoder reuses the `Deserialize` code the resources were read with.
pub(crate) fn reshape<A: Serialize + ?Sized, B: DeserializeOwned>(a: &A) -> Result<B, DecodeError> {
    decode(to_value(a)?, &mut Vec::new())
}

/// `a` as a YAML value.
pub(crate) fn to_value<A: Serialize + ?Sized>(a: &A) -> Result<Value, DecodeError> {
    serde_yaml::to_value(a).map_err(de::Error::custom)
}

/// A value at a path of the document.
struct Decoder<'a> {
    value: Value,
    path: &'a Path<'a>,
    unknown: &'a mut Vec<String>,
}

impl Decoder<'_> {
    fn invalid_type(&self, expected: &dyn de::Expected) -> DecodeError {
        de::Error::invalid_type(unexpected(&self.value), expected)
    }

    /// The value without its YAML tags (`!tag value` reads as `value` for everything but enums).
    fn untag(mut self) -> Self {
        while let Value::Tagged(tagged) = self.value {
            self.value = tagged.value;
        }
        self
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Unexpected::Unsigned(u),
            (None, Some(i), _) => Unexpected::Signed(i),
            (None, None, f) => Unexpected::Float(f.unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Sequence(_) => Unexpected::Seq,
        Value::Mapping(_) => Unexpected::Map,
        Value::Tagged(_) => Unexpected::Enum,
    }
}

fn visit_number<'de, V: Visitor<'de>>(n: &Number, visitor: V) -> Result<V::Value, DecodeError> {
    if let Some(u) = n.as_u64() {
        visitor.visit_u64(u)
    } else if let Some(i) = n.as_i64() {
        visitor.visit_i64(i)
    } else {
        visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
    }
}

impl<'de> de::Deserializer<'de> for Decoder<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let Decoder { value, path, unknown } = self;
        match value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => visit_number(&n, visitor),
            Value::String(s) => visitor.visit_string(s),
            Value::Sequence(items) => visit_sequence(items, path, unknown, visitor),
            Value::Mapping(entries) => visit_mapping(entries, path, unknown, visitor),
            Value::Tagged(tagged) => visitor.visit_enum(Variant {
                name: tagged.tag.to_string().trim_start_matches('!').to_owned(),
                value: Some(tagged.value),
                path,
                unknown,
            }),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let this = self.untag();
        match this.value {
            Value::Bool(b) => visitor.visit_bool(b),
            _ => Err(this.invalid_type(&visitor)),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let this = self.untag();
        match &this.value {
            Value::Number(n) => visit_number(n, visitor),
            _ => Err(this.invalid_type(&visitor)),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let this = self.untag();
        match this.value {
            Value::String(s) => visitor.visit_string(s),
            _ => Err(this.invalid_type(&visitor)),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let this = self.untag();
        match this.value {
            Value::String(s) => visitor.visit_string(s),
            Value::Sequence(items) => visit_sequence(items, this.path, this.unknown, visitor),
            _ => Err(this.invalid_type(&visitor)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let this = self.untag();
        match this.value {
            Value::Sequence(items) => visit_sequence(items, this.path, this.unknown, visitor),
            Value::Null => visit_sequence(Vec::new(), this.path, this.unknown, visitor),
            _ => Err(this.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let this = self.untag();
        match this.value {
            Value::Mapping(entries) => visit_mapping(entries, this.path, this.unknown, visitor),
            Value::Null => visit_mapping(Mapping::new(), this.path, this.unknown, visitor),
            _ => Err(this.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let Decoder { value, path, unknown } = self;
        let (name, value) = match value {
            Value::String(name) => (name, None),
            Value::Tagged(tagged) => (
                tagged.tag.to_string().trim_start_matches('!').to_owned(),
                Some(tagged.value),
            ),
            other => {
                return Err(de::Error::invalid_type(
                    unexpected(&other),
                    &"a string naming the variant",
                ));
            }
        };
        visitor.visit_enum(Variant {
            name,
            value,
            path,
            unknown,
        })
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_string(visitor)
    }

    /// A field the type reads nothing from: the type does not know it.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.unknown.push(self.path.to_string());
        visitor.visit_unit()
    }
}

fn visit_sequence<'de, V: Visitor<'de>>(
    items: Vec<Value>,
    path: &Path<'_>,
    unknown: &mut Vec<String>,
    visitor: V,
) -> Result<V::Value, DecodeError> {
    let len = items.len();
    let mut seq = Items {
        items: items.into_iter(),
        next: 0,
        path,
        unknown,
    };
    let value = visitor.visit_seq(&mut seq)?;
    if seq.items.len() == 0 {
        Ok(value)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in sequence"))
    }
}

fn visit_mapping<'de, V: Visitor<'de>>(
    entries: Mapping,
    path: &Path<'_>,
    unknown: &mut Vec<String>,
    visitor: V,
) -> Result<V::Value, DecodeError> {
    let len = entries.len();
    let mut map = Entries {
        entries: entries.into_iter(),
        key: String::new(),
        value: None,
        path,
        unknown,
    };
    let value = visitor.visit_map(&mut map)?;
    if map.entries.len() == 0 {
        Ok(value)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in map"))
    }
}

/// The elements of a sequence, each at `path[index]`.
struct Items<'a> {
    items: std::vec::IntoIter<Value>,
    next: usize,
    path: &'a Path<'a>,
    unknown: &'a mut Vec<String>,
}

impl<'de> de::SeqAccess<'de> for Items<'_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        let Some(value) = self.items.next() else {
            return Ok(None);
        };
        let path = Path::Index(self.path, self.next);
        self.next += 1;
        seed.deserialize(Decoder {
            value,
            path: &path,
            unknown: self.unknown,
        })
        .map(Some)
        .map_err(|e| e.at(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The entries of a mapping, each value at `path.key`.
struct Entries<'a> {
    entries: serde_yaml::mapping::IntoIter,
    /// The key of the entry whose value comes next, as the path shows it.
    key: String,
    value: Option<Value>,
    path: &'a Path<'a>,
    unknown: &'a mut Vec<String>,
}

/// A mapping key as a path shows it.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => "null".to_owned(),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => "?".to_owned(),
    }
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.key = key_text(&key);
        self.value = Some(value);
        let path = Path::Key(self.path, &self.key);
        seed.deserialize(Decoder {
            value: key,
            path: &path,
            unknown: self.unknown,
        })
        .map(Some)
        .map_err(|e| e.at(&path))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DecodeError> {
        let path = Path::Key(self.path, &self.key);
        let value = self
            .value
            .take()
            .ok_or_else(|| <DecodeError as de::Error>::custom("a mapping value was read before its key").at(&path))?;
        seed.deserialize(Decoder {
            value,
            path: &path,
            unknown: self.unknown,
        })
        .map_err(|e| e.at(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// An enum's variant: its name, and its value if it has one (a tagged value `!Variant value`).
struct Variant<'a> {
    name: String,
    value: Option<Value>,
    path: &'a Path<'a>,
    unknown: &'a mut Vec<String>,
}

impl<'de, 'a> de::EnumAccess<'de> for Variant<'a> {
    type Error = DecodeError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(mut self, seed: S) -> Result<(S::Value, Self), DecodeError> {
        let name: StringDeserializer<DecodeError> = std::mem::take(&mut self.name).into_deserializer();
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'a> Variant<'a> {
    fn content(self, expected: &str) -> Result<Decoder<'a>, DecodeError> {
        match self.value {
            Some(value) => Ok(Decoder {
                value,
                path: self.path,
                unknown: self.unknown,
            }),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &expected)),
        }
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_> {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        match self.value {
            None | Some(Value::Null) => Ok(()),
            Some(other) => Err(de::Error::invalid_type(unexpected(&other), &"a unit variant")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DecodeError> {
        seed.deserialize(self.content("a newtype variant")?)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_seq(self.content("a tuple variant")?, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_map(self.content("a struct variant")?, visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Resource {
        spec: Spec,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", default)]
    struct Spec {
        rules: Vec<Rule>,
        labels: BTreeMap<String, String>,
        mode: Option<Mode>,
        weight: Option<i32>,
        ratio: Option<f64>,
        enabled: Option<bool>,
        port: Option<IntOrName>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Rule {
        name: String,
        #[serde(default)]
        matches: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Mode {
        Terminate,
        Passthrough,
        Weighted(u32),
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(untagged)]
    enum IntOrName {
        Int(i32),
        Name(String),
    }

    fn run<T: DeserializeOwned>(yaml: &str) -> (Result<T, (String, String)>, Vec<String>) {
        let value: Value = serde_yaml::from_str(yaml).unwrap();
        let mut unknown = Vec::new();
        let result = decode(value, &mut unknown).map_err(DecodeError::into_parts);
        (result, unknown)
    }

    #[test]
    fn decodes_what_serde_yaml_decodes() {
        let yaml = r#"
spec:
  rules:
  - name: a
    matches: [x, "y"]
  - name: b
  labels: {app.kubernetes.io/name: web, "8080": port}
  mode: Terminate
  weight: -3
  ratio: 0.5
  enabled: true
  port: http
"#;
        let (decoded, unknown) = run::<Resource>(yaml);
        let expected: Resource = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(decoded.unwrap(), expected);
        assert!(unknown.is_empty(), "{unknown:?}");
        let (decoded, _) = run::<Resource>("spec: {port: 8080, mode: !Weighted 3}");
        let spec = decoded.unwrap().spec;
        assert_eq!(spec.port, Some(IntOrName::Int(8080)));
        assert_eq!(spec.mode, Some(Mode::Weighted(3)));
    }

    #[test]
    fn null_reads_as_empty_and_none() {
        let (decoded, _) = run::<Resource>("spec:\n  rules:\n  labels:\n  mode:\n");
        assert_eq!(decoded.unwrap().spec, Spec::default());
        let (decoded, _) = run::<Resource>("spec:");
        assert_eq!(decoded.unwrap().spec, Spec::default());
    }

    #[test]
    fn unknown_fields_are_named_by_path() {
        let yaml = "spec:\n  rules:\n  - name: a\n    matchs: [x]\n  - {name: b, extra: {deep: 1}}\n  moed: Terminate\nstatus: {}\n";
        let (decoded, unknown) = run::<Resource>(yaml);
        assert!(decoded.is_ok());
        assert_eq!(
            unknown,
            ["spec.rules[0].matchs", "spec.rules[1].extra", "spec.moed", "status"]
        );
    }

    #[test]
    fn errors_name_the_offending_field() {
        let cases = [
            (
                "spec: {rules: [{name: a}, {name: [1]}]}",
                "spec.rules[1].name",
                "invalid type: sequence",
            ),
            (
                "spec: {rules: [{name: a}, {}]}",
                "spec.rules[1]",
                "missing field `name`",
            ),
            (
                "spec: {weight: many}",
                "spec.weight",
                "invalid type: string \"many\", expected i32",
            ),
            (
                "spec: {weight: 4294967296}",
                "spec.weight",
                "invalid value: integer `4294967296`",
            ),
            ("spec: {mode: Mirror}", "spec.mode", "unknown variant `Mirror`"),
            ("spec: {mode: {Terminate: 1}}", "spec.mode", "invalid type: map"),
            (
                "spec: {enabled: yes}",
                "spec.enabled",
                "invalid type: string \"yes\", expected a boolean",
            ),
            (
                "spec: {labels: {a: 1}}",
                "spec.labels.a",
                "invalid type: integer `1`, expected a string",
            ),
            (
                "spec: {rules: {name: a}}",
                "spec.rules",
                "invalid type: map, expected a sequence",
            ),
            ("spec: {port: [1]}", "spec.port", "did not match any variant"),
            ("{}", "", "missing field `spec`"),
            ("spec: 3", "spec", "invalid type: integer `3`"),
        ];
        for (yaml, field, message) in cases {
            let (decoded, _) = run::<Resource>(yaml);
            let (got_field, got_message) = decoded.unwrap_err();
            assert_eq!(got_field, field, "{yaml}: {got_message}");
            assert!(got_message.contains(message), "{yaml}: {got_message}");
        }
    }

    #[test]
    fn tags_are_looked_through_except_by_enums() {
        let (decoded, _) = run::<Resource>("spec: {rules: [{name: !custom a}], weight: !num 2}");
        let spec = decoded.unwrap().spec;
        assert_eq!(spec.rules[0].name, "a");
        assert_eq!(spec.weight, Some(2));
        let (decoded, _) = run::<Resource>("spec:\n  mode: !Passthrough\n");
        assert_eq!(decoded.unwrap().spec.mode, Some(Mode::Passthrough));
    }
}
