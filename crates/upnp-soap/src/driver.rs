//! What the blocking and the async driver share besides the exchange machine: how a host
//! becomes addresses, and how an HTTP answer becomes a body, a response, a fault or an error.
//! No I/O here either.

use std::net::SocketAddr;

use url::Host;

use crate::envelope::{ActionResponse, Reply};
use crate::error::Error;
use crate::http::Response;

/// Most addresses taken from resolving a host name.
pub(crate) const MAX_RESOLVED: usize = 4;

/// The address of a host given as an IP literal; `None` for a name to resolve.
pub(crate) fn literal(host: &Host<String>, port: u16) -> Option<SocketAddr> {
    match host {
        Host::Ipv4(ip) => Some(SocketAddr::from((*ip, port))),
        Host::Ipv6(ip) => Some(SocketAddr::from((*ip, port))),
        Host::Domain(_) => None,
    }
}

/// The body of a description fetch: a 200 answer's, else [`Error::Status`].
pub(crate) fn described(response: Response) -> Result<Vec<u8>, Error> {
    match response.status {
        200 => Ok(response.body.into()),
        status => Err(Error::Status { status }),
    }
}

/// Judge the answer to `action`: 200 with a response is the response; 200 or 500 with a
/// fault is [`Error::Fault`]; anything else is [`Error::Status`].
pub(crate) fn interpret(response: &Response, action: &str) -> Result<ActionResponse, Error> {
    match response.status {
        200 => ActionResponse::parse(&response.body, action),
        status => match Reply::parse(&response.body) {
            Ok(Reply::Fault(fault)) => Err(Error::Fault(fault)),
            _ => Err(Error::Status { status }),
        },
    }
}
