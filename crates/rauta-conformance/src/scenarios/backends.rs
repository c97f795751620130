//! TODO

use crate::scenario::Scenario;

pub const ALL: &[Scenario] = &[];
