//! A downstream HTTP/1 connection's stream and read buffer, shared by the connection (heads,
//! responses) and the request body it hands to the proxy (which may be polled by another task:
//! hyper's HTTP/2 and TLS upstream clients poll bodies from their connection tasks).
//!
//! No buffer is held while the connection idles: the first read of a request goes to the stack
//! and only the bytes that arrived are copied into a buffer allocated then; the connection drops
//! the buffer again once a response is written and nothing else was received.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker, ready};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::request::BodyFraming;
use crate::chunked::Decoder;
use crate::server::transport::Transport;

/// Bytes read from the stack for the first read of a request.
const FIRST_READ: usize = 4096;
/// Smallest buffer allocated for a request (within glibc's per-thread cache of small chunks).
const MIN_BUFFER: usize = 1024;
/// Bytes reserved for a body read at first; doubled while reads fill it, up to [`MAX_READ`].
const BODY_READ: usize = 8 * 1024;
const MAX_READ: usize = 64 * 1024;
/// Written when a client that expects it needs the request body.
pub(super) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The connection's stream and state, behind the mutex the request body shares.
pub(crate) type SharedIo = Arc<Mutex<ConnIo>>;

/// Locks the shared state (a panic elsewhere cannot leave it inconsistent: every update is a
/// single assignment).
pub(crate) fn lock(io: &SharedIo) -> MutexGuard<'_, ConnIo> {
    io.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where the current request's body is.
#[derive(Debug)]
pub(super) enum BodyState {
    /// Read to its end (or there was none).
    Done,
    Length(u64),
    Chunked(Decoder),
    /// The client broke it off, or it was abandoned when the response was written.
    Failed,
}

/// The `100 Continue` owed to a client that sent `Expect: 100-continue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Continue {
    /// Not expected, or already written.
    No,
    /// Expected, written the first time the body needs bytes from the client.
    Due,
    /// This much of it is written.
    Writing(usize),
    /// The final response started first: not sent (the body will not be read).
    Skipped,
}

pub(crate) struct ConnIo {
    pub(crate) transport: Transport,
    /// Bytes read and not consumed yet.
    pub(crate) buf: BytesMut,
    read_size: usize,
    pub(super) body: BodyState,
    /// Counts requests, so a body handle of an earlier request cannot read a later one's bytes.
    pub(super) generation: u64,
    pub(super) expect: Continue,
    /// The connection waiting for the body to end, to watch the client again.
    pub(super) watcher: Option<Waker>,
}

impl ConnIo {
    pub(crate) fn new(transport: Transport) -> Self {
        Self {
            transport,
            buf: BytesMut::new(),
            read_size: BODY_READ,
            body: BodyState::Done,
            generation: 0,
            expect: Continue::No,
            watcher: None,
        }
    }

    /// Starts the body of the next request; returns its generation.
    pub(super) fn start_body(&mut self, framing: BodyFraming, expect_continue: bool) -> u64 {
        self.generation += 1;
        self.body = match framing {
            BodyFraming::None => BodyState::Done,
            BodyFraming::Length(n) => BodyState::Length(n),
            BodyFraming::Chunked => BodyState::Chunked(Decoder::new()),
        };
        self.expect = if expect_continue { Continue::Due } else { Continue::No };
        self.watcher = None;
        self.generation
    }

    /// Whether the current request's body has been read to its end.
    pub(super) fn body_done(&self) -> bool {
        matches!(self.body, BodyState::Done)
    }

    /// Marks the body read to its end and wakes the connection if it waits for that.
    pub(super) fn finish_body(&mut self) {
        self.body = BodyState::Done;
        if let Some(waker) = self.watcher.take() {
            waker.wake();
        }
    }

    /// Marks the body broken off.
    pub(super) fn fail_body(&mut self) {
        self.body = BodyState::Failed;
        if let Some(waker) = self.watcher.take() {
            waker.wake();
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() == 0 {
            return self.poll_first_read(cx);
        }
        if self.buf.capacity() - self.buf.len() < MIN_BUFFER / 2 {
            self.buf.reserve(self.read_size);
        }
        let spare = self.buf.capacity() - self.buf.len();
        let n = ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.transport),
            cx,
            &mut self.buf
        ))?;
        if n == spare && self.read_size < MAX_READ {
            self.read_size *= 2;
        }
        Poll::Ready(Ok(n))
    }

    /// The first read of an idle connection: into the stack, so waiting costs no buffer.
    fn poll_first_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut stack = [const { MaybeUninit::<u8>::uninit() }; FIRST_READ];
        let mut read = ReadBuf::uninit(&mut stack);
        ready!(Pin::new(&mut self.transport).poll_read(cx, &mut read))?;
        let filled = read.filled();
        if !filled.is_empty() {
            let mut buf = BytesMut::with_capacity(filled.len().max(MIN_BUFFER));
            buf.extend_from_slice(filled);
            self.buf = buf;
        }
        Poll::Ready(Ok(filled.len()))
    }

    /// Drops the read buffer when nothing is left in it: the connection is about to idle.
    pub(crate) fn release_buffer(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
            self.read_size = BODY_READ;
        }
    }

    /// Writes `bufs` in order from `progress` (buffer index, offset) on, then flushes.
    pub(crate) fn poll_write_all(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[&[u8]],
        progress: &mut (usize, usize),
    ) -> Poll<io::Result<()>> {
        loop {
            let (mut i, mut offset) = *progress;
            while i < bufs.len() && offset >= bufs[i].len() {
                i += 1;
                offset = 0;
            }
            *progress = (i, offset);
            if i == bufs.len() {
                return Pin::new(&mut self.transport).poll_flush(cx);
            }
            let mut slices = [IoSlice::new(&[]); 4];
            slices[0] = IoSlice::new(&bufs[i][offset..]);
            let mut count = 1;
            for b in bufs[i + 1..].iter().take(slices.len() - 1) {
                slices[count] = IoSlice::new(b);
                count += 1;
            }
            let mut n = ready!(Pin::new(&mut self.transport).poll_write_vectored(cx, &slices[..count]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            // Advance over what was written.
            while n > 0 {
                let left = bufs[i].len() - offset;
                if n < left {
                    offset += n;
                    n = 0;
                } else {
                    n -= left;
                    i += 1;
                    offset = 0;
                }
            }
            *progress = (i, offset);
        }
    }

    /// Writes what is left of a `100 Continue`.
    pub(super) fn poll_continue(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let written = match self.expect {
            Continue::Due => 0,
            Continue::Writing(n) => n,
            Continue::No | Continue::Skipped => return Poll::Ready(Ok(())),
        };
        let mut progress = (0, written);
        let result = self.poll_write_all(cx, &[CONTINUE], &mut progress);
        self.expect = match result {
            Poll::Ready(Ok(())) => Continue::No,
            _ if progress.0 > 0 => Continue::Writing(CONTINUE.len()),
            _ => Continue::Writing(progress.1),
        };
        result
    }

    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.transport).poll_shutdown(cx)
    }
}
