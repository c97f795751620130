//! Gateway API route matching semantics, kept pure and small.
//!
//! A [`RouteMatch`] is one entry of an HTTPRoute rule's `matches[]` list (or of a GRPCRoute's, once
//! converted). [`RouteMatch::precedence`] summarises it as a [`Precedence`] key whose `Ord` is the
//! spec's precedence order, so ordering routes is a sort, not a pile of ifs.

mod hostname;
mod matcher;
mod path;
mod precedence;

pub use hostname::{HostnameMatch, InvalidHostname};
pub use matcher::{HeaderMatch, Pattern, QueryParamMatch, RequestParts, RouteMatch, ValueMatch};
pub use path::{NormalizedPrefix, PathMatch, path_prefix_matches, replace_prefix};
pub use precedence::Precedence;
