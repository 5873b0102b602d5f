//! Bounded reading of HTTP bodies, shared by the signer, the verifier, the reqwest
//! middleware and the rmcp client.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::Body;
use http_body_util::BodyExt;

use crate::Error;
use crate::error::BoxError;

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum CollectError {
    /// Over the limit: by its declared length or size hint before any byte was
    /// read (`declared`), or as it arrived (`None`).
    TooLarge { declared: Option<u64> },
    /// The body's length differs from its `Content-Length`.
    LengthMismatch { declared: u64, actual: u64 },
    /// A frame could not be read.
    Read(BoxError),
}

/// The `Content-Length` a message declares, if it is a number.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Collect `body` into one `Bytes`, refusing it before reading when its declared
/// length (or size hint) is over `limit`, and when it ends at another length than
/// it declared. A single-chunk body is not copied; trailers are ignored.
pub(crate) async fn collect<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, CollectError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let declared = declared_length(headers);
    let hinted = body.size_hint().lower();
    if let Some(len) = declared.filter(|&len| len > limit as u64) {
        return Err(CollectError::TooLarge {
            declared: Some(len),
        });
    }
    if hinted > limit as u64 {
        return Err(CollectError::TooLarge {
            declared: Some(hinted),
        });
    }
    let bytes = read_within(body, limit).await?;
    if let Some(declared) = declared.filter(|&d| d != bytes.len() as u64) {
        return Err(CollectError::LengthMismatch {
            declared,
            actual: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// Collect `body` into one `Bytes` within `limit`, as the signer's errors.
pub(crate) async fn collect_body<B>(
    headers: &http::HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, Error>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    collect(headers, body, limit).await.map_err(|e| match e {
        CollectError::TooLarge { declared } => Error::BodyTooLarge { limit, declared },
        CollectError::LengthMismatch { declared, actual } => {
            Error::ContentLengthMismatch { declared, actual }
        }
        CollectError::Read(e) => Error::BodyRead(Arc::from(e)),
    })
}

/// Read every data frame of `body` into one `Bytes`, failing as soon as the total
/// passes `limit`. The first chunk is kept as it is (`Bytes` moves, it is not
/// copied); only a second chunk starts a contiguous buffer.
async fn read_within<B>(body: B, limit: usize) -> Result<Bytes, CollectError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CollectError::Read(e.into()))?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        let len = data.remaining();
        total = match total.checked_add(len) {
            Some(total) if total <= limit => total,
            _ => return Err(CollectError::TooLarge { declared: None }),
        };
        if len == 0 {
            continue;
        }
        let chunk = data.copy_to_bytes(len);
        match &mut joined {
            Some(buf) => buf.extend_from_slice(&chunk),
            None if first.is_empty() => first = chunk,
            None => {
                let mut buf = BytesMut::with_capacity(total);
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&chunk);
                joined = Some(buf);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

/// Read at most `limit` bytes of a body for a diagnostic, then drop the rest; a
/// read error ends the prefix early.
pub(crate) async fn prefix<B>(body: B, limit: usize) -> Bytes
where
    B: Body,
{
    let mut body = std::pin::pin!(body);
    let mut prefix = BytesMut::new();
    while prefix.len() < limit {
        let Some(Ok(frame)) = body.frame().await else {
            break;
        };
        if let Ok(mut chunk) = frame.into_data() {
            let take = chunk.remaining().min(limit - prefix.len());
            prefix.extend_from_slice(&chunk.copy_to_bytes(take));
        }
    }
    prefix.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    fn chunks(parts: &[&'static str]) -> impl Body<Data = Bytes, Error = BoxError> + use<> {
        let frames: Vec<Result<http_body::Frame<Bytes>, BoxError>> = parts
            .iter()
            .map(|p| Ok(http_body::Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn limits_and_lengths() {
        let mut headers = HeaderMap::new();
        let full = || Full::new(Bytes::from_static(b"0123456789"));
        assert_eq!(collect(&headers, full(), 10).await.unwrap(), "0123456789");
        assert!(matches!(
            collect(&headers, full(), 9).await,
            Err(CollectError::TooLarge { declared: Some(10) })
        ));
        assert_eq!(
            collect(&headers, chunks(&["01", "23", "4"]), 5)
                .await
                .unwrap(),
            "01234"
        );
        assert!(matches!(
            collect(&headers, chunks(&["01", "23", "45"]), 5).await,
            Err(CollectError::TooLarge { declared: None })
        ));
        headers.insert(http::header::CONTENT_LENGTH, "11".parse().unwrap());
        assert!(matches!(
            collect(&headers, full(), 100).await,
            Err(CollectError::LengthMismatch {
                declared: 11,
                actual: 10
            })
        ));
        assert_eq!(prefix(full(), 4).await, "0123");
        assert_eq!(prefix(chunks(&["01", "23", "45"]), 3).await, "012");
    }
}
