//! The OCI distribution API, as far as pulling needs it.

mod auth;
mod client;

pub use auth::{base64_decode, base64_encode, Challenge, Credentials};
pub use client::{Client, RegistryConfig};
