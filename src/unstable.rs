//! Items the `mcp-sigv4` application uses that are not part of the library's
//! API: **outside semver**, they may change or go in any release, a patch
//! release included. Feature `unstable`, which only `mcp-sigv4` should enable.
//!
//! Each is here rather than public in its own module because a library user
//! has no need for it: the signing layer and the transports already check and
//! redact URLs, parse and format `x-amz-date`, and print error chains where they
//! report errors. Ask for one to become public (with a use case) if you need it.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use http::request;

use crate::{Error, Signature, Signer};

pub use crate::clock::amz_date::{format_amz_date, parse_amz_date};
pub use crate::endpoint::url::{check_url, is_loopback, redact_query};
pub use crate::error_chain::ErrorChain;

#[cfg(feature = "verify")]
pub use crate::canonical::{CanonicalError, CredentialScope, ParsedAuthorization};
#[cfg(feature = "verify")]
pub use crate::verify::explain::{Explanation, PathHandling, explain, explain_with};

/// Sign `parts` with `signer`'s region, service and settings, but with these
/// credentials, at this time, over a body whose hex SHA-256 is
/// `payload_sha256_hex`. Pure and synchronous; it sends nothing, so it signs
/// plain `http://` URIs to any host (the `sign` command prints the result).
pub fn sign_with(
    signer: &Signer,
    parts: &mut request::Parts,
    payload_sha256_hex: &str,
    credentials: &Credentials,
    time: SystemTime,
) -> Result<Signature, Error> {
    signer.sign_with(parts, payload_sha256_hex, credentials, time)
}
