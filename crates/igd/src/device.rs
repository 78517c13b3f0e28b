//! A discovered device, what probing it found, and which gateway is best. No I/O: the
//! probe is a state machine that the drivers run.

use std::net::IpAddr;

use upnp_desc::DeviceDescription;
use upnp_soap::actions::{Action, GetExternalIpAddress, GetStatusInfo};
use upnp_soap::{ActionRequest, ActionResponse, endpoint};
use url::Url;

use crate::error::is_transport;
use crate::error::{DeviceStatus, Error, IgdStatus};

#[cfg(test)]
mod tests;

/// Godot's `UPNPDevice` properties, and what else probing the device found.
///
/// With feature `serde` it can be saved, and a program that found its gateway a moment ago
/// rebuilds it from what it saved with one exchange (`Probe::revalidate`, the drivers'
/// `Upnp::revalidate`) instead of searching.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Device {
    /// The URL of the device's description (the SSDP LOCATION).
    pub description_url: String,
    /// The search target the device answered (its SSDP `ST`).
    pub service_type: String,
    /// The control URL of its WAN connection service.
    pub igd_control_url: String,
    /// The type of that service, e.g. `urn:schemas-upnp-org:service:WANIPConnection:2`.
    pub igd_service_type: String,
    /// Our own address on the path to the gateway (what mappings forward to).
    pub igd_our_addr: String,
    /// What probing the device found.
    pub igd_status: IgdStatus,
    /// The device's friendly name, when its description gives one.
    pub friendly_name: Option<String>,
    /// 1 or 2: the InternetGatewayDevice version its description declares.
    pub igd_version: Option<u32>,
    /// The gateway's external address, when it reported one.
    pub external_address: Option<IpAddr>,
    /// Why the status is not OK, in words.
    pub status_detail: Option<String>,
    /// Its `WANIPv6FirewallControl` service (IPv6 pinholes), when the description offers one
    /// whose control URL passes the same checks as the connection service's.
    pub ipv6_firewall: Option<ServiceUrl>,
    /// The address our pinholes let in to, when the gateway offers them: the one our calls
    /// to its firewall service come from when that is global (gateways refuse a pinhole to
    /// another address than the caller's), else our global IPv6 address (the drivers fill
    /// it, like `igd_our_addr`).
    pub pinhole_addr: Option<std::net::Ipv6Addr>,
    /// The root device's `UDN` (`uuid:...`) as its description gives it: what its SSDP
    /// notifications name it by (shown escaped, like any text from the network).
    pub udn: Option<String>,
    /// The `BOOTID.UPNP.ORG` of its SSDP answer, when it gave one: a later notification
    /// with another is a restart, even before any notification of it was heard.
    pub boot_id: Option<u32>,
}

/// A service of the gateway: where to call it, and its type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServiceUrl {
    /// Its control URL (resolved, checked).
    pub control_url: String,
    /// Its service type, e.g. `urn:schemas-upnp-org:service:WANIPv6FirewallControl:1`.
    pub service_type: String,
}

impl Device {
    /// A device known by its description URL only, not probed yet (status UNKNOWN_ERROR).
    pub fn new(description_url: impl Into<String>, service_type: impl Into<String>) -> Device {
        Device {
            description_url: description_url.into(),
            service_type: service_type.into(),
            igd_control_url: String::new(),
            igd_service_type: String::new(),
            igd_our_addr: String::new(),
            igd_status: IgdStatus::UnknownError,
            friendly_name: None,
            igd_version: None,
            external_address: None,
            status_detail: None,
            ipv6_firewall: None,
            pinhole_addr: None,
            udn: None,
            boot_id: None,
        }
    }

    /// Godot's `is_valid_gateway`: status OK and a control URL and service type.
    pub fn is_valid_gateway(&self) -> bool {
        self.igd_status == IgdStatus::Ok
            && !self.igd_control_url.is_empty()
            && !self.igd_service_type.is_empty()
    }

    /// A gateway that can be asked to map even though it is not valid: its WAN connection
    /// says it is not connected ([`IgdStatus::Disconnected`]) or answered `GetStatusInfo`
    /// with an error ([`IgdStatus::InvalidControl`]), yet its connection service has a
    /// control URL that passed every check. Many routers say so and map all the same; the
    /// operations that need a gateway (`find_gateway`, the keeper) use one when no valid
    /// gateway answered, and what it then refuses is reported as its refusal. Valid
    /// gateways are usable too.
    pub fn is_usable(&self) -> bool {
        usable_rank(self).is_some()
    }

