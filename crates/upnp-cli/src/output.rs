//! What the CLI prints, as text and as JSON.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;
use upnp_desc::text::shown;
use upnp_igd::keeper::{Event, Held, HeldPinhole, PortSpec};
use upnp_igd::pmp::PmpGranted;
use upnp_igd::{Device, Error, Granted, IgdStatus, Method};
use upnp_soap::PortMapping;

/// A string from the network, for a terminal: escaped, bounded.
fn safe(text: &str) -> String {
    shown(text, 256)
}

/// One discovered device.
#[derive(Debug, Serialize)]
pub(crate) struct DeviceOut {
    description_url: String,
    search_target: String,
    friendly_name: Option<String>,
    igd_version: Option<u32>,
    service_type: String,
    control_url: String,
    our_addr: String,
    status: &'static str,
    status_code: i32,
    valid_gateway: bool,
    external_address: Option<String>,
    behind_another_nat: Option<bool>,
    detail: Option<String>,
}

impl From<&Device> for DeviceOut {
    fn from(d: &Device) -> DeviceOut {
        DeviceOut {
            description_url: d.description_url.clone(),
            search_target: d.service_type.clone(),
            friendly_name: d.friendly_name.clone(),
            igd_version: d.igd_version,
            service_type: d.igd_service_type.clone(),
            control_url: d.igd_control_url.clone(),
            our_addr: d.igd_our_addr.clone(),
            status: d.igd_status.godot_name(),
            status_code: d.igd_status.as_i32(),
            valid_gateway: d.is_valid_gateway(),
            external_address: d.external_address.map(|ip| ip.to_string()),
            behind_another_nat: d.is_behind_nat(),
            detail: d.status_detail.clone(),
        }
    }
}

impl fmt::Display for DeviceOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", safe(&self.description_url))?;
        if let Some(name) = &self.friendly_name {
            writeln!(f, "  name:         {}", safe(name))?;
        }
        writeln!(f, "  answered:     {}", safe(&self.search_target))?;
        if !self.service_type.is_empty() {
            writeln!(f, "  service:      {}", safe(&self.service_type))?;
            writeln!(f, "  control URL:  {}", safe(&self.control_url))?;
        }
        if !self.our_addr.is_empty() {
            writeln!(f, "  our address:  {}", self.our_addr)?;
        }
        if let Some(ip) = &self.external_address {
            writeln!(f, "  external:     {ip}")?;
        }
        let verdict = if self.valid_gateway {
            "valid gateway"
        } else {
            "not a valid gateway"
        };
        write!(f, "  status:       {} ({verdict})", self.status)?;
        if let Some(detail) = &self.detail {
            write!(f, "\n  why:          {}", safe(detail))?;
        }
        Ok(())
    }
}

/// One mapping.
#[derive(Debug, Serialize)]
pub(crate) struct MappingOut {
    protocol: &'static str,
    external_port: u16,
    internal_client: String,
    internal_port: u16,
    description: String,
    lease_seconds: u32,
    enabled: bool,
    remote_host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease_dropped: Option<bool>,
    /// The router refused a permanent mapping; it was made with `lease_seconds` (add only).
    #[serde(skip_serializing_if = "Option::is_none")]
    lease_limited: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description_dropped: Option<bool>,
    /// Whether the router showed the mapping back after adding it (add only).
    #[serde(skip_serializing_if = "Option::is_none")]
    read_back: Option<bool>,
    /// The external address, when the way that mapped gave it (PCP, NAT-PMP).
    #[serde(skip_serializing_if = "Option::is_none")]
    external_ip: Option<String>,
    /// That address is not public: another NAT is in front of the gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    behind_another_nat: Option<bool>,
    /// The way that granted it (add only): `upnp`, `pcp` or `natpmp`; in JSON, the
    /// document's `method`.
    #[serde(skip)]
    method: Option<String>,
}

impl From<&PortMapping> for MappingOut {
    fn from(m: &PortMapping) -> MappingOut {
        MappingOut {
            protocol: m.protocol.as_str(),
            external_port: m.external_port,
            internal_client: m.internal_client.clone(),
            internal_port: m.internal_port,
            description: m.description.clone(),
            lease_seconds: m.lease_duration,
            enabled: m.enabled,
            remote_host: m.remote_host.clone(),
            lease_dropped: None,
            lease_limited: None,
            description_dropped: None,
            read_back: None,
            external_ip: None,
            behind_another_nat: None,
            method: None,
        }
    }
}

