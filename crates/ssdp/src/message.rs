//! The SSDP message codec: bytes in, values out. No sockets, no clock.
//!
//! Three message kinds travel in SSDP datagrams: the [`MSearch`] request a control point
//! multicasts, the [`SearchResponse`] a device unicasts back, and the [`Notify`] a device
//! multicasts on its own (alive, byebye, update). [`Message::parse`] decodes any of them;
//! each type also has its own `parse` and an `encode` that [`Message::parse`] reads back.
//!
//! Decoding is tolerant the way real routers need: header names in any case, CRLF or bare LF,
//! spaces around names and values, repeated headers, no blank line at the end. Headers that are
//! not represented by a field are kept, in order, in `extra`. The rule for a known header is:
//! its first well-formed occurrence fills the field; any other occurrence (a repeat, or a value
//! that does not parse, such as `BOOTID.UPNP.ORG: soon`) stays in `extra`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::str::FromStr;

use crate::error::{Error, echo};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// The largest datagram we decode, in bytes. SSDP messages are a few hundred bytes; UDA
/// advises devices to stay well under the 1500-byte MTU.
pub const MAX_MESSAGE_SIZE: usize = 8192;

/// The SSDP port.
pub const SSDP_PORT: u16 = 1900;

/// The IPv4 SSDP multicast group and port, `239.255.255.250:1900`.
pub const IPV4_MULTICAST: SocketAddr = SocketAddr::V4(SocketAddrV4::new(
    Ipv4Addr::new(239, 255, 255, 250),
    SSDP_PORT,
));

/// The IPv6 link-local SSDP multicast group and port, `[FF02::C]:1900`.
pub const IPV6_LINK_LOCAL: SocketAddr = SocketAddr::V6(SocketAddrV6::new(
    Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xc),
    SSDP_PORT,
    0,
    0,
));

/// The IPv6 site-local SSDP multicast group and port, `[FF05::C]:1900`.
pub const IPV6_SITE_LOCAL: SocketAddr = SocketAddr::V6(SocketAddrV6::new(
    Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 0xc),
    SSDP_PORT,
    0,
    0,
));

/// A header that no typed field represents, as received (name and value trimmed).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The name, in the case it was received.
    pub name: String,
    /// The value, trimmed.
    pub value: String,
}

impl Header {
    /// A header from a name and a value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// What a search asks for (`ST`) or a notification announces (`NT`).
///
/// Parsing never fails: a value of no known form is kept as [`SearchTarget::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SearchTarget {
    /// `ssdp:all`: every device and service.
    All,
    /// `upnp:rootdevice`: root devices only.
    RootDevice,
    /// `uuid:...`: one device, by its UUID (without the `uuid:` prefix).
    Uuid(String),
    /// `urn:DOMAIN:device:TYPE:VERSION`.
    Device(UrnType),
    /// `urn:DOMAIN:service:TYPE:VERSION`.
    Service(UrnType),
    /// Anything else, as received.
    Other(String),
}

/// The parts of a device or service type URN, `urn:DOMAIN:KIND:NAME:VERSION`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UrnType {
    /// The domain, `schemas-upnp-org` for standard types (dots of a vendor domain replaced by
    /// hyphens, as UDA says).
    pub domain: String,
    /// The type name, e.g. `InternetGatewayDevice` or `WANIPConnection`.
    pub name: String,
    /// The version, e.g. 1 or 2.
    pub version: u32,
}

/// The UPnP Forum's domain in type URNs.
pub const UPNP_DOMAIN: &str = "schemas-upnp-org";

impl SearchTarget {
    /// A standard device type: `urn:schemas-upnp-org:device:NAME:VERSION`.
    pub fn device(name: &str, version: u32) -> Self {
        SearchTarget::Device(UrnType {
            domain: UPNP_DOMAIN.to_owned(),
            name: name.to_owned(),
            version,
        })
    }

    /// A standard service type: `urn:schemas-upnp-org:service:NAME:VERSION`.
    pub fn service(name: &str, version: u32) -> Self {
        SearchTarget::Service(UrnType {
            domain: UPNP_DOMAIN.to_owned(),
            name: name.to_owned(),
            version,
        })
    }