    /// The gateway's external address is itself private, shared (CGNAT, 100.64/10) or
    /// otherwise not public: a double NAT, where a mapping here does not reach the Internet.
    pub fn is_behind_nat(&self) -> Option<bool> {
        self.external_address.map(|ip| !is_public(ip))
    }
}

/// Whether an IPv4 address is one a NAT in front hands out: RFC 1918's ranges or RFC 6598's
/// shared space (a carrier's NAT).
pub(crate) fn is_private_or_shared(v4: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_private() || (a == 100 && (64..128).contains(&b))
}

/// Whether an address is reachable from the Internet (not private, shared, loopback,
/// link-local, documentation or unspecified).
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(is_private_or_shared(v4)
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation())
        }
        IpAddr::V6(v6) => {
            let first = v6.segments().first().copied().unwrap_or_default();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unicast_link_local()
                || (first & 0xfe00) == 0xfc00
                || (first == 0x2001 && v6.segments().get(1) == Some(&0x0db8)))
        }
    }
}

/// The index of the best gateway: valid with a public address, then valid behind another
/// NAT, then valid with no address reported; `None` when none is valid.
pub(crate) fn best_gateway<'a>(devices: impl IntoIterator<Item = &'a Device>) -> Option<usize> {
    devices
        .into_iter()
        .enumerate()
        .filter(|(_, d)| d.is_valid_gateway())
        .min_by_key(|(i, d)| {
            let rank = match d.is_behind_nat() {
                Some(false) => 0,
                Some(true) => 1,
                None => 2,
            };
            (rank, *i)
        })
        .map(|(i, _)| i)
}

/// Godot's `get_gateway` over any list of devices: the best valid gateway, or why none is.
pub(crate) fn select_gateway<T>(items: &[T], device: impl Fn(&T) -> &Device) -> Result<&T, Error> {
    select(items, &device, best_gateway(items.iter().map(&device)))
}

/// miniupnpc's order (`UPNP_GetValidIGD`): a valid gateway as [`best_gateway`] ranks them,
/// then one whose connection says it is not connected, then one whose status is unknown (a
/// fault to `GetStatusInfo`); `None` for any other (nothing to call).
fn usable_rank(device: &Device) -> Option<u8> {
    if device.igd_control_url.is_empty() || device.igd_service_type.is_empty() {
        return None;
    }
    match device.igd_status {
        IgdStatus::Ok => Some(rank(device)),
        IgdStatus::Disconnected => Some(3),
        IgdStatus::InvalidControl => Some(4),
        _ => None,
    }
}

/// The index of the best usable gateway ([`Device::is_usable`]): a valid one first.
pub(crate) fn best_usable<'a>(devices: impl IntoIterator<Item = &'a Device>) -> Option<usize> {
    devices
        .into_iter()
        .enumerate()
        .filter_map(|(i, d)| Some((usable_rank(d)?, i)))
        .min()
        .map(|(_, i)| i)
}

/// The gateway to use when one is needed: the best valid one, else the best usable one
/// ([`Device::is_usable`]), or why there is none.
pub(crate) fn select_usable<T>(items: &[T], device: impl Fn(&T) -> &Device) -> Result<&T, Error> {
    select(items, &device, best_usable(items.iter().map(&device)))
}

fn select<'a, T>(
    items: &'a [T],
    device: &impl Fn(&T) -> &Device,
    chosen: Option<usize>,
) -> Result<&'a T, Error> {
    if items.is_empty() {
        return Err(Error::NoDevices);
    }
    chosen.and_then(|i| items.get(i)).ok_or_else(|| {
        Error::NoGateway(
            items
                .iter()
                .map(|d| DeviceStatus::from(device(d)))
                .collect(),
        )
    })
}

/// The next thing a driver does for a [`Probe`].
#[non_exhaustive]
#[derive(Clone, Debug)]
pub(crate) enum ProbeStep {
    /// GET this URL (a description, at most 256 KiB) and hand the outcome to
    /// [`Probe::fetched`].
    Fetch(Url),
    /// POST this request to this control URL and hand the outcome to [`Probe::answered`].
    Call(Url, ActionRequest),
    /// Finished: the device, with its status. The driver fills in `igd_our_addr`.
    Done(Box<Device>),
}

