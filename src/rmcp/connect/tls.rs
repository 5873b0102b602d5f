//! The rustls client configuration: an explicit crypto provider and the roots to
//! trust.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::Error;

/// A PEM bundle of CA certificates to trust besides the OS's, and where its path
/// came from (a variable's name, or the builder), for error messages.
#[derive(Clone, Debug)]
pub(super) struct CaBundle {
    pub(super) path: std::path::PathBuf,
    pub(super) origin: &'static str,
}

/// A client configuration with aws-lc-rs as its crypto provider, chosen here
/// rather than taken from the process default: the process may have none
/// installed, or two features of other crates may each enable one, and then
/// rustls cannot pick and `ClientConfig::builder()` panics.
pub(super) fn client_config(bundle: Option<&CaBundle>) -> Result<ClientConfig, Error> {
    let mut roots = os_roots();
    if roots.is_empty() {
        tracing::debug!("no CA certificates in the OS trust store; trusting Mozilla's roots");
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(bundle) = bundle {
        for certificate in read_bundle(bundle)? {
            roots.add(certificate).map_err(|e| {
                Error::Config(format!(
                    "{} names `{}`, which holds a certificate rustls cannot use as a root ({e}); give a PEM file of CA certificates",
                    bundle.origin,
                    bundle.path.display()
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// The OS trust store (rustls-native-certs; it reads `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` instead when they are set, as OpenSSL does).
fn os_roots() -> RootCertStore {
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "reading the OS trust store");
    }
    let mut roots = RootCertStore::empty();
    let (_added, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 {
        tracing::debug!(
            ignored,
            "certificates of the OS trust store rustls cannot use"
        );
    }
    roots
}

/// The certificates of a PEM bundle; a clear error when it cannot be read or
/// holds none.
fn read_bundle(bundle: &CaBundle) -> Result<Vec<CertificateDer<'static>>, Error> {
    let failed = |what: &dyn std::fmt::Display| {
        Error::Config(format!(
            "{} names `{}`, {what}; point it at a PEM file of CA certificates, or unset it",
            bundle.origin,
            bundle.path.display()
        ))
    };
    let bytes = std::fs::read(&bundle.path)
        .map_err(|e| failed(&format_args!("which cannot be read ({e})")))?;
    let certificates = certificates_in(&bytes)
        .map_err(|e| failed(&format_args!("which is not a PEM bundle ({e})")))?;
    if certificates.is_empty() {
        return Err(failed(&"which holds no PEM certificate"));
    }
    Ok(certificates)
}

fn certificates_in(
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, rustls::pki_types::pem::Error> {
    CertificateDer::pem_slice_iter(pem).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_needs_no_process_default_provider() {
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        let config = client_config(None).unwrap();
        assert!(config.crypto_provider().cipher_suites.len() > 1);
    }
}
