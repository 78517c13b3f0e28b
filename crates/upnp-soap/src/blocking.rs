//! The blocking HTTP exchange (reqwest's blocking client).
//!
//! Do not use it from inside an async runtime: reqwest's blocking client runs a runtime of
//! its own. Use [`crate::tokio`] there.

use std::io::Read;

use url::Url;

use crate::actions::Action;
use crate::driver::{self as http, Capped};
use crate::envelope::{ActionRequest, ActionResponse};
use crate::error::Error;
use crate::http::{Config, DESCRIPTION_BODY_LIMIT, SOAP_BODY_LIMIT};

#[cfg(test)]
mod tests;

/// An HTTP/1.1 client set up for a LAN protocol: no proxy, no redirects, timeouts, capped
/// bodies, one connection per exchange. Cheap to clone; share one.
#[derive(Clone, Debug)]
pub struct Client {
    inner: reqwest::blocking::Client,
}

impl Client {
    /// A client with these settings.
    pub fn new(config: &Config) -> Result<Client, Error> {
        let inner = reqwest::blocking::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .pool_max_idle_per_host(0)
            .http1_only()
            .http1_title_case_headers()
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(http::transport)?;
        Ok(Client { inner })
    }

    /// GET a description or SCPD: the body of a 200 answer, at most 256 KiB.
    pub fn get_description(&self, url: &Url) -> Result<Vec<u8>, Error> {
        self.get(url, DESCRIPTION_BODY_LIMIT)
    }

    /// GET `url`: the body of a 200 answer, at most `limit` bytes.
    pub fn get(&self, url: &Url, limit: usize) -> Result<Vec<u8>, Error> {
        let response = self
            .inner
            .get(url.clone())
            .header("Connection", "close")
            .send()
            .map_err(http::transport)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(Error::Status { status });
        }
        read_body(response, limit)
    }

    /// POST an action and read its answer: the response, or [`Error::Fault`].
    pub fn call(&self, url: &Url, request: &ActionRequest) -> Result<ActionResponse, Error> {
        let body = request.encode()?;
        let mut builder = self.inner.post(url.clone());
        for (name, value) in http::action_headers(request.soap_action()?) {
            builder = builder.header(name, value);
        }
        let response = builder.body(body).send().map_err(http::transport)?;
        let status = response.status().as_u16();
        let body = read_body(response, SOAP_BODY_LIMIT)?;
        http::interpret(status, &body, &request.action)
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
}

fn read_body(mut response: reqwest::blocking::Response, limit: usize) -> Result<Vec<u8>, Error> {
    let mut body = Capped::new(limit, response.content_length())?;
    let mut chunk = [0u8; 8192];
    loop {
        let n = match response.read(&mut chunk) {
            Ok(0) => return body.finish(),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(Error::Timeout),
            Err(e) => {
                return Err(
                    match e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
                    {
                        Some(inner) if inner.is_timeout() => Error::Timeout,
                        _ => Error::Transport(Box::new(e)),
                    },
                );
            }
        };
        body.push(chunk.get(..n).unwrap_or_default())?;
    }
}