    /// Whether `self`, as announced by a device, serves a search for `wanted`: equal, or the same
    /// device or service type at a version at least the one wanted (UDA: a device of version N
    /// answers searches for every version up to N), or `wanted` is `ssdp:all`.
    pub fn satisfies(&self, wanted: &SearchTarget) -> bool {
        match (self, wanted) {
            (_, SearchTarget::All) => true,
            (SearchTarget::Device(have), SearchTarget::Device(want))
            | (SearchTarget::Service(have), SearchTarget::Service(want)) => {
                have.domain == want.domain && have.name == want.name && have.version >= want.version
            }
            _ => self == wanted,
        }
    }
}

impl FromStr for SearchTarget {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(parse_target(s))
    }
}

fn parse_target(s: &str) -> SearchTarget {
    if s.eq_ignore_ascii_case("ssdp:all") {
        return SearchTarget::All;
    }
    if s.eq_ignore_ascii_case("upnp:rootdevice") {
        return SearchTarget::RootDevice;
    }
    if let Some(uuid) = strip_prefix_ignore_case(s, "uuid:") {
        if !uuid.is_empty() {
            return SearchTarget::Uuid(uuid.to_owned());
        }
    }
    if let Some(rest) = strip_prefix_ignore_case(s, "urn:") {
        let mut parts = rest.split(':');
        if let (Some(domain), Some(kind), Some(name), Some(version), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) {
            let version = version.parse::<u32>().ok().filter(|_| is_digits(version));
            if let Some(version) = version.filter(|_| !domain.is_empty() && !name.is_empty()) {
                let urn = UrnType {
                    domain: domain.to_owned(),
                    name: name.to_owned(),
                    version,
                };
                match kind {
                    "device" => return SearchTarget::Device(urn),
                    "service" => return SearchTarget::Service(urn),
                    _ => {}
                }
            }
        }
    }
    SearchTarget::Other(s.to_owned())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

impl fmt::Display for SearchTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchTarget::All => f.write_str("ssdp:all"),
            SearchTarget::RootDevice => f.write_str("upnp:rootdevice"),
            SearchTarget::Uuid(uuid) => write!(f, "uuid:{uuid}"),
            SearchTarget::Device(u) => {
                write!(f, "urn:{}:device:{}:{}", u.domain, u.name, u.version)
            }
            SearchTarget::Service(u) => {
                write!(f, "urn:{}:service:{}:{}", u.domain, u.name, u.version)
            }
            SearchTarget::Other(s) => f.write_str(s),
        }
    }
}

/// An M-SEARCH request: what a control point multicasts to find devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MSearch {
    /// `HOST`: the multicast group and port (or a device's address for a unicast search).
    pub host: SocketAddr,
    /// `ST`: what is searched for.
    pub search_target: SearchTarget,
    /// `MX`: the longest a device may wait before answering, in seconds (required for multicast
    /// searches, where UDA bounds it to 1..=5; absent in unicast ones).
    pub mx: Option<u8>,
    /// `USER-AGENT`: `OS/version UPnP/2.0 product/version`.
    pub user_agent: Option<String>,
    /// Every other header, in order.
    pub extra: Vec<Header>,
}

impl MSearch {
    /// A multicast search over IPv4 for `search_target`, answered within `mx` seconds.
    pub fn new(search_target: SearchTarget, mx: u8) -> Self {
        MSearch {
            host: IPV4_MULTICAST,
            search_target,
            mx: Some(mx),
            user_agent: None,
            extra: Vec::new(),
        }
    }

    /// Decode an M-SEARCH; any other message is [`Error::UnexpectedKind`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        match Message::parse(bytes)? {
            Message::MSearch(m) => Ok(m),
            other => Err(other.unexpected("M-SEARCH")),
        }
    }

    /// Encode the request, ready to send.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut w = Writer::new("M-SEARCH * HTTP/1.1");
        w.header("HOST", &format_host(self.host))?;
        w.header("MAN", "\"ssdp:discover\"")?;
        if let Some(mx) = self.mx {
            w.header("MX", &mx.to_string())?;
        }
        w.header("ST", &self.search_target.to_string())?;
        if let Some(ua) = &self.user_agent {
            w.header("USER-AGENT", ua)?;
        }
        w.extra(&self.extra)?;
        Ok(w.finish())
    }
}