#[derive(Clone, Debug)]
enum ProbeState {
    Fetching,
    Status {
        candidates: Vec<(Url, String)>,
    },
    Address {
        candidates: Vec<(Url, String)>,
    },
    /// No connection is fully valid: the external address of the best usable one.
    Usable,
}

/// Connection services of one description tried, at most: a description listing hundreds
/// cannot make a probe try hundreds.
pub(crate) const MAX_CONNECTIONS: usize = 8;

/// Probing one device: fetch its description, pick its connection service, ask whether it is
/// connected and what its external address is.
///
/// The connection services are tried in the description's order (at most
/// [`MAX_CONNECTIONS`]); the first connected one with a public external address wins. When a
/// connected one is behind another NAT (a private or shared external address), the others are
/// still asked, and the best found is kept (public, then behind NAT, then no address), as
/// [`best_gateway`] ranks devices.
#[derive(Clone, Debug)]
pub(crate) struct Probe {
    device: Device,
    location: Option<Url>,
    responder: Option<IpAddr>,
    state: ProbeState,
    fallback: Option<Device>,
    /// The best connection service that is not connected, or whose status is unknown, yet
    /// can be called: used when no connected one is found.
    usable: Option<Device>,
    /// A gateway found before, checked with one exchange ([`Probe::revalidate`]).
    warm: bool,
}

/// A URL's host when it is an address (`None` for a name).
fn host_ip(url: &Url) -> Option<IpAddr> {
    match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(v4.into()),
        Some(url::Host::Ipv6(v6)) => Some(v6.into()),
        _ => None,
    }
}

/// What an OK gateway's external address says, when it says something: behind another NAT,
/// or none given.
fn address_detail(external: Option<IpAddr>) -> Option<String> {
    match external {
        Some(ip) if !is_public(ip) => Some(format!(
            "the external address {ip} is not public: another NAT is in front of this gateway"
        )),
        None => Some("the gateway reports no external address".to_owned()),
        Some(_) => None,
    }
}

/// 0: public address, 1: behind another NAT, 2: no address.
fn rank(device: &Device) -> u8 {
    match device.is_behind_nat() {
        Some(false) => 0,
        Some(true) => 1,
        None => 2,
    }
}

impl Probe {
    /// Probe the device behind `device.description_url`; `responder` is the address the
    /// SSDP answer came from (None when the URL came from the user).
    pub(crate) fn new(device: Device, responder: Option<IpAddr>) -> Probe {
        Probe {
            location: Url::parse(&device.description_url).ok(),
            device,
            responder,
            state: ProbeState::Fetching,
            fallback: None,
            usable: None,
            warm: false,
        }
    }

    /// Check a gateway found before (a [`Device`] a probe gave, perhaps saved and read back:
    /// it is treated as untrusted) with one exchange instead of a search and three: its
    /// `GetExternalIPAddress`. The saved URLs pass the same checks as a description's (a
    /// control URL on the description's host, [`endpoint::check`]); the gateway is valid
    /// again only if it answers with an address. Anything else ends in a status that is not
    /// OK, and the caller searches as usual.
    ///
    /// What the probe skips, and why it is safe: the description (the URLs and service type
    /// saved came from it, and a gateway that changed its URLs fails the call) and
    /// `GetStatusInfo` (a WAN connection that gives an external address is up; a gateway
    /// whose connection is down answers with none, or an error).
    #[cfg(any(test, feature = "blocking", feature = "tokio"))]
    pub(crate) fn revalidate(saved: Device) -> Probe {
        let mut device = Device::new(saved.description_url, saved.service_type);
        device.igd_control_url = saved.igd_control_url;
        device.igd_service_type = saved.igd_service_type;
        device.friendly_name = saved.friendly_name;
        device.udn = saved.udn;
        device.boot_id = saved.boot_id;
        device.igd_version = saved.igd_version;
        device.ipv6_firewall = saved.ipv6_firewall;
        // Only a valid gateway is taken back on one exchange: a usable one is searched for
        // again (another gateway may have become valid since).
        device.igd_status = saved.igd_status;
        let mut probe = Probe::new(device, None);
        probe.warm = true;
        probe
    }

