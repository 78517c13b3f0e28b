//! The request encoder.

use bytes::{BufMut, Bytes, BytesMut};
use url::{Host, Url};

use crate::envelope::{ActionRequest, CONTENT_TYPE};
use crate::error::{Error, echo};

/// The two methods a control point uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Fetch a description or an SCPD.
    Get,
    /// Call an action.
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One HTTP/1.1 request, exactly as it goes on the wire: `Host`, `User-Agent`, for an action
/// `Content-Type`, `SOAPAction` and `Content-Length`, then `Connection: close`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    method: Method,
    host: Host<String>,
    port: u16,
    target: String,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

impl Request {
    /// `GET url`.
    pub fn get(url: &Url, user_agent: &str) -> Result<Request, Error> {
        Request::new(Method::Get, url, user_agent, Vec::new(), Bytes::new())
    }

    /// `POST` an action to its control URL.
    pub fn action(url: &Url, user_agent: &str, action: &ActionRequest) -> Result<Request, Error> {
        let body = Bytes::from(action.encode()?);
        let headers = vec![
            ("Content-Type", CONTENT_TYPE.to_owned()),
            ("SOAPAction", action.soap_action()?),
        ];
        Request::new(Method::Post, url, user_agent, headers, body)
    }

    fn new(
        method: Method,
        url: &Url,
        user_agent: &str,
        mut headers: Vec<(&'static str, String)>,
        body: Bytes,
    ) -> Result<Request, Error> {
        let refuse = |reason| Error::ForbiddenUrl {
            url: echo(url.as_str()),
            reason,
        };
        if url.scheme() != "http" {
            return Err(refuse("not http"));
        }
        let host = url.host().ok_or_else(|| refuse("no host"))?.to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| refuse("no port"))?;
        if !is_header_value(user_agent) {
            return Err(Error::InvalidName {
                what: "User-Agent",
                name: echo(user_agent),
            });
        }
        headers.insert(0, ("User-Agent", user_agent.to_owned()));
        // The url crate percent-encodes paths and queries: no space, CR or LF can remain.
        let mut target = url.path().to_owned();
        if let Some(query) = url.query() {
            target.push('?');
            target.push_str(query);
        }
        Ok(Request {
            method,
            host,
            port,
            target,
            headers,
            body,
        })
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The host to connect to (a name to resolve, or an address).
    pub fn host(&self) -> &Host<String> {
        &self.host
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request's bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(256 + self.body.len());
        let line = |out: &mut BytesMut, name: &str, value: &str| {
            out.put_slice(name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(b"\r\n");
        };
        out.put_slice(self.method.as_str().as_bytes());
        out.put_u8(b' ');
        out.put_slice(self.target.as_bytes());
        out.put_slice(b" HTTP/1.1\r\n");
        // Host: the port is left out when it is HTTP's own, as browsers and miniupnpc do.
        let host = match (&self.host, self.port) {
            (host, 80) => host.to_string(),
            (host, port) => format!("{host}:{port}"),
        };
        line(&mut out, "Host", &host);
        for (name, value) in &self.headers {
            line(&mut out, name, value);
        }
        if self.method == Method::Post {
            line(&mut out, "Content-Length", &self.body.len().to_string());
        }
        line(&mut out, "Connection", "close");
        out.put_slice(b"\r\n");
        out.put_slice(&self.body);
        out.freeze()
    }
}

/// Whether `value` can be a header value: visible ASCII and spaces, nothing that could end
/// the line.
fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
}
