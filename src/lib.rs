#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod canonical;
pub mod clock;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod headers;
pub mod rejection;
pub mod service_name;
pub mod sign;
mod signer;

#[cfg(feature = "verify")]
pub mod verify;

#[cfg(feature = "rmcp")]
pub mod rmcp;

pub use credentials::CredentialsCache;
pub use error::{BoxError, Error};
pub use headers::SignedHeaders;
pub use service_name::ServiceName;
pub use sign::{SigV4, SigV4Builder, SigV4Layer};
pub use signer::{MissingCredentials, Signature, Signer};