impl MappingOut {
    /// The way that granted it, for the document's `method`.
    pub(crate) fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    pub(crate) fn granted(granted: &Granted) -> MappingOut {
        MappingOut {
            lease_dropped: Some(granted.lease_dropped),
            lease_limited: Some(granted.lease_limited),
            description_dropped: Some(granted.description_dropped),
            read_back: Some(granted.read_back),
            method: Some(Method::Upnp.to_string()),
            ..MappingOut::from(&granted.mapping)
        }
    }

    /// A mapping PCP or NAT-PMP granted to `us`; `described`: a description was asked
    /// (neither protocol carries one).
    pub(crate) fn pmp(granted: &PmpGranted, us: IpAddr, described: bool) -> MappingOut {
        MappingOut {
            protocol: granted.protocol.as_str(),
            external_port: granted.external_port,
            internal_client: us.to_string(),
            internal_port: granted.internal_port,
            description: String::new(),
            lease_seconds: granted.lifetime,
            enabled: true,
            remote_host: String::new(),
            lease_dropped: None,
            lease_limited: None,
            description_dropped: Some(described),
            // PCP and NAT-PMP answer with the mapping itself.
            read_back: Some(true),
            external_ip: granted.external_ip.map(|ip| ip.to_string()),
            behind_another_nat: granted.behind_another_nat,
            method: Some(granted.method.to_string()),
        }
    }
}

impl fmt::Display for MappingOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lease = match self.lease_seconds {
            0 => "permanent".to_owned(),
            s => format!("lease {s} s"),
        };
        write!(
            f,
            "{} {} -> {}:{} '{}' {lease}",
            self.protocol,
            self.external_port,
            safe(&self.internal_client),
            self.internal_port,
            safe(&self.description)
        )?;
        if self.lease_dropped == Some(true) {
            write!(f, " (the router refused the lease)")?;
        }
        if self.lease_limited == Some(true) {
            write!(f, " (the router refused a permanent mapping: renew it)")?;
        }
        if self.description_dropped == Some(true) {
            write!(f, " (the router refused the description)")?;
        }
        if self.read_back == Some(false) {
            write!(f, " (not confirmed: the router did not show it back)")?;
        }
        if let Some(ip) = &self.external_ip {
            write!(f, " at {ip}")?;
        }
        if self.behind_another_nat == Some(true) {
            write!(
                f,
                " (not a public address: another NAT is in front of the gateway)"
            )?;
        }
        if let Some(method) = &self.method {
            write!(f, " via {method}")?;
        }
        Ok(())
    }
}

/// An error: Godot's result, the UPnP fault if any, and the message.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorOut {
    result: &'static str,
    result_code: i32,
    upnp_error_code: Option<u32>,
    upnp_error_name: Option<&'static str>,
    router_text: Option<String>,
    message: String,
}

impl From<&Error> for ErrorOut {
    fn from(e: &Error) -> ErrorOut {
        let upnp = e.fault().and_then(|f| f.upnp_error.as_ref());
        ErrorOut {
            result: e.result().godot_name(),
            result_code: e.code(),
            upnp_error_code: upnp.and_then(|u| u.code).map(|c| c.code()),
            upnp_error_name: upnp.and_then(|u| u.code).and_then(|c| c.name()),
            router_text: upnp.and_then(|u| u.description.clone()),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for ErrorOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.result)?;
        match self.upnp_error_code {
            Some(code) => {
                write!(f, "UPnP error {code}")?;
                if let Some(name) = self.upnp_error_name {
                    write!(f, " {name}")?;
                }
                match &self.router_text {
                    Some(text) => write!(f, ", the router says \"{}\"", safe(text)),
                    None => Ok(()),
                }
            }
            None => f.write_str(&self.message),
        }
    }
}

