//! RecordIO, the framing of the Mesos operator API's event stream
//! (`stout/recordio.hpp`, `src/common/recordio.hpp` in Apache Mesos):
//! each record is its length in bytes as a base-10 integer, a `\n`, then
//! exactly that many bytes:
//!
//! ```text
//! 5\nhello6\nworld!
//! ```
//!
//! [`RecordReader`] decodes records one at a time from any [`Read`] (the
//! HTTP body, already de-chunked by ureq). Bounds: a length header longer
//! than [`MAX_HEADER`] bytes, or a length above the reader's `max_record`
//! (the follower passes `--max-state-mib`: the first record is the whole
//! cluster snapshot), is an error before anything is allocated for it; the
//! buffer of a record grows only as its bytes arrive. After an error the
//! reader fails every later call (the framing is lost: there is no way to
//! find the next record).

use std::fmt;
use std::io::{self, Read};

/// Longest accepted length header, digits only: 20 digits hold any `u64`.
/// Mesos writes `stringify(size_t)`, never leading zeros or signs; leading
/// zeros are tolerated (stout's `numify` accepts them).
pub const MAX_HEADER: usize = 20;

/// Why the stream cannot be decoded further.
#[derive(Debug)]
pub enum RecordError {
    /// Reading the underlying stream failed (timeout, reset, ...).
    Io(io::Error),
    /// The length header is not a decimal number (the text is shown,
    /// escaped and cut).
    BadHeader(String),
    /// The announced record is larger than the bound.
    TooLarge { length: u64, max: u64 },
    /// The stream ended inside a record (`expected` > 0) or inside a
    /// length header (`expected` == 0).
    Truncated { expected: u64, got: u64 },
    /// A previous call failed; the framing is lost.
    Failed,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Io(e) => write!(f, "reading the event stream: {e}"),
            RecordError::BadHeader(text) => {
                write!(
                    f,
                    "the event stream is not RecordIO: bad length header {text}"
                )
            }
            RecordError::TooLarge { length, max } => write!(
                f,
                "an event of {length} bytes is larger than the {max} bytes allowed (--max-state-mib)"
            ),
            RecordError::Truncated { expected: 0, .. } => {
                write!(f, "the event stream ended inside a length header")
            }
            RecordError::Truncated { expected, got } => write!(
                f,
                "the event stream ended inside a record ({got} of {expected} bytes)"
            ),
            RecordError::Failed => write!(f, "the event stream failed earlier"),
        }
    }
}

impl std::error::Error for RecordError {}

/// Decodes RecordIO records from a byte stream.
pub struct RecordReader<R> {
    inner: R,
    max_record: u64,
    failed: bool,
    /// Bytes read from `inner` but not yet consumed.
    buf: Vec<u8>,
    pos: usize,
    /// Total bytes read from `inner`.
    bytes_read: u64,
}

/// Size of one read from the underlying stream.
const CHUNK: usize = 64 * 1024;

impl<R: Read> RecordReader<R> {
    /// A reader refusing records longer than `max_record` bytes.
    pub fn new(inner: R, max_record: u64) -> RecordReader<R> {
        RecordReader {
            inner,
            max_record,
            failed: false,
            buf: Vec::new(),
            pos: 0,
            bytes_read: 0,
        }
    }

    /// Bytes read from the stream so far (framing included).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next record; `Ok(None)` at a clean end of the stream (between
    /// records). A record of length 0 is an empty record, as in stout.
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>, RecordError> {
        if self.failed {
            return Err(RecordError::Failed);
        }
        let out = self.decode();
        if out.is_err() {
            self.failed = true;
            self.buf = Vec::new();
            self.pos = 0;
        }
        out
    }

    fn decode(&mut self) -> Result<Option<Vec<u8>>, RecordError> {
        // The header: digits up to '\n'.
        let mut header: Vec<u8> = Vec::with_capacity(MAX_HEADER);
        loop {
            if self.pos == self.buf.len() && !self.fill()? {
                if header.is_empty() {
                    return Ok(None);
                }
                return Err(RecordError::Truncated {
                    expected: 0,
                    got: 0,
                });
            }
            let byte = self.buf[self.pos];
            self.pos += 1;
            if byte == b'\n' {
                break;
            }
            header.push(byte);
            if !byte.is_ascii_digit() || header.len() > MAX_HEADER {
                return Err(RecordError::BadHeader(shown(&header)));
            }
        }
        if header.is_empty() {
            return Err(RecordError::BadHeader(shown(&header)));
        }
        // Digits only, at most 20 of them: parses unless above u64::MAX.
        let length = std::str::from_utf8(&header)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| RecordError::BadHeader(shown(&header)))?;
        if length > self.max_record {
            return Err(RecordError::TooLarge {
                length,
                max: self.max_record,
            });
        }
        let length_usize = usize::try_from(length).map_err(|_| RecordError::TooLarge {
            length,
            max: self.max_record,
        })?;
        // The body: grows as bytes arrive, never reserved up front beyond
        // one chunk (a hostile length costs nothing until it is sent).
        let mut record = Vec::with_capacity(length_usize.min(CHUNK));
        while record.len() < length_usize {
            if self.pos == self.buf.len() && !self.fill()? {
                return Err(RecordError::Truncated {
                    expected: length,
                    got: record.len() as u64,
                });
            }
            let take = (length_usize - record.len()).min(self.buf.len() - self.pos);
            record.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
        }
        Ok(Some(record))
    }

    /// Reads more bytes; false at the end of the stream.
    fn fill(&mut self) -> Result<bool, RecordError> {
        self.buf.resize(CHUNK, 0);
        self.pos = 0;
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(0) => {
                    self.buf.clear();
                    return Ok(false);
                }
                Ok(n) => {
                    self.buf.truncate(n);
                    self.bytes_read += n as u64;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.clear();
                    return Err(RecordError::Io(e));
                }
            }
        }
    }
}

