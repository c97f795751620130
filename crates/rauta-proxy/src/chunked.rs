//! Decoding the chunked transfer coding (RFC 9112 §7.1) of upstream responses and of client
//! requests, incrementally over a connection's read buffer. Strict: CRLF line ends, hexadecimal sizes that fit in
//! 64 bits, bounded size lines and trailer sections.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;
/// Most trailer fields accepted.
const MAX_TRAILERS: usize = 64;

/// Where the decoder is in the body.
#[derive(Debug)]
pub(crate) struct Decoder {
    state: State,
    trailers: HeaderMap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// What the decoder made of the buffered bytes.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// Body bytes.
    Data(Bytes),
    /// More bytes must be read.
    NeedMore,
    /// The last chunk and the trailer section were read; trailers, when there were any.
    End(Option<HeaderMap>),
}

/// Malformed chunked coding.
#[derive(Debug, thiserror::Error)]
#[error("malformed chunked body: {0}")]
pub(crate) struct ChunkedError(&'static str);

impl Decoder {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Size,
            trailers: HeaderMap::new(),
        }
    }

    /// Whether the whole body has been decoded.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the front of `buf`, consuming what it uses.
    pub(crate) fn step(&mut self, buf: &mut BytesMut) -> Result<Step, ChunkedError> {
        loop {
            match self.state {
                State::Done => return Ok(Step::End(None)),
                State::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::NeedMore);
                    };
                    let size = parse_size(&line)?;
                    self.state = if size == 0 { State::Trailers } else { State::Data(size) };
                }
                State::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let n = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
                    let left = remaining - n as u64;
                    self.state = if left == 0 { State::DataEnd } else { State::Data(left) };
                    return Ok(Step::Data(buf.split_to(n).freeze()));
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ChunkedError("chunk data not followed by CRLF"));
                    }
                    let _ = buf.split_to(2);
                    self.state = State::Size;
                }
                State::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::NeedMore);
                    };
                    if line.is_empty() {
                        self.state = State::Done;
                        let trailers = std::mem::take(&mut self.trailers);
                        return Ok(Step::End((!trailers.is_empty()).then_some(trailers)));
                    }
                    self.add_trailer(&line)?;
                }
            }
        }
    }

    fn add_trailer(&mut self, line: &[u8]) -> Result<(), ChunkedError> {
        if self.trailers.len() >= MAX_TRAILERS {
            return Err(ChunkedError("too many trailer fields"));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(ChunkedError("trailer field without a colon"))?;
        let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| ChunkedError("invalid trailer name"))?;
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii())
            .map_err(|_| ChunkedError("invalid trailer value"))?;
        self.trailers.append(name, value);
        Ok(())
    }
}

/// Takes one CRLF-terminated line (without the CRLF) off the front of `buf`.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, ChunkedError> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(end) if end <= MAX_LINE => {
            let line = buf.split_to(end);
            let _ = buf.split_to(2);
            Ok(Some(line))
        }
        Some(_) => Err(ChunkedError("line too long")),
        None if buf.len() > MAX_LINE => Err(ChunkedError("line too long")),
        None => Ok(None),
    }
}

/// The size of a chunk-size line (`1a`, `1A;ext=v`, `0`); extensions are ignored.
fn parse_size(line: &[u8]) -> Result<u64, ChunkedError> {
    let digits = line
        .iter()
        .position(|&b| b == b';' || b == b' ' || b == b'\t')
        .map_or(line, |end| &line[..end]);
    if digits.is_empty() || digits.len() > 16 {
        return Err(ChunkedError("invalid chunk size"));
    }
    let mut size: u64 = 0;
    for &b in digits {
        let v = char::from(b).to_digit(16).ok_or(ChunkedError("invalid chunk size"))?;
        size = (size << 4) | u64::from(v);
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `piece` bytes; returns the body and the trailers.
    fn decode(input: &[u8], piece: usize) -> Result<(Vec<u8>, Option<HeaderMap>), ChunkedError> {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            match decoder.step(&mut buf)? {
                Step::Data(d) => body.extend_from_slice(&d),
                Step::End(trailers) => {
                    assert!(decoder.is_done());
                    return Ok((body, trailers));
                }
                Step::NeedMore => {
                    assert!(fed < input.len(), "ran out of input");
                    let end = (fed + piece).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn decodes_in_any_split() {
        let input = b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n";
        for piece in [1, 2, 3, 7, input.len()] {
            let (body, trailers) = decode(input, piece).unwrap();
            assert_eq!(body, b"hello 0123456789", "piece {piece}");
            assert!(trailers.is_none());
        }
    }

    #[test]
    fn trailers_are_returned() {
        let (body, trailers) = decode(b"2\r\nok\r\n0\r\ngrpc-status: 0\r\nx-t:  v \r\n\r\n", 4).unwrap();
        assert_eq!(body, b"ok");
        let trailers = trailers.unwrap();
        assert_eq!(trailers["grpc-status"], "0");
        assert_eq!(trailers["x-t"], "v");
    }

    #[test]
    fn malformed_coding_is_an_error() {
        for bad in [
            &b"g\r\n"[..],
            b"\r\n",
            b"5\r\nhelloXY0\r\n\r\n",
            b"11111111111111111\r\n",
            b"0\r\nno colon\r\n\r\n",
            b"-1\r\n",
        ] {
            assert!(decode(bad, 64).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let long = format!("1;{}\r\n", "e".repeat(MAX_LINE + 1));
        assert!(decode(long.as_bytes(), 64).is_err());
    }
}
