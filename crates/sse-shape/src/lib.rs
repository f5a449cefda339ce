//! Shaping (docs/API.md#shaping): what turns the files a provider mounted into the keys of the Secret the
//! application reads. Pure and synchronous: no I/O, no clock, no randomness, every render bounded in steps and
//! bytes, and no error text carries a value.

pub mod cache;
pub mod extract;
pub mod format;
mod funcs;
mod json;
pub mod limits;
pub mod path;
pub mod pem;
pub mod plan;
pub mod template;

pub use limits::Budget;
pub use template::{Inputs, Template, TemplateError};

/// The root `.` of a template: each value's name and its bytes.
pub type Values = std::collections::BTreeMap<String, Vec<u8>>;

/// The names of every function a template may call.
pub fn function_names() -> Vec<&'static str> {
    funcs::names()
}
