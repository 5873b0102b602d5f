//! The response future of [`Recover`](super::Recover).

use crate::error::BoxError;

boxed_response_future! {
    /// Response future of [`Recover`](super::Recover): the first attempt, the
    /// classification of a 401 or 403, and the one retry where it can help.
    ResponseFuture<B>, BoxError
}
