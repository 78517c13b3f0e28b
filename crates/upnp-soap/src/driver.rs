//! What the blocking and the async exchange share: the headers, the body cap, and how an HTTP
//! answer becomes a response, a fault or an error. No I/O here either.

use crate::envelope::{ActionResponse, CONTENT_TYPE, Reply};
use crate::error::Error;

/// The headers of an action request, besides Host and Content-Length.
pub(crate) fn action_headers(soap_action: String) -> [(&'static str, String); 3] {
    [
        ("Content-Type", CONTENT_TYPE.to_owned()),
        ("SOAPAction", soap_action),
        // Many routers mishandle kept-alive connections; one exchange per connection.
        ("Connection", "close".to_owned()),
    ]
}

/// A body buffer that refuses to grow past its cap and never trusts Content-Length for
/// allocation.
pub(crate) struct Capped {
    buf: Vec<u8>,
    limit: usize,
    expected: Option<u64>,
}

impl Capped {
    /// Refuse at once a body announced larger than `limit`.
    pub(crate) fn new(limit: usize, content_length: Option<u64>) -> Result<Capped, Error> {
        if content_length.is_some_and(|n| n > limit as u64) {
            return Err(Error::BodyTooLarge { limit });
        }
        Ok(Capped {
            buf: Vec::new(),
            limit,
            expected: content_length,
        })
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if self.buf.len().saturating_add(chunk.len()) > self.limit {
            return Err(Error::BodyTooLarge { limit: self.limit });
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The body, unless it is shorter (or longer) than announced.
    pub(crate) fn finish(self) -> Result<Vec<u8>, Error> {
        let received = self.buf.len() as u64;
        match self.expected {
            Some(expected) if expected != received => Err(Error::Truncated { expected, received }),
            _ => Ok(self.buf),
        }
    }
}

/// Judge the answer to `action`: 200 with a response is the response; 200 or 500 with a
/// fault is [`Error::Fault`]; anything else is [`Error::Status`].
pub(crate) fn interpret(status: u16, body: &[u8], action: &str) -> Result<ActionResponse, Error> {
    match status {
        200 => ActionResponse::parse(body, action),
        _ => match Reply::parse(body) {
            Ok(Reply::Fault(fault)) => Err(Error::Fault(fault)),
            _ => Err(Error::Status { status }),
        },
    }
}

/// A reqwest error as ours.
pub(crate) fn transport(error: reqwest::Error) -> Error {
    if error.is_timeout() {
        Error::Timeout
    } else {
        Error::Transport(Box::new(error))
    }
}