/// A header for messages: escaped, at most 24 bytes.
fn shown(header: &[u8]) -> String {
    let cut = &header[..header.len().min(24)];
    format!("{:?}", String::from_utf8_lossy(cut))
}

/// Frames one record (`"<length>\n<bytes>"`), as Mesos's
/// `recordio::encode`.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = format!("{}\n", record.len()).into_bytes();
    out.extend_from_slice(record);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn all(data: &[u8], step: usize, max: u64) -> Result<Vec<Vec<u8>>, RecordError> {
        let mut r = RecordReader::new(Trickle { data, step }, max);
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok(out)
    }

    #[test]
    fn decodes_the_stout_example_at_any_chunking() {
        let data = b"5\nhello6\nworld!0\n";
        for step in 1..=data.len() {
            let recs = all(data, step, 100).unwrap();
            assert_eq!(
                recs,
                vec![b"hello".to_vec(), b"world!".to_vec(), Vec::new()]
            );
        }
    }

    #[test]
    fn encode_and_decode_round_trip() {
        let records: Vec<Vec<u8>> = vec![
            b"{\"type\":\"HEARTBEAT\"}".to_vec(),
            vec![b'\n'; 3],
            (0..=255u8).collect(),
            Vec::new(),
        ];
        let data: Vec<u8> = records.iter().flat_map(|r| encode(r)).collect();
        assert_eq!(all(&data, 7, 1000).unwrap(), records);
        assert_eq!(&encode(b"hello")[..], b"5\nhello");
    }

    #[test]
    fn a_record_above_the_bound_is_refused_before_it_is_read() {
        let err = all(b"101\n", 3, 100).unwrap_err();
        assert!(
            matches!(
                err,
                RecordError::TooLarge {
                    length: 101,
                    max: 100
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("--max-state-mib"), "{err}");
        // Exactly the bound is fine.
        let mut data = b"100\n".to_vec();
        data.extend_from_slice(&[b'x'; 100]);
        assert_eq!(all(&data, 9, 100).unwrap().len(), 1);
    }

    #[test]
    fn garbage_is_a_clear_error_and_the_reader_stays_failed() {
        for bad in [
            &b"<html>Service Unavailable</html>"[..],
            b"-5\nhello",
            b"+5\nhello",
            b" 5\nhello",
            b"5 \nhello",
            b"\nhello",
            b"0x10\n",
            b"99999999999999999999\n",
            b"123456789012345678901234567890\n",
        ] {
            let mut r = RecordReader::new(bad, u64::MAX);
            let err = r.next_record().unwrap_err();
            assert!(
                matches!(
                    err,
                    RecordError::BadHeader(_) | RecordError::TooLarge { .. }
                ),
                "{:?}: {err:?}",
                String::from_utf8_lossy(bad)
            );
            assert!(matches!(r.next_record(), Err(RecordError::Failed)));
        }
        let err = all(b"<html>", 2, 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the event stream is not RecordIO: bad length header \"<\""
        );
    }

    #[test]
    fn an_end_inside_a_record_is_truncation_and_between_records_is_clean() {
        let err = all(b"10\nhello", 4, 100).unwrap_err();
        assert!(
            matches!(
                err,
                RecordError::Truncated {
                    expected: 10,
                    got: 5
                }
            ),
            "{err:?}"
        );
        assert!(matches!(
            all(b"5\nhello12", 4, 100).unwrap_err(),
            RecordError::Truncated { .. }
        ));
        assert_eq!(all(b"", 4, 100).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn io_errors_surface() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out"))
            }
        }
        let mut r = RecordReader::new(Broken, 10);
        assert!(matches!(r.next_record(), Err(RecordError::Io(_))));
        assert!(matches!(r.next_record(), Err(RecordError::Failed)));
    }

    /// Hostile input, many shapes: never a panic, never more memory than
    /// the bytes actually sent, records only within the bound.
    #[test]
    fn hostile_input_never_panics() {
        // A small deterministic generator (xorshift), so that the test is
        // reproducible without a dependency.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"0123456789\n\n\nab{}\"\x00\xff ";
        for _ in 0..3000 {
            let len = (next() % 64) as usize;
            let mut data: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if next() % 3 == 0 {
                // A valid record in front, garbage behind.
                let mut framed = encode(b"{}");
                framed.append(&mut data);
                data = framed;
            }
            let max = next() % 40;
            let step = 1 + (next() % 8) as usize;
            let mut r = RecordReader::new(Trickle { data: &data, step }, max);
            for _ in 0..(data.len() + 2) {
                match r.next_record() {
                    Ok(Some(rec)) => assert!(rec.len() as u64 <= max),
                    Ok(None) => break,
                    Err(_) => {
                        assert!(matches!(r.next_record(), Err(RecordError::Failed)));
                        break;
                    }
                }
            }
        }
    }
}
