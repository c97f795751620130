//! Serialisers for the `/config` JSON view of types that have no serde impl of their own.

use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::Serializer;
use serde::ser::SerializeSeq;

pub(crate) fn duration_ms<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        None => s.serialize_none(),
    }
}

pub(crate) fn header_pairs<S: Serializer>(pairs: &[(HeaderName, HeaderValue)], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(pairs.len()))?;
    for (name, value) in pairs {
        seq.serialize_element(&(name.as_str(), String::from_utf8_lossy(value.as_bytes())))?;
    }
    seq.end()
}

pub(crate) fn header_names<S: Serializer>(names: &[HeaderName], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(names.len()))?;
    for name in names {
        seq.serialize_element(name.as_str())?;
    }
    seq.end()
}