    /// The first step of [`Probe::revalidate`]: the saved URLs checked, then the one call.
    fn start_warm(&mut self) -> ProbeStep {
        if self.device.igd_status != IgdStatus::Ok {
            return self.finish(
                self.device.igd_status,
                "the saved gateway was not valid: search again",
            );
        }
        let Some(location) = self.location.clone() else {
            return self.finish(
                IgdStatus::HttpError,
                "the saved description URL does not parse",
            );
        };
        let same_host = |raw: &str| -> Result<Url, String> {
            let url = Url::parse(raw).map_err(|e| format!("{raw}: {e}"))?;
            if url.host() != location.host()
                || url.port_or_known_default() != location.port_or_known_default()
            {
                return Err(format!("{url} is on another host than the description"));
            }
            endpoint::check(&url, host_ip(&url)).map_err(|e| e.to_string())?;
            Ok(url)
        };
        if let Err(e) = endpoint::check(&location, None) {
            return self.finish(IgdStatus::HttpError, &e.to_string());
        }
        let control = match same_host(&self.device.igd_control_url) {
            Ok(url) => url,
            Err(why) => return self.finish(IgdStatus::InvalidControl, &why),
        };
        let service_name = self.device.igd_service_type.split(':').nth(3);
        if !matches!(service_name, Some("WANIPConnection" | "WANPPPConnection"))
            || !self.device.igd_service_type.starts_with("urn:")
        {
            return self.finish(
                IgdStatus::InvalidControl,
                "the saved service type is not a WAN connection service",
            );
        }
        self.device.ipv6_firewall = self
            .device
            .ipv6_firewall
            .take()
            .filter(|service| same_host(&service.control_url).is_ok());
        self.state = ProbeState::Address {
            candidates: Vec::new(),
        };
        ProbeStep::Call(
            control,
            GetExternalIpAddress.request(&self.device.igd_service_type),
        )
    }

    #[cfg(test)]
    /// The device as known so far (its description URL and search target at least).
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    /// The first step.
    pub(crate) fn start(&mut self) -> ProbeStep {
        if self.warm {
            return self.start_warm();
        }
        let Some(location) = self.location.clone() else {
            return self.finish(IgdStatus::HttpError, "the description URL does not parse");
        };
        if let Some(responder) = self.responder {
            if let Err(e) = endpoint::check_location(&location, responder) {
                return self.finish(IgdStatus::HttpError, &e.to_string());
            }
        }
        self.state = ProbeState::Fetching;
        ProbeStep::Fetch(location)
    }

    /// Feed the description fetched.
    pub(crate) fn fetched(&mut self, outcome: Result<Vec<u8>, upnp_soap::Error>) -> ProbeStep {
        let bytes = match outcome {
            Ok(bytes) => bytes,
            Err(e) => return self.finish(IgdStatus::HttpError, &e.to_string()),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return self.finish(IgdStatus::HttpEmpty, "the description is empty");
        }
        let description = match DeviceDescription::parse(&bytes) {
            Ok(d) => d,
            Err(e) => return self.finish(IgdStatus::UnknownDevice, &e.to_string()),
        };
        self.device.friendly_name = description.device.friendly_name.clone();
        self.device.udn = description.device.udn.clone();
        let gateway = match description.gateway() {
            Ok(g) => g,
            Err(e @ upnp_desc::Error::NoConnectionService) => {
                return self.finish(IgdStatus::NoIgd, &e.to_string());
            }
            Err(e) => return self.finish(IgdStatus::UnknownDevice, &e.to_string()),
        };
        self.device.igd_version = Some(gateway.igd_version);
        let Some(location) = self.location.clone() else {
            return self.finish(IgdStatus::HttpError, "the description URL does not parse");
        };
        let responder = host_ip(&location).or(self.responder);
        let check = |raw: &str| -> Result<Url, String> {
            let resolved = description
                .resolve(raw, &location)
                .map_err(|e| e.to_string())?;
            if resolved.foreign_host {
                return Err(format!(
                    "control URL {} is on another host than the description",
                    resolved.url
                ));
            }
            endpoint::check(&resolved.url, responder).map_err(|e| e.to_string())?;
            Ok(resolved.url)
        };
        self.device.ipv6_firewall = gateway.ipv6_firewall.and_then(|service| {
            let url = check(service.control_url.as_deref()?).ok()?;
            Some(ServiceUrl {
                control_url: url.to_string(),
                service_type: service.service_type.clone(),
            })
        });
        let mut candidates = Vec::new();
        let mut refused = None;
        for connection in gateway.connections.iter().take(MAX_CONNECTIONS) {
            let Some(raw) = connection.service.control_url.as_deref() else {
                continue;
            };
            let checked = check(raw);
            match checked {
                Ok(url) => candidates.push((url, connection.service.service_type.clone())),
                Err(why) => {
                    event!(why = %upnp_desc::text::shown(&why, 256), "control URL refused");
                    refused = refused.or(Some(why));
                }
            }
        }
        if candidates.is_empty() {
            return match refused {
                Some(why) => self.finish(IgdStatus::InvalidControl, &why),
                None => self.finish(IgdStatus::NoUrls, "no connection service has a control URL"),
            };
        }
        self.next_candidate(candidates)
    }

