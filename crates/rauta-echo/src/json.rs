//! JSON bytes shaped like Go's `encoding/json`: `MarshalIndent(v, "", " ")` or `Marshal(v)`,
//! with Go's HTML-safe escaping of `<`, `>`, `&`, U+2028 and U+2029.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

/// Serialises like Go's `json.MarshalIndent(v, "", " ")`.
pub(crate) fn to_go_indented<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    write(value, GoFormatter(PrettyFormatter::with_indent(b" ")))
}

/// Serialises like Go's `json.Marshal(v)`.
pub(crate) fn to_go_compact<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    write(value, GoFormatter(CompactFormatter))
}

fn write<T: Serialize, F: Formatter>(value: &T, formatter: F) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

/// Delegates layout to the inner formatter and adds Go's extra string escapes.
struct GoFormatter<F>(F);

impl<F: Formatter> Formatter for GoFormatter<F> {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn indents_with_one_space_like_go() {
        #[derive(Serialize)]
        struct Answer {
            path: &'static str,
            headers: BTreeMap<&'static str, Vec<&'static str>>,
            empty: BTreeMap<&'static str, u8>,
        }
        let answer = Answer {
            path: "/a?b=<c>&d",
            headers: BTreeMap::from([("X-A", vec!["1", "2"])]),
            empty: BTreeMap::new(),
        };
        let text = String::from_utf8(to_go_indented(&answer).unwrap()).unwrap();
        let want = "{\n \"path\": \"/a?b=\\u003cc\\u003e\\u0026d\",\n \"headers\": {\n  \"X-A\": [\n   \"1\",\n   \"2\"\n  ]\n },\n \"empty\": {}\n}";
        assert_eq!(text, want);
    }

    #[test]
    fn compact_keeps_go_escapes() {
        let text = String::from_utf8(to_go_compact(&["a\u{2028}\n\"<"]).unwrap()).unwrap();
        assert_eq!(text, r#"["a\u2028\n\"\u003c"]"#);
    }
}
