//! The async HTTP exchange, over `tokio::net::TcpStream` (feature `tokio`): the [`Exchange`]
//! machine's loop. It needs a tokio runtime with I/O and time enabled.

use std::io;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use url::Url;

use crate::actions::Action;
use crate::driver::{self, MAX_RESOLVED};
use crate::envelope::{ActionRequest, ActionResponse};
use crate::error::Error;
use crate::http::{Config, DESCRIPTION_BODY_LIMIT, Exchange, Request, Response, SOAP_BODY_LIMIT};

#[cfg(test)]
mod tests;

/// An async HTTP/1.1 client for a LAN protocol: no proxy, no redirects, one deadline per
/// exchange, capped bodies, one connection per exchange. Cheap to clone.
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
    pub async fn get_description(&self, url: &Url) -> Result<Vec<u8>, Error> {
        self.get(url, DESCRIPTION_BODY_LIMIT).await
    }

    /// GET `url`: the body of a 200 answer, at most `limit` bytes.
    pub async fn get(&self, url: &Url, limit: usize) -> Result<Vec<u8>, Error> {
        let request = Request::get(url, &self.config.user_agent)?;
        driver::described(self.exchange(&request, limit).await?)
    }

    /// POST an action and read its answer: the response, or [`Error::Fault`].
    pub async fn call(&self, url: &Url, request: &ActionRequest) -> Result<ActionResponse, Error> {
        let http = Request::action(url, &self.config.user_agent, request)?;
        let response = self.exchange(&http, SOAP_BODY_LIMIT).await?;
        driver::interpret(&response, &request.action)
    }

    /// Call a typed action on `service_type` at `url`.
    pub async fn perform<A: Action>(
        &self,
        url: &Url,
        service_type: &str,
        action: &A,
    ) -> Result<A::Output, Error> {
        let response = self.call(url, &action.request(service_type)).await?;
        action.output(&response)
    }

    /// One exchange: `request` sent on a new connection, its response read (body at most
    /// `body_limit` bytes), all within `Config::timeout`. Dropping the future closes the
    /// connection.
    pub async fn exchange(&self, request: &Request, body_limit: usize) -> Result<Response, Error> {
        let now = Instant::now();
        let mut exchange =
            Exchange::new(request, body_limit, &self.config, now).until(self.deadline, now);
        let addresses = match driver::literal(request.host(), request.port()) {
            Some(address) => vec![address],
            None => {
                let name = request.host().to_string();
                let lookup = tokio::net::lookup_host((name.as_str(), request.port()));
                match timeout(exchange.remaining(Instant::now())?, lookup).await {
                    Ok(Ok(found)) => found.take(MAX_RESOLVED).collect(),
                    Ok(Err(e)) => return Err(exchange.failed(e)),
                    Err(_) => return Err(exchange.timed_out()),
                }
            }
        };
        exchange.resolved(addresses)?;
        let mut stream = loop {
            let (address, within) = exchange.poll_connect(Instant::now())?;
            match timeout(within, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => break stream,
                Ok(Err(e)) => exchange.connect_failed(e),
                Err(_) => exchange.connect_failed(io::ErrorKind::TimedOut.into()),
            }
        };
        exchange.connected();
        while !exchange.to_send().is_empty() {
            let left = exchange.remaining(Instant::now())?;
            match timeout(left, stream.write(exchange.to_send())).await {
                Ok(Ok(0)) => return Err(exchange.failed(io::ErrorKind::WriteZero.into())),
                Ok(Ok(n)) => exchange.sent(n),
                Ok(Err(e)) => return Err(exchange.failed(e)),
                Err(_) => return Err(exchange.timed_out()),
            }
        }
        let mut buf = [0u8; 8192];
        loop {
            let left = exchange.remaining(Instant::now())?;
            match timeout(left, stream.read(&mut buf)).await {
                Ok(Ok(0)) => return exchange.finish(),
                Ok(Ok(n)) => {
                    if exchange.received(buf.get(..n).unwrap_or_default())? {
                        return exchange.finish();
                    }
                }
                Ok(Err(e)) => return Err(exchange.failed(e)),
                Err(_) => return Err(exchange.timed_out()),
            }
        }
    }
}