/// One event of `upnp keep`: the `event` of a JSON line.
#[derive(Debug, Serialize)]
pub(crate) struct KeepEventOut {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    proto: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    internal_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_external_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    internal_client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_in_ms: Option<u128>,
    #[serde(skip_serializing_if = "Option::is_none")]
    left: Option<usize>,
    /// The check interval used (when nothing the gateway says can be heard).
    #[serde(skip_serializing_if = "Option::is_none")]
    check_seconds: Option<u64>,
    /// The event is the router in front's (its mappings forward to the gateway).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    in_front: bool,
    /// The addresses asked for a router in front (nothing-in-front).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    asked: Vec<String>,
    /// A pinhole's ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    unique_id: Option<u16>,
    /// The UPnP gateway's status when it is used though not valid (`IGD_STATUS_...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway_status: Option<&'static str>,
}

impl KeepEventOut {
    fn new(kind: &'static str, port: Option<&PortSpec>) -> KeepEventOut {
        KeepEventOut {
            kind,
            proto: port.map(|p| p.protocol.as_str()),
            internal_port: port.map(|p| p.internal_port),
            external_port: port.map(|p| p.external_port),
            external_ip: None,
            old_external_ip: None,
            internal_client: None,
            lease_seconds: None,
            confirmed: None,
            reason: None,
            error: None,
            retry_in_ms: None,
            left: None,
            check_seconds: None,
            unique_id: None,
            gateway_status: None,
            in_front: false,
            asked: Vec::new(),
        }
    }

    fn pinhole(event: &'static str, held: &HeldPinhole) -> KeepEventOut {
        KeepEventOut {
            unique_id: Some(held.unique_id),
            internal_client: Some(held.client.to_string()),
            lease_seconds: Some(held.lease.as_secs()),
            // A pinhole has no external port: it lets in to ours.
            external_port: None,
            ..KeepEventOut::new(event, Some(&held.port))
        }
    }

    fn held(event: &'static str, held: &Held) -> KeepEventOut {
        KeepEventOut {
            external_port: Some(held.external_port),
            external_ip: held.external_ip.map(|ip| ip.to_string()),
            internal_client: Some(held.internal_client.to_string()),
            lease_seconds: Some(held.lease.as_secs()),
            confirmed: Some(held.confirmed),
            gateway_status: held
                .gateway_status
                .filter(|s| *s != IgdStatus::Ok)
                .map(IgdStatus::godot_name),
            ..KeepEventOut::new(event, Some(&held.port))
        }
    }
}

impl From<&Event> for KeepEventOut {
    fn from(event: &Event) -> KeepEventOut {
        match event {
            Event::Mapped(held) => KeepEventOut::held("mapped", held),
            Event::Renewed(held) => KeepEventOut::held("renewed", held),
            Event::Remapped(held) => KeepEventOut::held("remapped", held),
            Event::Lost {
                port,
                external_port,
                reason,
            } => KeepEventOut {
                external_port: Some(*external_port),
                reason: Some(reason.to_string()),
                ..KeepEventOut::new("lost", Some(port))
            },
            Event::ExternalIpChanged { old, new } => KeepEventOut {
                external_ip: Some(new.to_string()),
                old_external_ip: old.map(|ip| ip.to_string()),
                ..KeepEventOut::new("external-ip-changed", None)
            },
            Event::Failed {
                port,
                error,
                retry_in,
            } => KeepEventOut {
                reason: Some(error.to_string()),
                error: Some(ErrorOut::from(error)),
                retry_in_ms: Some(retry_in.as_millis()),
                ..KeepEventOut::new("failed", port.as_ref())
            },
            Event::Removed {
                port,
                external_port,
            } => KeepEventOut {
                external_port: Some(*external_port),
                ..KeepEventOut::new("removed", Some(port))
            },
            Event::Stopped { left } => KeepEventOut {
                left: Some(*left),
                ..KeepEventOut::new("stopped", None)
            },
            Event::PinholeOpened(held) => KeepEventOut::pinhole("pinhole-opened", held),
            Event::PinholeRenewed(held) => KeepEventOut::pinhole("pinhole-renewed", held),
            Event::PinholeLost {
                port,
                unique_id,
                reason,
            } => KeepEventOut {
                unique_id: Some(*unique_id),
                reason: Some(reason.to_string()),
                ..KeepEventOut::new("pinhole-lost", Some(port))
            },
            Event::PinholeClosed { port, unique_id } => KeepEventOut {
                unique_id: Some(*unique_id),
                ..KeepEventOut::new("pinhole-closed", Some(port))
            },
            Event::NotHearing { error, check } => KeepEventOut {
                reason: Some(error.to_string()),
                error: Some(ErrorOut::from(error)),
                check_seconds: Some(check.as_secs()),
                ..KeepEventOut::new("not-hearing", None)
            },
            Event::InFront(event) => KeepEventOut {
                in_front: true,
                ..KeepEventOut::from(event.as_ref())
            },
            Event::NothingInFront { asked, why } => KeepEventOut {
                reason: Some(why.to_string()),
                error: Some(ErrorOut::from(why)),
                asked: asked.iter().map(ToString::to_string).collect(),
                ..KeepEventOut::new("nothing-in-front", None)
            },
            _ => KeepEventOut::new("other", None),
        }
    }
}

