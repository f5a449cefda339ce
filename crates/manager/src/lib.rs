//! `manager`: the SecretSync controller (being written).
pub mod args;
pub mod hash;
pub mod mapping;
