//! A client stream that counts the bytes it carries each way, in its session's metrics as they
//! pass and in totals for the access-log line.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::metrics::SessionSeries;

/// `inner` counting what is read from it (received from the client) and written to it (sent to
/// the client).
pub(super) struct Counted<S> {
    inner: S,
    series: SessionSeries,
    /// Bytes read so far.
    pub(super) received: u64,
    /// Bytes written so far.
    pub(super) sent: u64,
}

impl<S> Counted<S> {
    pub(super) fn new(inner: S, series: SessionSeries) -> Self {
        Self {
            inner,
            series,
            received: 0,
            sent: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        if n > 0 {
            self.received += n;
            self.series.received.inc_by(n);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            let n = n as u64;
            self.sent += n;
            self.series.sent.inc_by(n);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn counts_both_ways_in_totals_and_series() {
        let series = SessionSeries {
            started: Counter::default(),
            active: Gauge::default(),
            received: Counter::default(),
            sent: Counter::default(),
        };
        let (client, mut peer) = tokio::io::duplex(64);
        let mut counted = Counted::new(client, series.clone());
        peer.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 16];
        let n = counted.read(&mut buf).await.unwrap();
        counted.write_all(b"abc").await.unwrap();
        assert_eq!((n, counted.received, counted.sent), (5, 5, 3));
        assert_eq!((series.received.get(), series.sent.get()), (5, 3));
    }
}
