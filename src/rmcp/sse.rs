//! Server-Sent Events from a response body, one event at a time, with a bound on
//! the size of each event applied to the raw bytes before they are parsed.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body::Body;
use http_body_util::BodyExt;
use rmcp::transport::common::client_side_sse::BoxedSseResponse;
use rmcp::transport::streamable_http_client::SseError;

use super::HttpClientError;
use crate::error::BoxError;

/// Projects the success type out of a `Result`.
trait OkType {
    type Ok;
}

impl<T, E> OkType for Result<T, E> {
    type Ok = T;
}

/// The event type of the sse-stream version rmcp's trait is written against,
/// named through rmcp's own stream type so that this crate's sse-stream version
/// (used only to parse) need not be the same.
type RmcpSse = <<BoxedSseResponse as Stream>::Item as OkType>::Ok;

/// The longest reconnection time a server's `retry:` field is read as; a
/// longer one is cut to this, so that rmcp, which waits the server's `retry:`
/// before it resumes a broken stream, never waits longer.
pub const MAX_SSE_RETRY: Duration = Duration::from_secs(60);

/// Parse `body` as an event stream. Events are yielded as their bytes arrive;
/// an event (or a line) over `max_event_size` bytes ends the stream with
/// [`HttpClientError::SseEventTooLarge`].
pub(crate) fn events<B>(body: B, max_event_size: usize) -> BoxedSseResponse
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let bytes = body.into_data_stream();
    let bounded = Bounded {
        inner: bytes,
        limit: EventSizeLimit::new(max_event_size),
        done: false,
    };
    sse_stream::SseStream::from_bytes_stream(bounded)
        .map(|event| match event {
            Ok(event) => Ok(RmcpSse {
                event: event.event,
                data: event.data,
                id: event.id,
                retry: event.retry.map(|ms| ms.min(max_retry_ms())),
            }),
            Err(sse_stream::Error::Body(error)) => Err(SseError::Body(error)),
            Err(other) => Err(SseError::Body(Box::new(other))),
        })
        .boxed()
}

fn max_retry_ms() -> u64 {
    u64::try_from(MAX_SSE_RETRY.as_millis()).unwrap_or(u64::MAX)
}

pin_project_lite::pin_project! {
    /// The body's data frames, checked against the event size limit.
    struct Bounded<S> {
        #[pin]
        inner: S,
        limit: EventSizeLimit,
        done: bool,
    }
}

impl<S, E> Stream for Bounded<S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, HttpClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        let item = match ready!(this.inner.poll_next(cx)) {
            Some(Ok(chunk)) if this.limit.accept(&chunk) => Some(Ok(chunk)),
            Some(Ok(_)) => Some(Err(HttpClientError::SseEventTooLarge {
                limit: this.limit.max,
            })),
            Some(Err(error)) => Some(Err(HttpClientError::body(error))),
            None => None,
        };
        // Nothing after an error: the parser must not see a stream with a hole.
        *this.done = !matches!(item, Some(Ok(_)));
        Poll::Ready(item)
    }
}

/// Tracks the size of the event being received, as the parser will hold it: the
/// fields of its lines (comments are dropped once complete) plus the line being
/// received, comment or not, since the parser buffers unfinished lines.
#[derive(Debug)]
struct EventSizeLimit {
    max: usize,
    event: usize,
    line: usize,
    comment: bool,
    after_cr: bool,
}

impl EventSizeLimit {
    fn new(max: usize) -> Self {
        Self {
            max,
            event: 0,
            line: 0,
            comment: false,
            after_cr: false,
        }
    }

    /// Account for `chunk`; false when the event or line went over the limit.
    fn accept(&mut self, chunk: &[u8]) -> bool {
        for &byte in chunk {
            // CRLF is one line end.
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\r' | b'\n' => {
                    self.end_line();
                    self.after_cr = byte == b'\r';
                }
                _ => {
                    if self.line == 0 {
                        self.comment = byte == b':';
                    }
                    self.line += 1;
                }
            }
            if self.event.saturating_add(self.line) > self.max {
                return false;
            }
        }
        true
    }

    fn end_line(&mut self) {
        if self.line == 0 {
            // A blank line dispatches the event.
            self.event = 0;
        } else if !self.comment {
            // The parser joins data lines with a newline.
            self.event = self.event.saturating_add(self.line + 1);
        }
        self.line = 0;
        self.comment = false;
    }
}

#[cfg(test)]
mod tests {
    use futures_util::TryStreamExt;
    use http_body_util::StreamBody;

    use super::*;

    fn body(chunks: &[&'static str]) -> impl Body<Data = Bytes, Error = std::io::Error> + Send {
        let frames = chunks
            .iter()
            .map(|c| Ok(http_body::Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect::<Vec<_>>();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn parses_events_split_across_chunks() {
        let events: Vec<_> = events(
            body(&[
                "id: 1\nda",
                "ta: {\"a\":",
                "1}\n\n: keep-alive\n\n",
                "retry: 10\r\ndata: x\r\n\r\n",
            ]),
            1024,
        )
        .try_collect()
        .await
        .unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].id.as_deref(), Some("1"));
        assert_eq!(events[0].data.as_deref(), Some("{\"a\":1}"));
        assert_eq!(events[1].retry, Some(10));
        assert_eq!(events[1].data.as_deref(), Some("x"));
    }

    #[tokio::test]
    async fn a_retry_past_the_bound_is_cut_to_it() {
        let events: Vec<_> = events(body(&["retry: 86400000\ndata: x\n\n"]), 1024)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(events[0].retry, Some(60_000));
    }

    #[tokio::test]
    async fn an_event_over_the_limit_ends_the_stream() {
        let mut stream = events(
            body(&[
                "data: 12345\n\n",
                "data: 1234567890",
                "12345\n\n",
                "data: a\n\n",
            ]),
            16,
        );
        assert_eq!(
            stream.next().await.unwrap().unwrap().data.as_deref(),
            Some("12345")
        );
        let error = stream.next().await.unwrap().unwrap_err();
        let SseError::Body(error) = error else {
            panic!("unexpected {error}");
        };
        assert!(matches!(
            error.downcast_ref::<HttpClientError>(),
            Some(HttpClientError::SseEventTooLarge { limit: 16 })
        ));
        assert!(stream.next().await.is_none());
    }

    #[test]
    fn limit_counts_fields_not_comments() {
        let mut limit = EventSizeLimit::new(10);
        assert!(limit.accept(b": comment\n"));
        assert!(limit.accept(b"data: 1\n"));
        assert!(!limit.accept(b"data: 2\n"));
        let mut limit = EventSizeLimit::new(10);
        assert!(limit.accept(b"data: 1\r\n\r\ndata: 2\r\n\r\n"));
        // An unfinished line counts, comment or not.
        assert!(!limit.accept(b": an unfinished comment"));
    }
}