/// A device's answer to an M-SEARCH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchResponse {
    /// `LOCATION`: the URL of the root device description. Not checked here: the layers above
    /// parse it and compare its host with the responder's address.
    pub location: String,
    /// `ST`: what this response is for.
    pub search_target: SearchTarget,
    /// `USN`: the unique service name (`uuid:...::TYPE`). UDA requires it; some devices omit it.
    pub usn: Option<String>,
    /// `CACHE-CONTROL: max-age=N`: how long the answer stays valid, in seconds.
    pub max_age: Option<u32>,
    /// `SERVER`: `OS/version UPnP/1.1 product/version`.
    pub server: Option<String>,
    /// `BOOTID.UPNP.ORG` (UDA 1.1).
    pub boot_id: Option<u32>,
    /// `CONFIGID.UPNP.ORG` (UDA 1.1).
    pub config_id: Option<u32>,
    /// `SEARCHPORT.UPNP.ORG` (UDA 1.1): where the device listens for unicast M-SEARCH.
    pub search_port: Option<u16>,
    /// Every other header, in order (`EXT` excepted: it carries nothing).
    pub extra: Vec<Header>,
}

impl SearchResponse {
    /// A response with the two headers every response must have and nothing else.
    pub fn new(location: impl Into<String>, search_target: SearchTarget) -> Self {
        SearchResponse {
            location: location.into(),
            search_target,
            usn: None,
            max_age: None,
            server: None,
            boot_id: None,
            config_id: None,
            search_port: None,
            extra: Vec::new(),
        }
    }

    /// Decode a search response; any other message is [`Error::UnexpectedKind`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        match Message::parse(bytes)? {
            Message::SearchResponse(r) => Ok(r),
            other => Err(other.unexpected("search response")),
        }
    }

    /// Encode the response, as a device would send it.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut w = Writer::new("HTTP/1.1 200 OK");
        if let Some(age) = self.max_age {
            w.header("CACHE-CONTROL", &format!("max-age={age}"))?;
        }
        w.header("EXT", "")?;
        w.header("LOCATION", &self.location)?;
        w.optional("SERVER", self.server.as_deref())?;
        w.header("ST", &self.search_target.to_string())?;
        w.optional("USN", self.usn.as_deref())?;
        w.number("BOOTID.UPNP.ORG", self.boot_id)?;
        w.number("CONFIGID.UPNP.ORG", self.config_id)?;
        w.number("SEARCHPORT.UPNP.ORG", self.search_port)?;
        w.extra(&self.extra)?;
        Ok(w.finish())
    }
}

/// The three kinds of NOTIFY (`NTS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotifyKind {
    /// `ssdp:alive`: the device is (still) there.
    Alive,
    /// `ssdp:byebye`: the device is leaving.
    ByeBye,
    /// `ssdp:update`: the device's boot id changes (UDA 1.1).
    Update,
}

