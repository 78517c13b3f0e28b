//! A router that misbehaves the way real ones are reported to, on the lab's LAN host: it
//! serves a real router's description shape, keeps a port mapping table like a router, and
//! bends one rule or another as [`Quirks`] say (a WAN connection that says `Disconnected`
//! yet maps, a `GetStatusInfo` fault, permanent leases refused with 402, the internal port
//! recorded as the external one, 718 to any update of an existing mapping, only a range of
//! external ports allowed, faults whose text is not UTF-8). Requests are read and answers
//! written with this workspace's own SOAP codec. It forwards nothing: tests assert what the
//! client did and what the table holds.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use upnp_soap::{ActionRequest, ActionResponse, ErrorCode, SoapFault};

use crate::hostile::{Behaviour, Server};

/// What `GetStatusInfo` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `Connected`.
    Connected,
    /// `Disconnected`, though mappings work (TP-Link Archer C54, miniupnp#634).
    Disconnected,
    /// A 501 fault, though the rest works (godot#70458).
    Fault,
}

/// How the router bends the rules.
#[derive(Clone, Debug)]
pub struct Quirks {
    /// What `GetStatusInfo` says.
    pub status: Status,
    /// What `GetExternalIPAddress` says.
    pub external: String,
    /// A permanent lease (0) is refused with 402; finite ones up to a week are accepted
    /// (ARRIS NVG578LX, n0-computer/net-tools#52).
    pub permanent_refused: bool,
    /// The internal port is recorded as the external one, whatever was asked (Orange
    /// FunBox6, tailscale#14344).
    pub rewrite_internal_port: bool,
    /// An add of a mapping that exists (ours included) is refused with 718 (Open.NAT#14).
    pub declines_update: bool,
    /// Only external ports in this range are allowed, others 606 (MAP-E lines,
    /// miniupnp#465); `AddAnyPortMapping` picks in it.
    pub allowed: Option<(u16, u16)>,
    /// Every `AddPortMapping` is refused with this fault code, its text these bytes (TP-Link
    /// Archer C8 writes Latin-1).
    pub add_fault: Option<(u32, Vec<u8>)>,
}

impl Default for Quirks {
    fn default() -> Quirks {
        Quirks {
            status: Status::Connected,
            external: "11.0.0.7".into(),
            permanent_refused: false,
            rewrite_internal_port: false,
            declines_update: false,
            allowed: None,
            add_fault: None,
        }
    }
}

/// A mapping the router holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `TCP` or `UDP`.
    pub protocol: String,
    /// The external port.
    pub external_port: u16,
    /// The internal client.
    pub client: String,
    /// The internal port.
    pub internal_port: u16,
    /// The lease, in seconds (0: permanent).
    pub lease: u32,
}

#[derive(Default)]
struct State {
    table: Vec<Entry>,
    calls: Vec<String>,
    services: Vec<String>,
}

/// The router, serving until dropped.
pub struct Router {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl Router {
    /// Serve `description` (the path of a file in `tests/data/`) on `ip`, behaving as
    /// `quirks` say.
    pub fn start(ip: Ipv4Addr, description: &str, quirks: Quirks) -> Router {
        let path = format!("{}/data/{description}", env!("CARGO_MANIFEST_DIR"));
        let description = std::fs::read_to_string(&path).unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let server = Server::start(
            ip,
            Behaviour::Router {
                description,
                handler: Arc::new(move |body| answer(&quirks, &shared, body)),
            },
        );
        Router { server, state }
    }

    /// Its description URL.
    pub fn url(&self) -> String {
        self.server.url("igd.xml")
    }

    /// The mappings it holds now.
    pub fn table(&self) -> Vec<Entry> {
        self.state.lock().unwrap().table.clone()
    }

