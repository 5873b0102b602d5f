use tower_layer::Layer;

use crate::Signer;
use crate::{SigV4, SigV4Builder};

/// Applies [`SigV4`] signing to a service. Build one with [`SigV4Layer::builder`]
/// or [`SigV4Layer::for_endpoint`].
#[derive(Clone, Debug)]
pub struct SigV4Layer {
    signer: Signer,
}

impl SigV4Layer {
    /// Configure a layer from scratch. Without an endpoint there is nothing to
    /// infer from, so the service is `bedrock-agentcore` unless
    /// [`service`](SigV4Builder::service) sets another (while
    /// [`for_endpoint`](Self::for_endpoint) refuses a host it does not know: see
    /// "Which service is signed for" in the crate docs).
    pub fn builder() -> SigV4Builder {
        SigV4Builder::default()
    }

    /// Configure a layer for `url`, with service and region inferred from its host
    /// (see [`endpoint::infer`](crate::endpoint::infer)). Either can still be set
    /// on the builder; [`build`](SigV4Builder::build) fails when neither was
    /// inferred nor set.
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// use tower_sigv4::SigV4Layer;
    ///
    /// let layer = SigV4Layer::for_endpoint("https://aws-mcp.us-east-1.api.aws/mcp")
    ///     .credentials(Credentials::new("AKID", "SECRET", None, None, "example"))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.signer().service().as_str(), "aws-mcp");
    /// assert_eq!(layer.signer().region(), "us-east-1");
    /// ```
    pub fn for_endpoint(url: &str) -> SigV4Builder {
        SigV4Builder::default().endpoint(url)
    }

    /// A layer around an existing [`Signer`].
    pub fn from_signer(signer: Signer) -> Self {
        Self { signer }
    }

    /// The signer this layer's services use.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }
}

impl<S> Layer<S> for SigV4Layer {
    type Service = SigV4<S>;

    fn layer(&self, inner: S) -> SigV4<S> {
        SigV4::new(inner, self.signer.clone())
    }
}
