//! What the blocking and the async exchange share: settings, the body cap, and how an HTTP
//! answer becomes a response, a fault or an error. No I/O here either.

use std::time::Duration;

use crate::envelope::{ActionResponse, CONTENT_TYPE, Reply};
use crate::error::Error;

/// Largest SOAP response body we read.
pub const SOAP_BODY_LIMIT: usize = 64 * 1024;
/// Largest description (or SCPD) body we read.
pub const DESCRIPTION_BODY_LIMIT: usize = 256 * 1024;

/// Settings of an HTTP client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The longest wait for the TCP connection.
    pub connect_timeout: Duration,
    /// The longest a whole exchange may take, from connecting to the body's last byte.
    pub timeout: Duration,
    /// The User-Agent header.
    pub user_agent: String,
}

impl Default for Config {
    /// 3 s to connect, 10 s in all, a User-Agent naming this library.
    fn default() -> Config {
        Config {
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            user_agent: format!(
                "{}/{} UPnP/1.1 igd-rs/{}",
                std::env::consts::OS,
                std::env::consts::ARCH,
                env!("CARGO_PKG_VERSION")
            ),
        }
    }
}

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

#[cfg(test)]
pub(crate) mod test_server;
