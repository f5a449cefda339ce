//! `provider-azure`: the Azure Key Vault provider behind the Secrets Store CSI provider contract
//! (`v1alpha1.CSIDriverProvider`).
//!
//! ```text
//!  manager ──mTLS over unix socket──▶ service ──▶ mount ──▶ params (validate, no I/O)
//!                                                   │
//!                                                   ├──▶ keyvault (SDK clients, coalescing, limits) ──▶ Key Vault
//!                                                   │        └── auth (Entra credentials per identity) ──▶ Entra ID
//!                                                   └──▶ content (PEM/PFX/JWK transformations, pure)
//! ```
//!
//! The behaviour is that of Microsoft's provider (docs/PROVIDER.md#the-azure-provider) with the fixes listed
//! in docs/COMPATIBILITY.md#upstream-defects-and-what-sse-rs-does-instead; [`server`] wires the process
//! together.

pub mod args;
pub mod auth;
pub mod changes;
pub mod cloud;
pub mod content;
pub mod json;
pub mod keyvault;
pub mod metrics;
pub mod mount;
pub mod params;
pub mod server;
pub mod service;

pub use args::Args;
pub use server::{Running, run, start};