    /// The actions it was asked, in order.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The service type of each action asked, in order.
    pub fn services(&self) -> Vec<String> {
        self.state.lock().unwrap().services.clone()
    }
}

fn answer(quirks: &Quirks, state: &Mutex<State>, body: &[u8]) -> (u16, Vec<u8>) {
    let Ok(request) = ActionRequest::parse(body) else {
        return fault(401, b"Invalid Action");
    };
    let mut state = state.lock().unwrap();
    state.calls.push(request.action.clone());
    state.services.push(request.service_type.clone());
    let arg = |name: &str| {
        request
            .arguments
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let port = |name: &str| arg(name).parse::<u16>().unwrap_or(0);
    let ok = |arguments: &[(&str, String)]| {
        let response = ActionResponse {
            service_type: Some(request.service_type.clone()),
            action: request.action.clone(),
            arguments: arguments
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect(),
        };
        (200, response.encode().unwrap().into_bytes())
    };
    let find = |table: &[Entry], external: u16, protocol: &str| {
        table
            .iter()
            .position(|e| e.external_port == external && e.protocol == protocol)
    };
    match request.action.as_str() {
        "GetStatusInfo" => match quirks.status {
            Status::Fault => fault(501, b"Action Failed"),
            status => ok(&[
                (
                    "NewConnectionStatus",
                    match status {
                        Status::Connected => "Connected".into(),
                        _ => "Disconnected".into(),
                    },
                ),
                ("NewLastConnectionError", "ERROR_NONE".into()),
                ("NewUptime", "4688824".into()),
            ]),
        },
        "GetExternalIPAddress" => ok(&[("NewExternalIPAddress", quirks.external.clone())]),
        "GetSpecificPortMappingEntry" => {
            match find(&state.table, port("NewExternalPort"), &arg("NewProtocol")) {
                Some(i) => {
                    let e = state.table[i].clone();
                    ok(&[
                        ("NewInternalPort", e.internal_port.to_string()),
                        ("NewInternalClient", e.client),
                        ("NewEnabled", "1".into()),
                        ("NewPortMappingDescription", "quirky".into()),
                        ("NewLeaseDuration", e.lease.to_string()),
                    ])
                }
                None => fault(714, b"NoSuchEntryInArray"),
            }
        }
        "GetGenericPortMappingEntry" => {
            let index = arg("NewPortMappingIndex")
                .parse::<usize>()
                .unwrap_or(usize::MAX);
            match state.table.get(index).cloned() {
                Some(e) => ok(&[
                    ("NewRemoteHost", String::new()),
                    ("NewExternalPort", e.external_port.to_string()),
                    ("NewProtocol", e.protocol),
                    ("NewInternalPort", e.internal_port.to_string()),
                    ("NewInternalClient", e.client),
                    ("NewEnabled", "1".into()),
                    ("NewPortMappingDescription", "quirky".into()),
                    ("NewLeaseDuration", e.lease.to_string()),
                ]),
                None => fault(713, b"SpecifiedArrayIndexInvalid"),
            }
        }
        "AddPortMapping" | "AddAnyPortMapping" => {
            if let Some((code, text)) = &quirks.add_fault {
                return fault(*code, text);
            }
            let any = request.action == "AddAnyPortMapping";
            let lease = arg("NewLeaseDuration").parse::<u32>().unwrap_or(0);
            if quirks.permanent_refused && (lease == 0 || lease > 7 * 86_400) {
                return fault(402, b"Invalid Args");
            }
            let protocol = arg("NewProtocol");
            let mut external = port("NewExternalPort");
            let allowed = |p: u16| quirks.allowed.is_none_or(|(lo, hi)| (lo..=hi).contains(&p));
            if any && !allowed(external) {
                let (lo, hi) = quirks.allowed.unwrap_or((1024, 65535));
                match (lo..=hi).find(|p| find(&state.table, *p, &protocol).is_none()) {
                    Some(p) => external = p,
                    None => return fault(728, b"NoPortMapsAvailable"),
                }
            }
            if !allowed(external) {
                return fault(606, b"Action not authorized");
            }
            let mut entry = Entry {
                protocol: protocol.clone(),
                external_port: external,
                client: arg("NewInternalClient"),
                internal_port: port("NewInternalPort"),
                lease,
            };
            if quirks.rewrite_internal_port {
                entry.internal_port = external;
            }
            match find(&state.table, external, &protocol) {
                Some(_) if quirks.declines_update => return fault(718, b"ConflictInMappingEntry"),
                Some(i) if state.table[i].client != entry.client => {
                    return fault(718, b"ConflictInMappingEntry");
                }
                Some(i) => state.table[i] = entry,
                None => state.table.push(entry),
            }
            match any {
                true => ok(&[("NewReservedPort", external.to_string())]),
                false => ok(&[]),
            }
        }
        "DeletePortMapping" => {
            match find(&state.table, port("NewExternalPort"), &arg("NewProtocol")) {
                Some(i) => {
                    state.table.remove(i);
                    ok(&[])
                }
                None => fault(714, b"NoSuchEntryInArray"),
            }
        }
        _ => fault(401, b"Invalid Action"),
    }
}

/// A 500 answer: the UPnP fault `code`, its errorDescription these bytes as they are.
fn fault(code: u32, text: &[u8]) -> (u16, Vec<u8>) {
    const MARK: &str = "@@TEXT@@";
    let envelope = SoapFault::new(ErrorCode::from(code), MARK)
        .encode()
        .unwrap();
    let (before, after) = envelope.split_once(MARK).unwrap();
    (500, [before.as_bytes(), text, after.as_bytes()].concat())
}

/// How a [`PmpServer`] answers.
#[derive(Clone, Copy, Debug)]
pub enum PmpQuirk {
    /// Eight bytes of nothing to every request (TP-Link Archer A7, FRITZ!Box 7590 AX).
    Junk,
    /// A NAT-PMP gateway (PCP requests get "unsupported version") whose external address
    /// is this one (a router behind a modem's DMZ, tailscale#13745).
    NatPmpWithAddress(Ipv4Addr),
}

/// A PCP/NAT-PMP server on UDP 5351 of the LAN host, answering as told until dropped.
pub struct PmpServer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    answered: Arc<std::sync::atomic::AtomicUsize>,
}

impl PmpServer {
    /// Listen on `ip`:5351.
    pub fn start(ip: Ipv4Addr, quirk: PmpQuirk) -> PmpServer {
        use pcp_natpmp::{NatPmpRequest, NatPmpResponse, NatPmpResult};
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let socket = std::net::UdpSocket::bind((ip, pcp_natpmp::SERVER_PORT)).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_millis(20)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let (stopped, count) = (Arc::clone(&stop), Arc::clone(&answered));
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1100];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let request = &buf[..n];
                let answer = match quirk {
                    PmpQuirk::Junk => vec![
                        request.first().copied().unwrap_or(2),
                        0x81,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                    ],
                    PmpQuirk::NatPmpWithAddress(address) => match NatPmpRequest::parse(request) {
                        Ok(NatPmpRequest::ExternalAddress) => NatPmpResponse::ExternalAddress {
                            result: NatPmpResult::Success,
                            epoch: 100,
                            address,
                        }
                        .encode()
                        .unwrap(),
                        Ok(NatPmpRequest::Map {
                            protocol,
                            internal_port,
                            external_port,
                            lifetime,
                        }) => NatPmpResponse::Map {
                            protocol,
                            result: NatPmpResult::Success,
                            epoch: 100,
                            internal_port,
                            external_port: if external_port == 0 {
                                internal_port
                            } else {
                                external_port
                            },
                            lifetime,
                        }
                        .encode()
                        .unwrap(),
                        // A PCP request: this gateway speaks version 0 only.
                        Err(_) => NatPmpResponse::Bare {
                            opcode: request.get(1).copied().unwrap_or(0) & 0x7f,
                            result: NatPmpResult::UnsupportedVersion,
                            epoch: 100,
                        }
                        .encode()
                        .unwrap(),
                    },
                };
                count.fetch_add(1, Ordering::Relaxed);
                let _ = socket.send_to(&answer, from);
            }
        });
        PmpServer {
            stop,
            thread: Some(thread),
            answered,
        }
    }

    /// The datagrams it answered.
    pub fn answered(&self) -> usize {
        self.answered.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for PmpServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
