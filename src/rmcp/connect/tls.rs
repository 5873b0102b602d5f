//! The rustls client configuration: an explicit crypto provider and the roots to
//! trust.

use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::Error;
use crate::error::{ConfigErrorKind, config};

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
///
/// The bundle is read and checked now, so a bad one is an error when the client
/// is built; the OS trust store is read at the first TLS handshake
/// ([`LazyRoots`]).
pub(super) fn client_config(bundle: Option<&CaBundle>) -> Result<ClientConfig, Error> {
    let mut extra = RootCertStore::empty();
    if let Some(bundle) = bundle {
        for certificate in read_bundle(bundle)? {
            extra.add(certificate).map_err(|e| {
                config(
                    ConfigErrorKind::CaBundle,
                    format!(
                        "{} names `{}`, which holds a certificate rustls cannot use as a root ({e}); give a PEM file of CA certificates",
                        bundle.origin,
                        bundle.path.display()
                    ),
                )
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(LazyRoots::new(extra, provider.clone()));
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config(ConfigErrorKind::Tls, format!("TLS configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

/// rustls's WebPKI verifier over the OS trust store (or Mozilla's roots when
/// it is empty) and the bundle, built at the first handshake. Reading the OS
/// store is most of a proxy's start-up (hundreds of files on Debian), and a
/// client of a plain-HTTP endpoint, such as a loopback stand-in, never needs it.
/// Verification itself is rustls's own, unchanged.
#[derive(Debug)]
struct LazyRoots {
    /// The bundle's certificates, checked when the client was built.
    extra: RootCertStore,
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl LazyRoots {
    fn new(extra: RootCertStore, provider: Arc<CryptoProvider>) -> Self {
        Self {
            extra,
            provider,
            verifier: OnceLock::new(),
        }
    }

    fn verifier(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        self.verifier
            .get_or_init(|| {
                let mut roots = os_roots();
                if roots.is_empty() {
                    tracing::debug!(
                        "no CA certificates in the OS trust store; trusting Mozilla's roots"
                    );
                    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                }
                roots.roots.extend(self.extra.roots.iter().cloned());
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                    .build()
                    .map_err(|e| format!("no usable CA certificates: {e}"))
            })
            .as_ref()
            .map_err(|e| rustls::Error::General(e.clone()))
    }
}

impl ServerCertVerifier for LazyRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
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
        config(
            ConfigErrorKind::CaBundle,
            format!(
                "{} names `{}`, {what}; point it at a PEM file of CA certificates, or unset it",
                bundle.origin,
                bundle.path.display()
            ),
        )
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

    #[test]
    fn the_os_store_is_read_at_the_first_handshake_not_before() {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = LazyRoots::new(RootCertStore::empty(), provider);
        assert!(roots.verifier.get().is_none());
        // Signature checks need no roots.
        assert!(!roots.supported_verify_schemes().is_empty());
        assert!(roots.verifier.get().is_none());
        let refused = roots.verify_server_cert(
            &CertificateDer::from(vec![0x30, 0x00]),
            &[],
            &ServerName::try_from("example.com").unwrap(),
            &[],
            UnixTime::now(),
        );
        assert!(refused.is_err());
        assert!(roots.verifier.get().is_some());
    }
}