impl NotifyKind {
    fn as_str(self) -> &'static str {
        match self {
            NotifyKind::Alive => "ssdp:alive",
            NotifyKind::ByeBye => "ssdp:byebye",
            NotifyKind::Update => "ssdp:update",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [NotifyKind::Alive, NotifyKind::ByeBye, NotifyKind::Update]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

/// A NOTIFY: a device's own multicast announcement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    /// `HOST`: the multicast group and port.
    pub host: SocketAddr,
    /// `NTS`: alive, byebye or update.
    pub kind: NotifyKind,
    /// `NT`: what is announced.
    pub notification_type: SearchTarget,
    /// `USN`: the unique service name.
    pub usn: String,
    /// `LOCATION`: the description URL (required for alive and update, absent from byebye).
    pub location: Option<String>,
    /// `CACHE-CONTROL: max-age=N`, in seconds (alive).
    pub max_age: Option<u32>,
    /// `SERVER` (alive).
    pub server: Option<String>,
    /// `BOOTID.UPNP.ORG`.
    pub boot_id: Option<u32>,
    /// `CONFIGID.UPNP.ORG`.
    pub config_id: Option<u32>,
    /// `NEXTBOOTID.UPNP.ORG` (update).
    pub next_boot_id: Option<u32>,
    /// `SEARCHPORT.UPNP.ORG`.
    pub search_port: Option<u16>,
    /// Every other header, in order.
    pub extra: Vec<Header>,
}

impl Notify {
    /// Decode a NOTIFY; any other message is [`Error::UnexpectedKind`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        match Message::parse(bytes)? {
            Message::Notify(n) => Ok(n),
            other => Err(other.unexpected("NOTIFY")),
        }
    }

    /// Encode the notification.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        if self.location.is_none() && self.kind != NotifyKind::ByeBye {
            return Err(Error::MissingHeader("LOCATION"));
        }
        let mut w = Writer::new("NOTIFY * HTTP/1.1");
        w.header("HOST", &format_host(self.host))?;
        if let Some(age) = self.max_age {
            w.header("CACHE-CONTROL", &format!("max-age={age}"))?;
        }
        w.optional("LOCATION", self.location.as_deref())?;
        w.header("NT", &self.notification_type.to_string())?;
        w.header("NTS", self.kind.as_str())?;
        w.optional("SERVER", self.server.as_deref())?;
        w.header("USN", &self.usn)?;
        w.number("BOOTID.UPNP.ORG", self.boot_id)?;
        w.number("CONFIGID.UPNP.ORG", self.config_id)?;
        w.number("NEXTBOOTID.UPNP.ORG", self.next_boot_id)?;
        w.number("SEARCHPORT.UPNP.ORG", self.search_port)?;
        w.extra(&self.extra)?;
        Ok(w.finish())
    }
}

/// Any SSDP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// An M-SEARCH request.
    MSearch(MSearch),
    /// A search response.
    SearchResponse(SearchResponse),
    /// A NOTIFY.
    Notify(Notify),
}

impl Message {
    /// Decode one datagram. Never panics; anything unusable is an [`Error`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_MESSAGE_SIZE {
            return Err(Error::TooLarge {
                size: bytes.len(),
                limit: MAX_MESSAGE_SIZE,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| Error::NotUtf8)?;
        let raw = RawMessage::split(text)?;
        match raw.start {
            StartLine::Response => parse_response(raw.headers).map(Message::SearchResponse),
            StartLine::Notify => parse_notify(raw.headers).map(Message::Notify),
            StartLine::MSearch => parse_msearch(raw.headers).map(Message::MSearch),
        }
    }

    /// Encode the message.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        match self {
            Message::MSearch(m) => m.encode(),
            Message::SearchResponse(r) => r.encode(),
            Message::Notify(n) => n.encode(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Message::MSearch(_) => "M-SEARCH",
            Message::SearchResponse(_) => "search response",
            Message::Notify(_) => "NOTIFY",
        }
    }

    fn unexpected(&self, expected: &'static str) -> Error {
        Error::UnexpectedKind {
            expected,
            found: self.kind(),
        }
    }
}

enum StartLine {
    Response,
    Notify,
    MSearch,
}

struct RawMessage<'a> {
    start: StartLine,
    headers: Headers<'a>,
}

impl<'a> RawMessage<'a> {
    fn split(text: &'a str) -> Result<Self, Error> {
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let first = lines.next().unwrap_or_default().trim();
        if first.is_empty() {
            return Err(Error::Empty);
        }
        let start = parse_start_line(first)?;
        let mut headers = Vec::new();
        for line in lines {
            if line.trim().is_empty() {
                break; // end of headers; SSDP has no body, anything after is ignored
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| Error::MalformedHeader(echo(line)))?;
            let name = name.trim();
            if !is_token(name) {
                return Err(Error::MalformedHeader(echo(line)));
            }
            headers.push(Some((name, value.trim())));
        }
        Ok(RawMessage {
            start,
            headers: Headers(headers),
        })
    }
}

