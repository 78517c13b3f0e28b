//! Hosts that misbehave on purpose, on the lab's LAN host: an SSDP responder that answers
//! every search with what a test chooses (a silent host's LOCATION, a flood, a URL naming
//! another host), and HTTP servers that never answer, trickle, or play a gateway whose
//! answers a test writes. Each runs on threads of its own until dropped, and counts the
//! connections it gets, so a test can assert who was contacted.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::Lab;

/// The IGDv1 device type, which Godot's filter keeps.
pub const IGD1: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";
/// The WANIPConnection:1 service type.
pub const WANIP1: &str = "urn:schemas-upnp-org:service:WANIPConnection:1";

/// Answers every M-SEARCH seen on the LAN host with one response per LOCATION, each from
/// the LAN host's address, on the first search only when `once`.
pub struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    /// Start answering searches with these LOCATIONs (search target: IGD:1).
    pub fn start(lab: &Lab, locations: Vec<String>, once: bool) -> Responder {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        socket.set_reuse_address(true).unwrap();
        socket.set_reuse_port(true).unwrap();
        socket
            .bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 1900)).into())
            .unwrap();
        socket
            .join_multicast_v4(&Ipv4Addr::new(239, 255, 255, 250), &lab.host_addr)
            .unwrap();
        let socket: UdpSocket = socket.into();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut answered = false;
            while !stopped.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if !buf[..n].starts_with(b"M-SEARCH") || (once && answered) {
                    continue;
                }
                answered = true;
                for (i, location) in locations.iter().enumerate() {
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nEXT:\r\n\
                         LOCATION: {location}\r\nSERVER: hostile/1 UPnP/1.1 lab/1\r\n\
                         ST: {IGD1}\r\nUSN: uuid:hostile-{i}::{IGD1}\r\n\r\n"
                    );
                    let _ = socket.send_to(answer.as_bytes(), from);
                }
            }
        });
        Responder {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a gateway played by [`Server`] answers to an action: HTTP status and body.
pub type Handler = Arc<dyn Fn(&str) -> (u16, String) + Send + Sync>;

/// What a router played by [`Server`] answers to a request's body (the SOAP envelope):
/// HTTP status and body bytes.
pub type RawHandler = Arc<dyn Fn(&[u8]) -> (u16, Vec<u8>) + Send + Sync>;

/// How a [`Server`] behaves.
#[derive(Clone)]
pub enum Behaviour {
    /// Accept, read nothing, answer nothing, hold the connection.
    Silent,
    /// Answer one byte at a time, this far apart, forever.
    Trickle(Duration),
    /// A gateway: `GET /desc.xml` gives an IGDv1 description (with this friendlyName) whose
    /// WANIPConnection:1 is controlled at `/ctl`; each POST to it is answered by the handler,
    /// given the action's name.
    Gateway {
        /// The description's friendlyName.
        friendly_name: String,
        /// The answers to actions.
        handler: Handler,
    },
    /// A router: any GET gives this description, any POST is answered by the handler, given
    /// the request's body.
    Router {
        /// The description served.
        description: String,
        /// The answers to requests.
        handler: RawHandler,
    },
}

/// A TCP server on the LAN host that behaves as told and counts its connections.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listen on `ip` (any port) and behave so.
    pub fn start(ip: Ipv4Addr, behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind(SocketAddrV4::new(ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (counted, stopped) = (Arc::clone(&connections), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            let mut held = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                counted.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_nonblocking(false);
                match &behaviour {
                    Behaviour::Silent => held.push(stream),
                    Behaviour::Trickle(every) => {
                        let (every, stopped) = (*every, Arc::clone(&stopped));
                        thread::spawn(move || trickle(stream, every, &stopped));
                    }
                    Behaviour::Gateway {
                        friendly_name,
                        handler,
                    } => {
                        let (name, handler) = (friendly_name.clone(), Arc::clone(handler));
                        thread::spawn(move || serve(stream, &name, &handler));
                    }
                    Behaviour::Router {
                        description,
                        handler,
                    } => {
                        let (description, handler) = (description.clone(), Arc::clone(handler));
                        thread::spawn(move || serve_router(stream, &description, &handler));
                    }
                }
            }
        });
        Server {
            addr,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    /// The connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// `http://ADDR/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn trickle(mut stream: TcpStream, every: Duration, stop: &AtomicBool) {
    let answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n";
    for byte in answer.iter().cycle() {
        if stop.load(Ordering::Relaxed) || stream.write_all(&[*byte]).is_err() {
            return;
        }
        thread::sleep(every);
    }
}

/// One request: its first line, its SOAPAction's action name (empty for a GET) and its body.
fn read_request(stream: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || data.len() > 65536 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut length = 0usize;
    let mut action = String::new();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "soapaction" => {
                action = value
                    .trim()
                    .trim_matches('"')
                    .rsplit('#')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            }
            _ => {}
        }
    }
    while data.len() < head_end + length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let body = data.get(head_end..).unwrap_or_default().to_vec();
    Some((
        head.lines().next().unwrap_or_default().to_owned(),
        action,
        body,
    ))
}

