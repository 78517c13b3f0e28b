//! The response decoder and the response it yields.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, Framing, Stage};

/// Largest response head (status line and headers, interim responses included) we read.
pub const HEAD_LIMIT: usize = 16 * 1024;
/// Header names and values.
type Headers = Vec<(String, Vec<u8>)>;

/// Most headers in one response head.
const MAX_HEADERS: usize = 64;
/// Most trailer fields after the last chunk.
const MAX_TRAILERS: usize = 16;
/// Longest chunk-size line, extensions included.
const CHUNK_LINE_LIMIT: usize = 1024;
/// Most interim (1xx) responses before the final one.
const MAX_INTERIM: usize = 4;
/// Input is taken in pieces of at most this size, so the unparsed buffer stays small
/// whatever a caller pushes at once.
const PIECE: usize = 8 * 1024;

/// An HTTP response: its status line, its headers other than the framing ones
/// (`Content-Length` and `Transfer-Encoding`, consumed by the decoder), and its body.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// The status code.
    pub status: u16,
    /// The reason phrase (empty when absent or not UTF-8).
    pub reason: String,
    /// Header names and values, in order, framing headers left out.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, de-chunked.
    pub body: Bytes,
}

impl Response {
    /// An HTTP/1.1 response with no headers.
    pub fn new(status: u16, reason: &str, body: impl Into<Bytes>) -> Response {
        Response {
            version: 1,
            status,
            reason: reason.to_owned(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The same with one more header.
    pub fn with_header(mut self, name: &str, value: &[u8]) -> Response {
        self.headers.push((name.to_owned(), value.to_vec()));
        self
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The response's bytes, its body framed by Content-Length.
    pub fn encode(&self) -> Bytes {
        let mut out = self.encode_head(&[("Content-Length", &self.body.len().to_string())]);
        out.put_slice(&self.body);
        out.freeze()
    }

    /// The response's bytes, its body in chunks of `size` bytes (at least 1).
    pub fn encode_chunked(&self, size: usize) -> Bytes {
        let mut out = self.encode_head(&[("Transfer-Encoding", "chunked")]);
        for chunk in self.body.chunks(size.max(1)) {
            out.put_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.put_slice(chunk);
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"0\r\n\r\n");
        out.freeze()
    }

    fn encode_head(&self, framing: &[(&str, &str)]) -> BytesMut {
        let mut out = BytesMut::with_capacity(128 + self.body.len());
        out.put_slice(
            format!(
                "HTTP/1.{} {:03} {}\r\n",
                self.version, self.status, self.reason
            )
            .as_bytes(),
        );
        let fields = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .chain(framing.iter().map(|(n, v)| (*n, v.as_bytes())));
        for (name, value) in fields {
            out.put_slice(name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(value);
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
        out
    }
}

/// Decodes one HTTP/1.x response from bytes pushed as they arrive. Sans I/O: the caller
/// reads the connection, [`push`](ResponseDecoder::push)es what it read, and on the
/// connection's end calls [`finish`](ResponseDecoder::finish).
///
/// Memory is bounded whatever the peer sends: the head by [`HEAD_LIMIT`], a chunk-size line
/// by 1 KiB, the body by the limit given (a Content-Length or a chunk size over it is refused
/// before any of it is read, and nothing is allocated from an announced length).
#[derive(Debug)]
pub struct ResponseDecoder {
    body_limit: usize,
    input: BytesMut,
    /// How much of `input` was searched for the head's end already.
    scanned: usize,
    /// Head bytes used so far, interim responses included.
    head_used: usize,
    interim: usize,
    state: State,
    head: Option<Head>,
    body: BytesMut,
    expected: Option<u64>,
}

#[derive(Debug)]
struct Head {
    version: u8,
    status: u16,
    reason: String,
    headers: Headers,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Length { remaining: u64 },
    ChunkSize,
    ChunkData { remaining: u64 },
    ChunkEnd,
    Trailers,
    UntilClose,
    Done,
}

impl ResponseDecoder {
    /// A decoder that refuses bodies over `body_limit` bytes.
    pub fn new(body_limit: usize) -> ResponseDecoder {
        ResponseDecoder {
            body_limit,
            input: BytesMut::new(),
            scanned: 0,
            head_used: 0,
            interim: 0,
            state: State::Head,
            head: None,
            body: BytesMut::new(),
            expected: None,
        }
    }

    /// Feed bytes read from the connection. `Ok(true)` when the response is complete (call
    /// [`finish`](ResponseDecoder::finish)); bytes after its end are ignored.
    pub fn push(&mut self, data: &[u8]) -> Result<bool, Error> {
        if self.state == State::Done {
            return Ok(true);
        }
        for piece in data.chunks(PIECE) {
            self.input.extend_from_slice(piece);
            if self.advance()? {
                self.input.clear();
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether the response is complete.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// Where decoding is, for errors: reading the head, or the body (with how much of it).
    pub fn stage(&self) -> Stage {
        match self.state {
            State::Head => Stage::ReadingHead,
            _ => Stage::ReadingBody {
                received: self.body.len() as u64,
                expected: self.expected,
            },
        }
    }

    /// The response, once complete; or, when the connection has ended, the response if its
    /// end was the body's end (a close-delimited body, a chunked body missing only its final
    /// CRLF). Otherwise [`Error::Truncated`].
    pub fn finish(self) -> Result<Response, Error> {
        let stage = self.stage();
        match (self.state, self.head) {
            (State::Done | State::UntilClose | State::Trailers, Some(head)) => Ok(Response {
                version: head.version,
                status: head.status,
                reason: head.reason,
                headers: head.headers,
                body: self.body.freeze(),
            }),
            _ => Err(Error::Truncated { stage }),
        }
    }

    /// Consume what `input` holds; `Ok(true)` when the response is complete.
    fn advance(&mut self) -> Result<bool, Error> {
        loop {
            match self.state {
                State::Head => {
                    if !self.head_complete()? {
                        return Ok(false);
                    }
                }
                State::Length { remaining } => {
                    let remaining = self.take_body(remaining)?;
                    if remaining > 0 {
                        self.state = State::Length { remaining };
                        return Ok(false);
                    }
                    self.state = State::Done;
                }
                // A chunk size line (extensions included) is read within its first
                // CHUNK_LINE_LIMIT + 2 bytes (the line and its CR LF): what lies beyond is
                // never looked at, so the outcome is the same however the bytes arrive.
                State::ChunkSize => {
                    let window = CHUNK_LINE_LIMIT + 2;
                    let end = window.min(self.input.len());
                    let line = self.input.get(..end).unwrap_or_default();
                    match httparse::parse_chunk_size(line) {
                        Ok(httparse::Status::Complete((used, size))) => {
                            self.input.advance(used);
                            self.state = if size == 0 {
                                State::Trailers
                            } else {
                                self.check_room(size)?;
                                State::ChunkData { remaining: size }
                            };
                        }
                        Ok(httparse::Status::Partial) if line.len() >= window => {
                            return Err(Framing::ChunkLineTooLong(CHUNK_LINE_LIMIT).into());
                        }
                        Ok(httparse::Status::Partial) => return Ok(false),
                        Err(httparse::InvalidChunkSize) => {
                            return Err(Framing::InvalidChunkSize.into());
                        }
                    }
                }
                State::ChunkData { remaining } => {
                    let remaining = self.take_body(remaining)?;
                    if remaining > 0 {
                        self.state = State::ChunkData { remaining };
                        return Ok(false);
                    }
                    self.state = State::ChunkEnd;
                }
                State::ChunkEnd => {
                    // CRLF, or a bare LF as some embedded servers write.
                    let end = match self.input.first().copied() {
                        None => return Ok(false),
                        Some(b'\n') => 1,
                        Some(b'\r') => match self.input.get(1).copied() {
                            None => return Ok(false),
                            Some(b'\n') => 2,
                            Some(_) => return Err(Framing::MissingChunkEnd.into()),
                        },
                        Some(_) => return Err(Framing::MissingChunkEnd.into()),
                    };
                    self.input.advance(end);
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILERS];
                    match httparse::parse_headers(&self.input, &mut fields) {
                        Ok(httparse::Status::Complete(_)) => self.state = State::Done,
                        Ok(httparse::Status::Partial) if self.input.len() > HEAD_LIMIT => {
                            return Err(Error::HeadTooLarge { limit: HEAD_LIMIT });
                        }
                        Ok(httparse::Status::Partial) => return Ok(false),
                        Err(_) => return Err(Framing::MalformedTrailers.into()),
                    }
                }
                State::UntilClose => {
                    let all = self.input.len() as u64;
                    self.take_body(all)?;
                    return Ok(false);
                }
                State::Done => return Ok(true),
            }
        }
    }

    /// Move up to `remaining` bytes of input into the body; what is left of `remaining`.
    fn take_body(&mut self, remaining: u64) -> Result<u64, Error> {
        let n = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(self.input.len());
        self.check_room(n as u64)?;
        self.body.put_slice(&self.input.split_to(n));
        Ok(remaining - n as u64)
    }

    /// Refuse a body that would grow past the limit by `more` bytes.
    fn check_room(&self, more: u64) -> Result<(), Error> {
        let room = self.body_limit.saturating_sub(self.body.len()) as u64;
        if more > room {
            return Err(Error::BodyTooLarge {
                limit: self.body_limit,
            });
        }
        Ok(())
    }

    /// Parse a head once its end is in `input`: `Ok(true)` when one was consumed (an interim
    /// one, or the final one and the body's framing decided), `Ok(false)` to wait for more.
    fn head_complete(&mut self) -> Result<bool, Error> {
        // Empty lines before a status line are ignored (RFC 9112, 2.2), as httparse does;
        // drop them first, so that they are never taken for the blank line that ends a
        // head (which would make the outcome depend on how the bytes arrive). They count
        // towards the head's limit.
        let empty = self
            .input
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        if empty > 0 {
            self.input.advance(empty);
            self.scanned = self.scanned.saturating_sub(empty);
            self.head_used = self.head_used.saturating_add(empty);
            if self.head_used > HEAD_LIMIT {
                return Err(Error::HeadTooLarge { limit: HEAD_LIMIT });
            }
        }
        // Search only what is new (and the 2 bytes before it) for the blank line that ends
        // the head, so a head trickled a byte at a time is not parsed again each time.
        let from = self.scanned.saturating_sub(2);
        let blank_line = self
            .input
            .get(from..)
            .unwrap_or_default()
            .windows(2)
            .any(|w| w == b"\n\n" || w == b"\n\r");
        self.scanned = self.input.len();
        let room = HEAD_LIMIT.saturating_sub(self.head_used);
        if !blank_line {
            if self.input.len() > room {
                return Err(Error::HeadTooLarge { limit: HEAD_LIMIT });
            }
            return Ok(false);
        }
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut fields);
        let used = match parser().parse_response(&mut parsed, &self.input) {
            Ok(httparse::Status::Complete(used)) => used,
            Ok(httparse::Status::Partial) => {
                if self.input.len() > room {
                    return Err(Error::HeadTooLarge { limit: HEAD_LIMIT });
                }
                return Ok(false);
            }
            Err(e) => return Err(Framing::MalformedHead(reason(e)).into()),
        };
        if used > room {
            return Err(Error::HeadTooLarge { limit: HEAD_LIMIT });
        }
        // httparse takes any three digits; a status is 100 to 999 (RFC 9110, 15).
        if !parsed.code.is_some_and(|code| (100..=999).contains(&code)) {
            return Err(Framing::MalformedHead("invalid status code").into());
        }
        let head = Head {
            version: parsed.version.unwrap_or(1),
            status: parsed.code.unwrap_or(0),
            reason: parsed.reason.unwrap_or_default().to_owned(),
            headers: parsed
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect(),
        };
        self.input.advance(used);
        self.scanned = 0;
        self.head_used += used;
        match head.status {
            101 => Err(Framing::UnexpectedUpgrade.into()),
            // An interim response: the final one follows, maybe in the same input.
            100..=199 => {
                self.interim += 1;
                if self.interim > MAX_INTERIM {
                    return Err(Framing::TooManyInterimResponses(MAX_INTERIM).into());
                }
                Ok(true)
            }
            _ => {
                let (state, headers, expected) = framing(head.status, head.headers)?;
                if let State::Length { remaining } = state {
                    // Refused before any of it is read.
                    self.check_room(remaining)?;
                }
                self.state = state;
                self.expected = expected;
                self.head = Some(Head { headers, ..head });
                Ok(true)
            }
        }
    }
}

/// How the body of a response with this status and these headers is framed: the state to
/// read it in, the headers without the framing ones, and the announced length.
fn framing(status: u16, headers: Headers) -> Result<(State, Headers, Option<u64>), Error> {
    let mut length: Option<u64> = None;
    let mut codings: Vec<String> = Vec::new();
    let mut kept = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("content-length") {
            // `5`, or a list of equal values (`5, 5`) as some proxies write.
            for item in value.split(|&b| b == b',') {
                let item = item.trim_ascii();
                if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
                    return Err(Framing::InvalidContentLength.into());
                }
                let n = std::str::from_utf8(item)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or(Framing::InvalidContentLength)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Framing::ConflictingContentLength.into());
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            for item in value.split(|&b| b == b',') {
                let item = String::from_utf8_lossy(item.trim_ascii()).to_ascii_lowercase();
                // `identity` is an obsolete name for no coding at all.
                if !item.is_empty() && item != "identity" {
                    codings.push(item);
                }
            }
        } else {
            kept.push((name, value));
        }
    }
    // Room for one framing header when the response is written again: the same response
    // then decodes the same (the parser takes at most MAX_HEADERS).
    if kept.len() >= MAX_HEADERS {
        return Err(Framing::MalformedHead("too many headers").into());
    }
    let state = if status == 204 || status == 304 {
        State::Done
    } else if !codings.is_empty() {
        if length.is_some() {
            return Err(Framing::LengthWithTransferEncoding.into());
        }
        match codings.as_slice() {
            [only] if only == "chunked" => State::ChunkSize,
            _ => {
                let all = codings.join(", ");
                return Err(Framing::UnsupportedTransferCoding(crate::error::echo(&all)).into());
            }
        }
    } else {
        match length {
            Some(0) => State::Done,
            Some(remaining) => State::Length { remaining },
            // HTTP/1.0 routers, and HTTP/1.1 ones that just close: the body ends with the
            // connection.
            None => State::UntilClose,
        }
    };
    Ok((state, kept, length))
}

/// httparse, as lenient as real routers need: extra spaces in the status line and after
/// header names, folded header lines; a header line that is not a header is skipped.
fn parser() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    config
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .ignore_invalid_headers_in_responses(true);
    config
}

/// The parser's reason for refusing a head.
fn reason(error: httparse::Error) -> &'static str {
    match error {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status code",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "not HTTP/1.0 or HTTP/1.1",
    }
}