fn parse_start_line(line: &str) -> Result<StartLine, Error> {
    let mut words = line.split_whitespace();
    let (Some(first), Some(second)) = (words.next(), words.next()) else {
        return Err(Error::UnknownStartLine(echo(line)));
    };
    if is_http_version(first) {
        let status = is_digits(second)
            .then(|| second.parse::<u16>().ok())
            .flatten()
            .ok_or_else(|| Error::UnknownStartLine(echo(line)))?;
        return if status == 200 {
            Ok(StartLine::Response)
        } else {
            Err(Error::Status(status))
        };
    }
    let version_ok = words.next().is_some_and(is_http_version) && words.next().is_none();
    if second != "*" || !version_ok {
        return Err(Error::UnknownStartLine(echo(line)));
    }
    if first.eq_ignore_ascii_case("NOTIFY") {
        Ok(StartLine::Notify)
    } else if first.eq_ignore_ascii_case("M-SEARCH") {
        Ok(StartLine::MSearch)
    } else {
        Err(Error::UnknownStartLine(echo(line)))
    }
}

fn is_http_version(word: &str) -> bool {
    strip_prefix_ignore_case(word, "HTTP/1.").is_some_and(is_digits)
}

/// RFC 9110 token characters: what a header name may be made of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Headers not yet taken by a field; `None` marks a taken one.
struct Headers<'a>(Vec<Option<(&'a str, &'a str)>>);

impl<'a> Headers<'a> {
    /// Take the first occurrence of `name` for which `parse` succeeds.
    fn take<T>(&mut self, name: &str, parse: impl Fn(&'a str) -> Option<T>) -> Option<T> {
        self.0.iter_mut().find_map(|slot| {
            let (n, v) = (*slot)?;
            if !n.eq_ignore_ascii_case(name) {
                return None;
            }
            let value = parse(v)?;
            *slot = None;
            Some(value)
        })
    }

    fn text(&mut self, name: &str) -> Option<String> {
        self.take(name, |v| (!v.is_empty()).then(|| v.to_owned()))
    }

    fn number<T: FromStr>(&mut self, name: &str) -> Option<T> {
        self.take(name, |v| if is_digits(v) { v.parse().ok() } else { None })
    }

    fn target(&mut self, name: &str) -> Option<SearchTarget> {
        self.take(name, |v| (!v.is_empty()).then(|| parse_target(v)))
    }

    fn max_age(&mut self) -> Option<u32> {
        self.take("CACHE-CONTROL", parse_max_age)
    }

    fn host(&mut self) -> Result<SocketAddr, Error> {
        if let Some(host) = self.take("HOST", parse_host) {
            return Ok(host);
        }
        match self.take("HOST", Some) {
            Some(value) => Err(Error::InvalidHeader {
                name: "HOST",
                value: echo(value),
            }),
            None => Err(Error::MissingHeader("HOST")),
        }
    }

    /// Drop every occurrence of `name` (headers that carry nothing, such as `EXT`): only the
    /// first, so that a repeat survives a round trip through [`Writer`].
    fn drop_first(&mut self, name: &str) {
        self.take(name, |_| Some(()));
    }

    fn rest(self) -> Vec<Header> {
        self.0
            .into_iter()
            .flatten()
            .map(|(n, v)| Header::new(n, v))
            .collect()
    }
}

fn parse_max_age(value: &str) -> Option<u32> {
    value.split(',').find_map(|directive| {
        let (key, age) = directive.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("max-age") {
            return None;
        }
        let age = age.trim().trim_matches('"');
        if is_digits(age) {
            age.parse().ok()
        } else {
            None
        }
    })
}

fn parse_host(value: &str) -> Option<SocketAddr> {
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Some(addr);
    }
    // A HOST without a port means the SSDP port.
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    bare.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, SSDP_PORT))
}

fn format_host(host: SocketAddr) -> String {
    match host {
        SocketAddr::V4(a) => a.to_string(),
        // Scope ids are local to this machine: they never go on the wire.
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()).to_uppercase(),
    }
}

fn parse_response(mut h: Headers<'_>) -> Result<SearchResponse, Error> {
    let location = h.text("LOCATION").ok_or(Error::MissingHeader("LOCATION"))?;
    let search_target = h.target("ST").ok_or(Error::MissingHeader("ST"))?;
    h.drop_first("EXT");
    Ok(SearchResponse {
        location,
        search_target,
        usn: h.text("USN"),
        max_age: h.max_age(),
        server: h.text("SERVER"),
        boot_id: h.number("BOOTID.UPNP.ORG"),
        config_id: h.number("CONFIGID.UPNP.ORG"),
        search_port: h.number("SEARCHPORT.UPNP.ORG"),
        extra: h.rest(),
    })
}

