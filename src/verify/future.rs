//! The response future of [`VerifySigV4`](super::VerifySigV4).

boxed_response_future! {
    /// Response future of [`VerifySigV4`](super::VerifySigV4): reads the body,
    /// checks the signature, then calls the inner service (or answers the
    /// refusal). `E` is the inner service's error.
    ResponseFuture<B, E>, E
}