    fn next_candidate(&mut self, mut candidates: Vec<(Url, String)>) -> ProbeStep {
        if candidates.is_empty() {
            return self.exhausted(
                IgdStatus::Disconnected,
                "no connection service says it is connected",
            );
        }
        let (url, service_type) = candidates.remove(0);
        self.device.igd_control_url = url.to_string();
        self.device.igd_service_type = service_type.clone();
        self.device.external_address = None;
        self.state = ProbeState::Status { candidates };
        ProbeStep::Call(url, GetStatusInfo.request(&service_type))
    }

    /// Feed the answer to the last call.
    pub(crate) fn answered(
        &mut self,
        outcome: Result<ActionResponse, upnp_soap::Error>,
    ) -> ProbeStep {
        match std::mem::replace(&mut self.state, ProbeState::Fetching) {
            ProbeState::Status { candidates } => {
                match outcome.and_then(|r| GetStatusInfo.output(&r)) {
                    Ok(info) if info.status.is_connected() => {
                        let Ok(url) = Url::parse(&self.device.igd_control_url) else {
                            return self.finish(IgdStatus::InvalidControl, "control URL");
                        };
                        self.state = ProbeState::Address { candidates };
                        ProbeStep::Call(
                            url,
                            GetExternalIpAddress.request(&self.device.igd_service_type),
                        )
                    }
                    Ok(info) => {
                        let why = format!("the WAN connection says it is {}", info.status);
                        self.keep_usable(IgdStatus::Disconnected, &why);
                        event!("connection not connected: trying the next connection service");
                        match candidates.is_empty() {
                            true => self.exhausted(IgdStatus::Disconnected, &why),
                            false => self.next_candidate(candidates),
                        }
                    }
                    Err(e) => {
                        let why = format!("GetStatusInfo: {e}");
                        // A fault or an odd answer: the service is there, its status unknown.
                        if !is_transport(&e) {
                            self.keep_usable(IgdStatus::InvalidControl, &why);
                        }
                        match candidates.is_empty() {
                            true => self.exhausted(IgdStatus::InvalidControl, &why),
                            false => self.next_candidate(candidates),
                        }
                    }
                }
            }
            ProbeState::Address { candidates } => {
                let outcome = outcome.and_then(|r| GetExternalIpAddress.output(&r));
                if self.warm {
                    return match outcome {
                        Ok(Some(address)) => {
                            self.device.external_address = Some(address);
                            self.state = ProbeState::Address { candidates };
                            self.warm_found()
                        }
                        Ok(None) => self.finish(
                            IgdStatus::Disconnected,
                            "the saved gateway reports no external address",
                        ),
                        Err(e) => self.finish(
                            IgdStatus::InvalidControl,
                            &format!("the saved gateway: GetExternalIPAddress: {e}"),
                        ),
                    };
                }
                match outcome {
                    Ok(address) => self.device.external_address = address,
                    Err(e) if is_transport(&e) => {
                        if candidates.is_empty() {
                            return self.exhausted(
                                IgdStatus::InvalidControl,
                                &format!("GetExternalIPAddress: {e}"),
                            );
                        }
                        return self.next_candidate(candidates);
                    }
                    Err(_) => {}
                }
                let mut found = self.device.clone();
                found.status_detail = address_detail(found.external_address);
                found.igd_status = IgdStatus::Ok;
                let better = self
                    .fallback
                    .as_ref()
                    .is_none_or(|kept| rank(&found) < rank(kept));
                if better {
                    self.fallback = Some(found);
                }
                if candidates.is_empty() || self.fallback.as_ref().is_some_and(|d| rank(d) == 0) {
                    return self.exhausted(IgdStatus::UnknownError, "no connection service");
                }
                // Behind another NAT or no address: another connection may be public.
                event!("connection not public: trying the next connection service");
                self.next_candidate(candidates)
            }
            ProbeState::Usable => match outcome.and_then(|r| GetExternalIpAddress.output(&r)) {
                Ok(address) => {
                    self.device.external_address = address;
                    ProbeStep::Done(Box::new(self.device.clone()))
                }
                Err(e) if is_transport(&e) => self.finish(
                    IgdStatus::InvalidControl,
                    &format!("GetExternalIPAddress: {e}"),
                ),
                // It did answer: usable, its address unknown.
                Err(_) => ProbeStep::Done(Box::new(self.device.clone())),
            },
            ProbeState::Fetching => self.finish(IgdStatus::UnknownError, "answer before fetch"),
        }
    }