/// What happened in front of the gateway (`add`, `delete`, `check`): `status` is
/// `not-asked`, `no-address`, `not-found`, `done` or `failed`.
#[derive(Debug, Serialize)]
pub(crate) struct FrontOut {
    status: &'static str,
    /// The addresses asked (not-found).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    asked: Vec<String>,
    /// The router one hop beyond the gateway, as a TTL-limited probe found it (not-found).
    #[serde(skip_serializing_if = "Option::is_none")]
    hop: Option<String>,
    /// The router in front's description URL, or `pcp://ADDR:PORT` (done, failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    router: Option<String>,
    /// How it maps: `upnp`, `pcp` or `nat-pmp` (done, failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    /// Its external address, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    external_ip: Option<String>,
    /// Why nothing was done there.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorOut>,
}

impl FrontOut {
    /// The router in front's external address, from its grant when it gave one (PCP).
    pub(crate) fn with_external(mut self, ip: Option<IpAddr>) -> FrontOut {
        if let Some(ip) = ip {
            self.external_ip = Some(ip.to_string());
        }
        self
    }

    pub(crate) fn of<T>(beyond: &upnp_igd::upstream::Beyond<T>) -> FrontOut {
        use upnp_igd::upstream::Beyond;
        let mut out = FrontOut {
            status: "not-asked",
            asked: Vec::new(),
            hop: None,
            router: None,
            method: None,
            external_ip: None,
            error: None,
        };
        if let Some(router) = beyond.router() {
            out.router = Some(router.name());
            out.method = Some(router.method().to_string());
            out.external_ip = router.external_address().map(|ip| ip.to_string());
        }
        match beyond {
            Beyond::NotAsked => {}
            Beyond::NoAddress(e) => {
                out.status = "no-address";
                out.error = Some(e.into());
            }
            Beyond::NotFound { asked, hop, why } => {
                out.status = "not-found";
                out.asked = asked.iter().map(ToString::to_string).collect();
                out.hop = hop.map(|ip| ip.to_string());
                out.error = Some(why.into());
            }
            Beyond::Done { .. } => out.status = "done",
            Beyond::Failed { error, .. } => {
                out.status = "failed";
                out.error = Some(error.into());
            }
            _ => out.status = "unknown",
        }
        out
    }

    /// `not-asked`, `no-address`, `not-found`, `done` or `failed`.
    pub(crate) fn status(&self) -> &'static str {
        self.status
    }

    /// Whether something was looked for in front and could not be used: another NAT that
    /// nothing was mapped through.
    pub(crate) fn stuck(&self) -> bool {
        matches!(self.status, "not-found" | "failed")
    }
}

impl fmt::Display for FrontOut {
    /// One line, escaped (the URL and the errors come from the network).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let router = shown(self.router.as_deref().unwrap_or_default(), 128);
        let error = self
            .error
            .as_ref()
            .map_or(String::new(), |e| shown(&e.message, 256));
        match self.status {
            "not-found" => write!(
                f,
                "no router in front answered (asked {}): {error}",
                self.asked.join(", ")
            ),
            "failed" => write!(f, "the router in front ({router}) failed: {error}"),
            "no-address" => write!(f, "the gateway's external address is unknown: {error}"),
            "done" => match &self.external_ip {
                Some(ip) => write!(f, "the router in front ({router}, external address {ip})"),
                None => write!(f, "the router in front ({router})"),
            },
            _ => f.write_str("nothing looked for in front"),
        }
    }
}
