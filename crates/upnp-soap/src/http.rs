//! The settings and limits of the HTTP exchange, shared by the `blocking` and `tokio`
//! clients. No I/O here.

use std::time::Duration;

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

#[cfg(test)]
#[cfg(any(feature = "blocking", feature = "tokio"))]
pub(crate) mod test_server;
