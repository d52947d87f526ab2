//! Jeton's server: the HTTP API of `docs/api.md` over [`jeton_store::Store`], background jobs on
//! the injected clock, the generated OpenAPI document, Prometheus metrics, and the web console.

mod auth;
pub mod config;
mod console;
mod emails;
mod error;
mod extract;
mod imports;
mod jobs;
mod keys;
mod mailer;
mod metrics;
mod openapi;
mod password_links;
mod passwords;
mod routes;
mod serve;
mod sign_in;
mod state;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::ServeArgs;
pub use serve::run;