    /// The connection service being asked is not connected (`Disconnected`) or its status
    /// is unknown (`InvalidControl`), yet callable: keep it if it is the best such so far.
    fn keep_usable(&mut self, status: IgdStatus, why: &str) {
        let mut device = self.device.clone();
        device.igd_status = status;
        device.status_detail = Some(format!("{why}; used when no gateway is valid"));
        let better = self
            .usable
            .as_ref()
            .is_none_or(|kept| usable_rank(&device) < usable_rank(kept));
        if better {
            self.usable = Some(device);
        }
    }

    /// A saved gateway answered with its address: valid again.
    fn warm_found(&mut self) -> ProbeStep {
        self.device.status_detail = address_detail(self.device.external_address);
        self.device.igd_status = IgdStatus::Ok;
        ProbeStep::Done(Box::new(self.device.clone()))
    }

    /// No candidate left: the best connected one found, else the best usable one (once its
    /// external address is asked), else this failure.
    fn exhausted(&mut self, status: IgdStatus, detail: &str) -> ProbeStep {
        if let Some(device) = self.fallback.take() {
            self.device = device;
            return ProbeStep::Done(Box::new(self.device.clone()));
        }
        let Some(usable) = self.usable.take() else {
            return self.finish(status, detail);
        };
        self.device = usable;
        let Ok(url) = Url::parse(&self.device.igd_control_url) else {
            return self.finish(IgdStatus::InvalidControl, "control URL");
        };
        self.state = ProbeState::Usable;
        ProbeStep::Call(
            url,
            GetExternalIpAddress.request(&self.device.igd_service_type),
        )
    }

    /// Done with a failure: nothing of the device may be called (its control URL and
    /// service type are cleared, so it is not [`Device::is_usable`]).
    fn finish(&mut self, status: IgdStatus, detail: &str) -> ProbeStep {
        self.device.igd_status = status;
        self.device.status_detail = Some(detail.to_owned());
        self.device.igd_control_url.clear();
        self.device.igd_service_type.clear();
        self.device.external_address = None;
        ProbeStep::Done(Box::new(self.device.clone()))
    }
}

/// Turn a probe's failure into the error `add_port_mapping` and friends return: a device
/// must be [usable](Device::is_usable).
pub(crate) fn require_usable(device: &Device) -> Result<(Url, &str), Error> {
    if !device.is_usable() {
        return Err(Error::InvalidGateway(device.into()));
    }
    let url = Url::parse(&device.igd_control_url).map_err(|_| {
        Error::InvalidGateway(DeviceStatus {
            status: IgdStatus::InvalidControl,
            detail: Some("the control URL does not parse".to_owned()),
            ..device.into()
        })
    })?;
    Ok((url, &device.igd_service_type))
}

/// The address a gateway's mappings forward to (`igd_our_addr`), or why there is none.
pub(crate) fn our_addr(device: &Device) -> Result<IpAddr, Error> {
    device.igd_our_addr.parse().map_err(|_| {
        Error::InvalidGateway(DeviceStatus {
            status: IgdStatus::InvalidControl,
            detail: Some("no local address reaches the control URL".to_owned()),
            ..device.into()
        })
    })
}
