//! Which of the headers that decide an HTTP/1.1 message's framing and persistence a parsed head
//! has, noted while its names are read: a name that is absent then costs no hashed lookup.
//! A typical request has none of them and a typical response only `Content-Length` and
//! `Connection`, so the parsers skip three to four `HeaderMap` lookups per message.

use http::HeaderName;
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};

/// The framing-related names a head has.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct HeadNames {
    pub(crate) content_length: bool,
    pub(crate) transfer_encoding: bool,
    pub(crate) connection: bool,
    pub(crate) expect: bool,
}

impl HeadNames {
    /// Notes one header name of the head (standard names compare as integers).
    pub(crate) fn note(&mut self, name: &HeaderName) {
        if *name == CONTENT_LENGTH {
            self.content_length = true;
        } else if *name == TRANSFER_ENCODING {
            self.transfer_encoding = true;
        } else if *name == CONNECTION {
            self.connection = true;
        } else if *name == EXPECT {
            self.expect = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_the_framing_names_only() {
        let mut names = HeadNames::default();
        for name in ["host", "content-length", "x-a", "connection"] {
            names.note(&HeaderName::from_static(name));
        }
        assert!(names.content_length && names.connection);
        assert!(!names.transfer_encoding && !names.expect);
        names.note(&TRANSFER_ENCODING);
        names.note(&EXPECT);
        assert!(names.transfer_encoding && names.expect);
    }
}
