//! Pure translation: Gateway API resources in, Rauta IR and resource statuses out.
//!
//! `translate(&Inputs) -> Translation` does no I/O and reads no clock: the same inputs always give
//! the same snapshot, statuses and problems, which is what the golden tests pin down.

mod inputs;

pub use inputs::{Inputs, Source, Sourced};
