//! The `Date` header of responses (RFC 9110 §6.6.1), formatted once per second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
const LEN: usize = 29;

thread_local! {
    /// The second last formatted and its text.
    static CACHE: RefCell<(u64, [u8; LEN])> = const { RefCell::new((u64::MAX, [0; LEN])) };
}

/// Calls `f` with the current date as an IMF-fixdate.
pub(crate) fn with<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with_borrow_mut(|(cached, text)| {
        if *cached != second {
            let formatted = httpdate::fmt_http_date(now);
            match <[u8; LEN]>::try_from(formatted.as_bytes()) {
                Ok(bytes) => {
                    *text = bytes;
                    *cached = second;
                }
                // Not a four-digit year: not cached, given as is.
                Err(_) => return f(formatted.as_bytes()),
            }
        }
        f(text)
    })
}

/// Appends the current date as an IMF-fixdate.
pub(crate) fn extend(out: &mut Vec<u8>) {
    with(|date| out.extend_from_slice(date));
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_imf_fixdates() {
        let mut out = Vec::new();
        super::extend(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.len(), super::LEN);
        assert!(text.ends_with(" GMT"), "{text}");
        assert!(httpdate::parse_http_date(&text).is_ok(), "{text}");
        assert_eq!(super::with(<[u8]>::len), super::LEN);
    }
}
