//! RequestMirror: fire-and-forget copies of a request to a mirror cluster.
//!
//! The copy is started as soon as the mirror filter runs, with the method, URI and headers the
//! request has at that point. A request body is teed: every frame the main request reads is
//! offered to each mirror's bounded channel without waiting; a mirror whose channel is full is
//! cut off (its copy fails) so it can never slow the main request down.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http::request::Parts;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use crate::body::{BodyError, DownstreamBody, RequestBody, UpstreamBody};
use crate::dataplane::Shared;
use crate::runtime::RuntimeCluster;
use crate::upstream;

/// Frames buffered per mirror before it is considered behind.
const MIRROR_QUEUE: usize = 32;
/// A mirror exchange is abandoned after this long.
const MIRROR_DEADLINE: Duration = Duration::from_secs(30);

/// What the tee hands a mirror.
pub(crate) enum MirrorChunk {
    Data(Bytes),
    Trailers(HeaderMap),
    End,
}

/// Starts a mirror of the request described by `head`; returns the sender its body copy reads
/// from when `with_body` is set. Nothing is started when the cluster has no endpoint.
pub(crate) fn start(
    shared: &Arc<Shared>,
    cluster: &RuntimeCluster,
    head: &Parts,
    size_hint: SizeHint,
    with_body: bool,
) -> Option<mpsc::Sender<MirrorChunk>> {
    let endpoint = cluster.next_endpoint().ok()?;
    let (tx, body) = if with_body {
        let (tx, rx) = mpsc::channel(MIRROR_QUEUE);
        (
            Some(tx),
            RequestBody::Mirror(MirrorBody {
                rx,
                size_hint,
                ended: false,
            }),
        )
    } else {
        (None, RequestBody::Empty)
    };
    let request = upstream::build_request(
        cluster.protocol,
        endpoint,
        head.method.clone(),
        &head.uri,
        head.headers.clone(),
        body,
    );
    let exchange = shared.upstream.request(cluster.protocol, endpoint, request);
    let address = endpoint.address;
    tokio::spawn(async move {
        let outcome = tokio::time::timeout(MIRROR_DEADLINE, async {
            let response = exchange.await?;
            discard(response.into_body()).await;
            Ok::<_, upstream::UpstreamError>(())
        })
        .await;
        if let Ok(Err(e)) = outcome {
            tracing::debug!(mirror = %address, error = %e, "mirror request failed");
        }
    });
    tx
}

/// Reads and drops a mirror's response so its connection can return to the pool.
async fn discard(mut body: UpstreamBody) {
    while let Some(Ok(_)) = body.frame().await {}
}

/// The client's body, copied frame by frame to mirrors.
pub(crate) struct TeeBody {
    inner: DownstreamBody,
    mirrors: Vec<mpsc::Sender<MirrorChunk>>,
}

impl TeeBody {
    /// Tees `inner` to `mirrors`.
    pub(crate) fn new(inner: DownstreamBody, mirrors: Vec<mpsc::Sender<MirrorChunk>>) -> Self {
        Self { inner, mirrors }
    }

    fn offer(&mut self, chunk: impl Fn() -> MirrorChunk) {
        // A full or closed channel drops that mirror: it fell behind or gave up.
        self.mirrors.retain(|tx| tx.try_send(chunk()).is_ok());
    }
}

impl Body for TeeBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let next = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &next {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.offer(|| MirrorChunk::Data(data.clone()));
                } else if let Some(trailers) = frame.trailers_ref() {
                    this.offer(|| MirrorChunk::Trailers(trailers.clone()));
                }
            }
            Some(Err(_)) => this.mirrors.clear(),
            None => {
                this.offer(|| MirrorChunk::End);
                this.mirrors.clear();
            }
        }
        Poll::Ready(next)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A mirror's copy of the client's body; it fails unless the tee saw the body end.
pub(crate) struct MirrorBody {
    rx: mpsc::Receiver<MirrorChunk>,
    size_hint: SizeHint,
    ended: bool,
}

impl Body for MirrorBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        Poll::Ready(match ready!(this.rx.poll_recv(cx)) {
            Some(MirrorChunk::Data(b)) => Some(Ok(Frame::data(b))),
            Some(MirrorChunk::Trailers(t)) => Some(Ok(Frame::trailers(t))),
            Some(MirrorChunk::End) => {
                this.ended = true;
                None
            }
            None => Some(Err(BodyError::MirrorLagged)),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        self.size_hint
    }
}

/// A request body fed through a channel (tests of the upstream client): send `Data` chunks,
/// then `End`.
#[cfg(test)]
pub(crate) fn test_body(exact: Option<u64>) -> (mpsc::Sender<MirrorChunk>, RequestBody) {
    let (tx, rx) = mpsc::channel(MIRROR_QUEUE);
    let size_hint = exact.map_or_else(SizeHint::default, SizeHint::with_exact);
    let body = MirrorBody {
        rx,
        size_hint,
        ended: false,
    };
    (tx, RequestBody::Mirror(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn mirror_body_needs_the_end_marker() {
        let (tx, rx) = mpsc::channel(4);
        let mut body = MirrorBody {
            rx,
            size_hint: SizeHint::default(),
            ended: false,
        };
        tx.send(MirrorChunk::Data(Bytes::from_static(b"ab"))).await.unwrap();
        tx.send(MirrorChunk::End).await.unwrap();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "ab");
        assert!(body.frame().await.is_none());

        let (tx, rx) = mpsc::channel(4);
        let mut cut = MirrorBody {
            rx,
            size_hint: SizeHint::default(),
            ended: false,
        };
        tx.send(MirrorChunk::Data(Bytes::from_static(b"ab"))).await.unwrap();
        drop(tx);
        assert!(cut.frame().await.unwrap().is_ok());
        assert!(matches!(cut.frame().await, Some(Err(BodyError::MirrorLagged))));
    }
}