fn serve(mut stream: TcpStream, friendly_name: &str, handler: &Handler) {
    let Some((first_line, action, _)) = read_request(&mut stream) else {
        return;
    };
    let (status, body) = if first_line.starts_with("GET") {
        (200, description(friendly_name))
    } else {
        handler(&action)
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        if status == 200 { "OK" } else { "Error" },
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

fn serve_router(mut stream: TcpStream, description: &str, handler: &RawHandler) {
    let Some((first_line, _, body)) = read_request(&mut stream) else {
        return;
    };
    let (status, body) = if first_line.starts_with("GET") {
        (200, description.as_bytes().to_vec())
    } else {
        handler(&body)
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        if status == 200 {
            "OK"
        } else {
            "Internal Server Error"
        },
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// An IGDv1 description with one WANIPConnection:1 at `/ctl`.
pub fn description(friendly_name: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><root xmlns=\"urn:schemas-upnp-org:device-1-0\">\
         <specVersion><major>1</major><minor>0</minor></specVersion><device>\
         <deviceType>{IGD1}</deviceType><friendlyName>{friendly_name}</friendlyName>\
         <UDN>uuid:hostile-gw</UDN><deviceList><device>\
         <deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><UDN>uuid:hostile-wan</UDN>\
         <deviceList><device>\
         <deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>\
         <UDN>uuid:hostile-wcd</UDN><serviceList><service><serviceType>{WANIP1}</serviceType>\
         <serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl</controlURL>\
         <eventSubURL>/evt</eventSubURL><SCPDURL>/scpd.xml</SCPDURL></service></serviceList>\
         </device></deviceList></device></deviceList></device></root>"
    )
}

/// A 200 answer to `action` with these output arguments.
pub fn answer(action: &str, arguments: &[(&str, &str)]) -> (u16, String) {
    let arguments: String = arguments
        .iter()
        .map(|(name, value)| format!("<{name}>{value}</{name}>"))
        .collect();
    (
        200,
        format!(
            "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
             <u:{action}Response xmlns:u=\"{WANIP1}\">{arguments}</u:{action}Response>\
             </s:Body></s:Envelope>"
        ),
    )
}

/// A 500 answer: the UPnP fault `code` with this description.
pub fn fault(code: u32, description: &str) -> (u16, String) {
    (
        500,
        format!(
            "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><s:Fault>\
             <faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>\
             <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>{code}</errorCode>\
             <errorDescription>{description}</errorDescription></UPnPError></detail></s:Fault>\
             </s:Body></s:Envelope>"
        ),
    )
}

/// A mapping entry, as GetSpecificPortMappingEntry answers it.
pub fn entry(client: &str, port: u16) -> (u16, String) {
    answer(
        "GetSpecificPortMappingEntry",
        &[
            ("NewInternalPort", &port.to_string()),
            ("NewInternalClient", client),
            ("NewEnabled", "1"),
            ("NewPortMappingDescription", "theirs"),
            ("NewLeaseDuration", "0"),
        ],
    )
}

/// A healthy gateway's answers to the probe: connected, this external address.
pub fn probe_answer(action: &str, external: &str) -> Option<(u16, String)> {
    match action {
        "GetStatusInfo" => Some(answer(
            action,
            &[
                ("NewConnectionStatus", "Connected"),
                ("NewLastConnectionError", "ERROR_NONE"),
                ("NewUptime", "100"),
            ],
        )),
        "GetExternalIPAddress" => Some(answer(action, &[("NewExternalIPAddress", external)])),
        _ => None,
    }
}

/// The peak resident memory of this process so far, in KiB (VmHWM).
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
