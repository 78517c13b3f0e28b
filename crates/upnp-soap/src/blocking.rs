//! The blocking HTTP exchange, over `std::net::TcpStream`: the [`Exchange`] machine's loop.
//!
//! It owns no runtime and no thread (but one that resolves a host name, so that resolving
//! too has a deadline), so it may be called anywhere, from inside an async runtime too (it
//! blocks that thread for the exchange, at most `Config::timeout`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use url::{Host, Url};

use crate::actions::Action;
use crate::driver::{self, MAX_RESOLVED};
use crate::envelope::{ActionRequest, ActionResponse};
use crate::error::Error;
use crate::http::{Config, DESCRIPTION_BODY_LIMIT, Exchange, Request, Response, SOAP_BODY_LIMIT};

#[cfg(test)]
mod tests;

/// An HTTP/1.1 client for a LAN protocol: no proxy, no redirects, one deadline per exchange,
/// capped bodies, one connection per exchange. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Client {
    config: Config,
    deadline: Option<Instant>,
}

impl Client {
    /// A client with these settings.
    pub fn new(config: &Config) -> Client {
        Client {
            config: config.clone(),
            deadline: None,
        }
    }

    /// The same client, whose exchanges end by `deadline` at the latest (the deadline of an
    /// operation made of several exchanges), besides their own `Config::timeout`.
    pub fn until(&self, deadline: Instant) -> Client {
        Client {
            config: self.config.clone(),
            deadline: Some(self.deadline.map_or(deadline, |d| d.min(deadline))),
        }
    }

    /// The deadline set by [`Client::until`], if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Its settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// GET a description or SCPD: the body of a 200 answer, at most 256 KiB.
    pub fn get_description(&self, url: &Url) -> Result<Vec<u8>, Error> {
        self.get(url, DESCRIPTION_BODY_LIMIT)
    }

    /// GET `url`: the body of a 200 answer, at most `limit` bytes.
    pub fn get(&self, url: &Url, limit: usize) -> Result<Vec<u8>, Error> {
        let request = Request::get(url, &self.config.user_agent)?;
        driver::described(self.exchange(&request, limit)?)
    }

    /// POST an action and read its answer: the response, or [`Error::Fault`].
    pub fn call(&self, url: &Url, request: &ActionRequest) -> Result<ActionResponse, Error> {
        let http = Request::action(url, &self.config.user_agent, request)?;
        driver::interpret(&self.exchange(&http, SOAP_BODY_LIMIT)?, &request.action)
    }

    /// Call a typed action on `service_type` at `url`.
    pub fn perform<A: Action>(
        &self,
        url: &Url,
        service_type: &str,
        action: &A,
    ) -> Result<A::Output, Error> {
        let response = self.call(url, &action.request(service_type))?;
        action.output(&response)
    }

    /// One exchange: `request` sent on a new connection, its response read (body at most
    /// `body_limit` bytes), all within `Config::timeout`.
    pub fn exchange(&self, request: &Request, body_limit: usize) -> Result<Response, Error> {
        let now = Instant::now();
        let mut exchange =
            Exchange::new(request, body_limit, &self.config, now).until(self.deadline, now);
        let left = exchange.remaining(Instant::now())?;
        let addresses =
            resolve(request.host(), request.port(), left).map_err(|e| exchange.failed(e))?;
        exchange.resolved(addresses)?;
        let mut stream = loop {
            let (address, within) = exchange.poll_connect(Instant::now())?;
            match TcpStream::connect_timeout(&address, within) {
                Ok(stream) => break stream,
                Err(e) => exchange.connect_failed(e),
            }
        };
        exchange.connected();
        while !exchange.to_send().is_empty() {
            let left = exchange.remaining(Instant::now())?;
            match stream
                .set_write_timeout(Some(left))
                .and_then(|()| stream.write(exchange.to_send()))
            {
                Ok(0) => return Err(exchange.failed(io::ErrorKind::WriteZero.into())),
                Ok(n) => exchange.sent(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(exchange.failed(e)),
            }
        }
        let mut buf = [0u8; 8192];
        loop {
            let left = exchange.remaining(Instant::now())?;
            match stream
                .set_read_timeout(Some(left))
                .and_then(|()| stream.read(&mut buf))
            {
                Ok(0) => return exchange.finish(),
                Ok(n) => {
                    if exchange.received(buf.get(..n).unwrap_or_default())? {
                        return exchange.finish();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(exchange.failed(e)),
            }
        }
    }
}

/// The host's addresses. A name is resolved on a thread of its own so that the wait has a
/// deadline (the system resolver has none); a resolver that hangs is left to finish alone.
fn resolve(host: &Host<String>, port: u16, within: Duration) -> io::Result<Vec<SocketAddr>> {
    if let Some(address) = driver::literal(host, port) {
        return Ok(vec![address]);
    }
    let name = host.to_string();
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("upnp-resolve".into())
        .spawn(move || {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map(|all| all.take(MAX_RESOLVED).collect());
            let _ = tx.send(found);
        })?;
    rx.recv_timeout(within)
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}
