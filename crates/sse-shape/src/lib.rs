//! Shaping (docs/API.md#shaping): what turns the files a provider mounted into the keys of the Secret the
//! application reads. Pure and synchronous: no I/O, no clock, no randomness, every render bounded in steps and
//! bytes, and no error text carries a value.

pub mod extract;
pub mod format;
mod json;
pub mod path;
