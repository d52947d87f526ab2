//! Jeton's server: the HTTP API of `docs/api.md` over [`jeton_store::Store`], background jobs on
//! the injected clock, the generated OpenAPI document, Prometheus metrics.

mod auth;
pub mod config;
mod emails;
mod error;
mod extract;
mod imports;
mod jobs;
mod keys;
mod mailer;
mod metrics;
mod openapi;
mod passwords;
mod routes;
mod serve;
mod state;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::ServeArgs;
pub use serve::run;