fn parse_notify(mut h: Headers<'_>) -> Result<Notify, Error> {
    let host = h.host()?;
    let kind = match h.take("NTS", NotifyKind::parse) {
        Some(kind) => kind,
        None => {
            return Err(match h.take("NTS", Some) {
                Some(v) => Error::InvalidHeader {
                    name: "NTS",
                    value: echo(v),
                },
                None => Error::MissingHeader("NTS"),
            });
        }
    };
    let notification_type = h.target("NT").ok_or(Error::MissingHeader("NT"))?;
    let usn = h.text("USN").ok_or(Error::MissingHeader("USN"))?;
    let location = h.text("LOCATION");
    if location.is_none() && kind != NotifyKind::ByeBye {
        return Err(Error::MissingHeader("LOCATION"));
    }
    Ok(Notify {
        host,
        kind,
        notification_type,
        usn,
        location,
        max_age: h.max_age(),
        server: h.text("SERVER"),
        boot_id: h.number("BOOTID.UPNP.ORG"),
        config_id: h.number("CONFIGID.UPNP.ORG"),
        next_boot_id: h.number("NEXTBOOTID.UPNP.ORG"),
        search_port: h.number("SEARCHPORT.UPNP.ORG"),
        extra: h.rest(),
    })
}

fn parse_msearch(mut h: Headers<'_>) -> Result<MSearch, Error> {
    let host = h.host()?;
    let man_ok = |v: &str| v.trim_matches('"').eq_ignore_ascii_case("ssdp:discover");
    if h.take("MAN", |v| man_ok(v).then_some(())).is_none() {
        return Err(match h.take("MAN", Some) {
            Some(v) => Error::InvalidHeader {
                name: "MAN",
                value: echo(v),
            },
            None => Error::MissingHeader("MAN"),
        });
    }
    let search_target = h.target("ST").ok_or(Error::MissingHeader("ST"))?;
    Ok(MSearch {
        host,
        search_target,
        mx: h.number("MX"),
        user_agent: h.text("USER-AGENT"),
        extra: h.rest(),
    })
}

/// Writes a message, refusing values that would break its framing.
struct Writer {
    out: String,
}

impl Writer {
    fn new(start_line: &str) -> Self {
        let mut out = String::with_capacity(256);
        out.push_str(start_line);
        out.push_str("\r\n");
        Writer { out }
    }

    fn header(&mut self, name: &'static str, value: &str) -> Result<(), Error> {
        check_value(name, value)?;
        self.push(name, value);
        Ok(())
    }

    fn optional(&mut self, name: &'static str, value: Option<&str>) -> Result<(), Error> {
        match value {
            Some(v) => self.header(name, v),
            None => Ok(()),
        }
    }

    fn number(
        &mut self,
        name: &'static str,
        value: Option<impl fmt::Display>,
    ) -> Result<(), Error> {
        match value {
            Some(v) => self.header(name, &v.to_string()),
            None => Ok(()),
        }
    }

    fn extra(&mut self, headers: &[Header]) -> Result<(), Error> {
        for h in headers {
            if !is_token(&h.name) {
                return Err(Error::Unencodable {
                    what: "header name",
                    value: h.name.clone(),
                });
            }
            check_value("header value", &h.value)?;
            self.push(&h.name, &h.value);
        }
        Ok(())
    }

    fn push(&mut self, name: &str, value: &str) {
        self.out.push_str(name);
        self.out.push(':');
        if !value.is_empty() {
            self.out.push(' ');
            self.out.push_str(value);
        }
        self.out.push_str("\r\n");
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.push_str("\r\n");
        self.out.into_bytes()
    }
}

/// A value may not contain line breaks (it would end the header) nor surrounding white space
/// (decoding trims it, so it would not survive the round trip).
fn check_value(what: &'static str, value: &str) -> Result<(), Error> {
    if value.contains(['\r', '\n']) || value.trim() != value {
        return Err(Error::Unencodable {
            what,
            value: value.to_owned(),
        });
    }
    Ok(())
}
