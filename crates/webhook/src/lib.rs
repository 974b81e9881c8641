//! The admission webhook behind `sigward serve`.
//!
//! Data flow of one request: HTTPS body -> [`review::AdmissionReview::parse`] (anything else
//! is answered with a clear error, never a crash) -> [`images::images`] (every image the
//! object would run; on UPDATE only the new ones) -> the engine's
//! [`Enforcer`](sigward_engine::Enforcer) per distinct image, concurrently, within the time
//! budget -> [`decide::decide`] turns verdicts into one `AdmissionResponse`: allowed, denied
//! (403, naming the object, container, image, policy and the most specific failure), warnings
//! for `warn` policies, audit annotations, and on `/mutate` a JSONPatch pinning verified tags
//! to their digests and recording the signers in an annotation.

pub mod credentials;
pub mod decide;
pub mod images;
mod log;
pub mod metrics;
pub mod review;
pub mod server;
pub mod sources;

pub use decide::{decide, Endpoint, VERIFIED_ANNOTATION};
pub use server::{compile_paths, compile_sources, serve, ServeConfig, ServeError};
