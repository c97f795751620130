//! Header modifiers: names validated and unique, values validated.

use http::{HeaderName, HeaderValue};
use rauta_ir::HeaderModifier;

use crate::route::matches::Invalid;

/// Header names must be valid and unique within `set` and within `add`; values must be valid.
pub(super) fn header_modifier<'v>(
    set: impl Iterator<Item = (&'v str, &'v str)>,
    add: impl Iterator<Item = (&'v str, &'v str)>,
    remove: Option<&[String]>,
    field: &str,
) -> Result<HeaderModifier, Invalid> {
    let set = header_pairs(set, &format!("{field}.set"))?;
    let add = header_pairs(add, &format!("{field}.add"))?;
    let mut names = Vec::new();
    for (i, name) in remove.unwrap_or_default().iter().enumerate() {
        let name = header_name(name, &format!("{field}.remove[{i}]"))?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(HeaderModifier {
        set,
        add,
        remove: names,
    })
}

fn header_pairs<'v>(
    items: impl Iterator<Item = (&'v str, &'v str)>,
    field: &str,
) -> Result<Vec<(HeaderName, HeaderValue)>, Invalid> {
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for (i, (name, value)) in items.enumerate() {
        let at = format!("{field}[{i}]");
        let name = header_name(name, &format!("{at}.name"))?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(Invalid::new(
                format!("{at}.name"),
                format!("header {name} is listed twice"),
            ));
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| Invalid::new(format!("{at}.value"), format!("{value:?} is not a valid header value")))?;
        out.push((name, value));
    }
    Ok(out)
}

pub(super) fn header_name(name: &str, field: &str) -> Result<HeaderName, Invalid> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Invalid::new(field, format!("{name:?} is not a valid header name")))
}
