//! HTTP/1.1 for a UPnP control point, sans I/O: the request encoder, the response decoder and
//! the exchange machine that both drivers ([`crate::blocking`], [`crate::tokio`]) run. No
//! socket and no clock here: bytes in, values out, `now` passed in.
//!
//! A control point only ever speaks plain HTTP/1.1 to a device on its own link: no TLS, no
//! proxy, no redirects (a 3xx is an answer, never followed), no HTTP/2, one request per
//! connection (`Connection: close`: many routers mishandle kept-alive connections). So every
//! byte on the wire is decided here:
//!
//! - [`Request`]: `GET` for descriptions, `POST` for actions, with the headers routers
//!   expect spelled exactly so (`SOAPAction`, not `Soapaction`).
//! - [`ResponseDecoder`]: fed bytes as they arrive; the head parsed by `httparse`, the body
//!   framed by Content-Length, chunked transfer coding or the connection's close, every size
//!   capped (head, chunk-size line, body), ambiguous framing refused with
//!   [`Framing`](crate::error::Framing).
//! - [`Exchange`]: one request and its response under one deadline, from the first connection
//!   attempt to the body's last byte, that nothing received can extend; a failed connection
//!   attempt is followed by another (four in all, the first after 250 ms: a lost SYN is sent
//!   again sooner than the system would) within it, never after a byte of the request was sent.
//!
//! ```
//! use upnp_soap::http::{Request, ResponseDecoder};
//!
//! let url = url::Url::parse("http://192.168.1.1:5000/rootDesc.xml").unwrap();
//! let request = Request::get(&url, "linux UPnP/1.1 example/1")?;
//! assert!(request.encode().starts_with(b"GET /rootDesc.xml HTTP/1.1\r\nHost: 192.168.1.1:5000\r\n"));
//!
//! let mut decoder = ResponseDecoder::new(1024);
//! assert!(!decoder.push(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")?);
//! assert!(decoder.push(b"lo\r\n0\r\n\r\n")?);
//! let response = decoder.finish()?;
//! assert_eq!((response.status, &response.body[..]), (200, &b"hello"[..]));
//! # Ok::<(), upnp_soap::Error>(())
//! ```

use std::time::Duration;

mod exchange;
mod request;
mod response;

pub use exchange::Exchange;
pub use request::{Method, Request};
pub use response::{HEAD_LIMIT, Response, ResponseDecoder};

/// Largest SOAP response body we read.
pub const SOAP_BODY_LIMIT: usize = 64 * 1024;
/// Largest description (or SCPD) body we read.
pub const DESCRIPTION_BODY_LIMIT: usize = 256 * 1024;

/// Settings of an HTTP client.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The longest wait for one TCP connection attempt: the last of the four an exchange may
    /// make (within `timeout`), and the cap of the others.
    pub connect_timeout: Duration,
    /// How long the first connection attempt waits before a new one (with a new SYN) is made;
    /// each further attempt waits twice as long as the one before, up to `connect_timeout`.
    /// Zero turns this off: every attempt waits the whole `connect_timeout`.
    pub connect_retry: Duration,
    /// The longest a whole exchange may take, from resolving and connecting to the body's
    /// last byte.
    pub timeout: Duration,
    /// The User-Agent header (UPnP Device Architecture: `OS/version UPnP/1.1
    /// product/version`).
    pub user_agent: String,
}

impl Config {
    /// Set [`Config::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Set [`Config::connect_retry`].
    pub fn connect_retry(mut self, wait: Duration) -> Self {
        self.connect_retry = wait;
        self
    }

    /// Set [`Config::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Set [`Config::user_agent`].
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }
}

impl Default for Config {
    /// Connection attempts of 250 ms, 500 ms, 1 s and 3 s, 10 s in all, a User-Agent naming
    /// this library.
    fn default() -> Config {
        Config {
            connect_timeout: Duration::from_secs(3),
            connect_retry: Duration::from_millis(250),
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

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

#[cfg(test)]
#[cfg(any(feature = "blocking", feature = "tokio"))]
pub(crate) mod test_server;
