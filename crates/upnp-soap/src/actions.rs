//! The actions of an Internet Gateway Device's WAN connection service, typed.
//!
//! Each action is a struct with its input arguments; [`Action`] turns it into an
//! [`ActionRequest`] and reads its output arguments out of an [`ActionResponse`]. The same
//! types serve WANIPConnection and WANPPPConnection, v1 and v2 (the last three are IGDv2
//! only).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::envelope::{ActionRequest, ActionResponse};
use crate::error::{Error, echo};

pub mod port_list;
#[cfg(test)]
mod tests;

/// A typed action: its name, its input arguments in order, and how to read its output.
pub trait Action {
    /// The action's name, e.g. `"AddPortMapping"`.
    const NAME: &'static str;
    /// What a successful answer yields.
    type Output;

    /// The input arguments, in the order the service declares them.
    fn arguments(&self) -> Vec<(&'static str, String)>;

    /// Read the output out of a response to this action.
    fn output(&self, response: &ActionResponse) -> Result<Self::Output, Error>;

    /// The request for this action on `service_type`.
    fn request(&self, service_type: &str) -> ActionRequest {
        ActionRequest {
            service_type: service_type.to_owned(),
            action: Self::NAME.to_owned(),
            arguments: self
                .arguments()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        }
    }

    /// Parse a whole HTTP body answering this action: the output, or the fault.
    fn parse_reply(&self, body: &[u8]) -> Result<Self::Output, Error> {
        self.output(&ActionResponse::parse(body, Self::NAME)?)
    }
}

/// A transport protocol of a port mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `TCP`.
    Tcp,
    /// `UDP`.
    Udp,
}

impl Protocol {
    /// `"TCP"` or `"UDP"`, as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = Error;

    /// `TCP` or `UDP`, in any case (some routers answer in lower case).
    fn from_str(s: &str) -> Result<Protocol, Error> {
        if s.eq_ignore_ascii_case("TCP") {
            Ok(Protocol::Tcp)
        } else if s.eq_ignore_ascii_case("UDP") {
            Ok(Protocol::Udp)
        } else {
            Err(invalid("NewProtocol", s, "TCP or UDP"))
        }
    }
}

/// One port mapping, as the port-mapping actions describe it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    /// The remote host the mapping is for; empty for any (the wildcard).
    pub remote_host: String,
    /// The port on the gateway's external address.
    pub external_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on the internal client.
    pub internal_port: u16,
    /// The LAN address traffic is forwarded to.
    pub internal_client: String,
    /// Whether the mapping is enabled.
    pub enabled: bool,
    /// The mapping's description.
    pub description: String,
    /// The lease in seconds; 0 is permanent (or, as read back, no expiry).
    pub lease_duration: u32,
}

impl PortMapping {
    /// A mapping of `external_port` to `internal_client:internal_port`, for any remote host,
    /// enabled, with no description and a permanent lease (set the fields to change those).
    ///
    /// ```
    /// use upnp_soap::{PortMapping, Protocol};
    ///
    /// let mut mapping = PortMapping::new(Protocol::Udp, 7777, "192.168.1.20", 7777);
    /// mapping.description = "my game".to_owned();
    /// mapping.lease_duration = 3600;
    /// assert_eq!(mapping.remote_host, "");
    /// ```
    pub fn new(
        protocol: Protocol,
        external_port: u16,
        internal_client: impl Into<String>,
        internal_port: u16,
    ) -> PortMapping {
        PortMapping {
            remote_host: String::new(),
            external_port,
            protocol,
            internal_port,
            internal_client: internal_client.into(),
            enabled: true,
            description: String::new(),
            lease_duration: 0,
        }
    }

    fn arguments(&self) -> Vec<(&'static str, String)> {
        vec![
            ("NewRemoteHost", self.remote_host.clone()),
            ("NewExternalPort", self.external_port.to_string()),
            ("NewProtocol", self.protocol.to_string()),
            ("NewInternalPort", self.internal_port.to_string()),
            ("NewInternalClient", self.internal_client.clone()),
            ("NewEnabled", boolean(self.enabled)),
            ("NewPortMappingDescription", self.description.clone()),
            ("NewLeaseDuration", self.lease_duration.to_string()),
        ]
    }
}

/// `GetExternalIPAddress`: the gateway's external address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GetExternalIpAddress;

impl Action for GetExternalIpAddress {
    const NAME: &'static str = "GetExternalIPAddress";
    /// `None` when the gateway has no address to give: an empty value (none yet), or one
    /// that no host can have (`0.0.0.0`, `::`, multicast, broadcast), which routers send
    /// while the WAN link is down.
    type Output = Option<IpAddr>;

    fn arguments(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn output(&self, response: &ActionResponse) -> Result<Option<IpAddr>, Error> {
        let value = required(response, Self::NAME, "NewExternalIPAddress")?;
        if value.is_empty() {
            return Ok(None);
        }
        let address: IpAddr = value
            .parse()
            .map_err(|_| invalid("NewExternalIPAddress", value, "an IP address"))?;
        let nobody = address.is_unspecified()
            || address.is_multicast()
            || address == IpAddr::V4(std::net::Ipv4Addr::BROADCAST);
        Ok((!nobody).then_some(address))
    }
}

/// The `ConnectionStatus` state variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// `Unconfigured`.
    Unconfigured,
    /// `Connecting`.
    Connecting,
    /// `Authenticating` (PPP).
    Authenticating,
    /// `Connected`.
    Connected,
    /// `PendingDisconnect`.
    PendingDisconnect,
    /// `Disconnecting`.
    Disconnecting,
    /// `Disconnected`.
    Disconnected,
    /// Anything else, as sent (some routers say `Up`).
    Other(String),
}

impl ConnectionStatus {
    /// Parse the value as sent (ASCII case ignored).
    pub fn parse(value: &str) -> ConnectionStatus {
        const KNOWN: [(&str, ConnectionStatus); 7] = [
            ("Unconfigured", ConnectionStatus::Unconfigured),
            ("Connecting", ConnectionStatus::Connecting),
            ("Authenticating", ConnectionStatus::Authenticating),
            ("Connected", ConnectionStatus::Connected),
            ("PendingDisconnect", ConnectionStatus::PendingDisconnect),
            ("Disconnecting", ConnectionStatus::Disconnecting),
            ("Disconnected", ConnectionStatus::Disconnected),
        ];
        KNOWN
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(value))
            .map_or_else(|| ConnectionStatus::Other(value.to_owned()), |(_, s)| s)
    }

    /// Whether the connection is up: `Connected`, or `Up` as some routers say.
    pub fn is_connected(&self) -> bool {
        match self {
            ConnectionStatus::Connected => true,
            ConnectionStatus::Other(other) => other.eq_ignore_ascii_case("Up"),
            _ => false,
        }
    }

    /// The value as sent.
    pub fn as_str(&self) -> &str {
        match self {
            ConnectionStatus::Unconfigured => "Unconfigured",
            ConnectionStatus::Connecting => "Connecting",
            ConnectionStatus::Authenticating => "Authenticating",
            ConnectionStatus::Connected => "Connected",
            ConnectionStatus::PendingDisconnect => "PendingDisconnect",
            ConnectionStatus::Disconnecting => "Disconnecting",
            ConnectionStatus::Disconnected => "Disconnected",
            ConnectionStatus::Other(other) => other,
        }
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `GetStatusInfo` answers.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusInfo {
    /// `NewConnectionStatus`.
    pub status: ConnectionStatus,
    /// `NewLastConnectionError` (`ERROR_NONE` when all is well), when sent.
    pub last_error: Option<String>,
    /// `NewUptime` in seconds, when sent and a number.
    pub uptime: Option<u32>,
}

/// `GetStatusInfo`: whether the WAN connection is up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GetStatusInfo;

impl Action for GetStatusInfo {
    const NAME: &'static str = "GetStatusInfo";
    type Output = StatusInfo;

    fn arguments(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn output(&self, response: &ActionResponse) -> Result<StatusInfo, Error> {
        Ok(StatusInfo {
            status: ConnectionStatus::parse(required(response, Self::NAME, "NewConnectionStatus")?),
            last_error: response
                .get("NewLastConnectionError")
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            uptime: response.get("NewUptime").and_then(|v| v.parse().ok()),
        })
    }
}

/// What `GetConnectionTypeInfo` answers.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionTypeInfo {
    /// `NewConnectionType`, e.g. `IP_Routed`.
    pub connection_type: String,
    /// `NewPossibleConnectionTypes`, split at commas.
    pub possible_types: Vec<String>,
}

/// `GetConnectionTypeInfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GetConnectionTypeInfo;

impl Action for GetConnectionTypeInfo {
    const NAME: &'static str = "GetConnectionTypeInfo";
    type Output = ConnectionTypeInfo;

    fn arguments(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn output(&self, response: &ActionResponse) -> Result<ConnectionTypeInfo, Error> {
        Ok(ConnectionTypeInfo {
            connection_type: required(response, Self::NAME, "NewConnectionType")?.to_owned(),
            possible_types: response
                .get("NewPossibleConnectionTypes")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// `AddPortMapping`: create or replace the mapping of one external port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddPortMapping(pub PortMapping);

impl Action for AddPortMapping {
    const NAME: &'static str = "AddPortMapping";
    type Output = ();

    fn arguments(&self) -> Vec<(&'static str, String)> {
        self.0.arguments()
    }

    fn output(&self, _: &ActionResponse) -> Result<(), Error> {
        Ok(())
    }
}

/// `AddAnyPortMapping` (IGDv2): like `AddPortMapping`, but the gateway may grant another
/// external port when the one asked for is taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddAnyPortMapping(pub PortMapping);

impl Action for AddAnyPortMapping {
    const NAME: &'static str = "AddAnyPortMapping";
    /// The external port granted (`NewReservedPort`).
    type Output = u16;

    fn arguments(&self) -> Vec<(&'static str, String)> {
        self.0.arguments()
    }

    fn output(&self, response: &ActionResponse) -> Result<u16, Error> {
        port(
            required(response, Self::NAME, "NewReservedPort")?,
            "NewReservedPort",
        )
    }
}

/// `DeletePortMapping`: remove the mapping of one external port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletePortMapping {
    /// The remote host of the mapping; empty for the wildcard.
    pub remote_host: String,
    /// The external port.
    pub external_port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

impl Action for DeletePortMapping {
    const NAME: &'static str = "DeletePortMapping";
    type Output = ();

    fn arguments(&self) -> Vec<(&'static str, String)> {
        vec![
            ("NewRemoteHost", self.remote_host.clone()),
            ("NewExternalPort", self.external_port.to_string()),
            ("NewProtocol", self.protocol.to_string()),
        ]
    }

    fn output(&self, _: &ActionResponse) -> Result<(), Error> {
        Ok(())
    }
}

/// `DeletePortMappingRange` (IGDv2): remove every mapping in a port range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletePortMappingRange {
    /// First external port of the range.
    pub start_port: u16,
    /// Last external port of the range.
    pub end_port: u16,
    /// The protocol.
    pub protocol: Protocol,
    /// `true` to remove other clients' mappings too (needs authorization).
    pub manage: bool,
}

impl Action for DeletePortMappingRange {
    const NAME: &'static str = "DeletePortMappingRange";
    type Output = ();

    fn arguments(&self) -> Vec<(&'static str, String)> {
        vec![
            ("NewStartPort", self.start_port.to_string()),
            ("NewEndPort", self.end_port.to_string()),
            ("NewProtocol", self.protocol.to_string()),
            ("NewManage", boolean(self.manage)),
        ]
    }

    fn output(&self, _: &ActionResponse) -> Result<(), Error> {
        Ok(())
    }
}

/// `GetSpecificPortMappingEntry`: the mapping of one external port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetSpecificPortMappingEntry {
    /// The remote host of the mapping; empty for the wildcard.
    pub remote_host: String,
    /// The external port.
    pub external_port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

impl Action for GetSpecificPortMappingEntry {
    const NAME: &'static str = "GetSpecificPortMappingEntry";
    type Output = PortMapping;

    fn arguments(&self) -> Vec<(&'static str, String)> {
        vec![
            ("NewRemoteHost", self.remote_host.clone()),
            ("NewExternalPort", self.external_port.to_string()),
            ("NewProtocol", self.protocol.to_string()),
        ]
    }

    fn output(&self, response: &ActionResponse) -> Result<PortMapping, Error> {
        entry(
            response,
            Self::NAME,
            self.remote_host.clone(),
            self.external_port,
            self.protocol,
        )
    }
}

/// `GetGenericPortMappingEntry`: the mapping at an index of the gateway's table (fault 713
/// past the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetGenericPortMappingEntry {
    /// The index, from 0.
    pub index: u16,
}

impl Action for GetGenericPortMappingEntry {
    const NAME: &'static str = "GetGenericPortMappingEntry";
    type Output = PortMapping;

    fn arguments(&self) -> Vec<(&'static str, String)> {
        vec![("NewPortMappingIndex", self.index.to_string())]
    }

    fn output(&self, response: &ActionResponse) -> Result<PortMapping, Error> {
        let name = Self::NAME;
        entry(
            response,
            name,
            response.get("NewRemoteHost").unwrap_or_default().to_owned(),
            port(
                required(response, name, "NewExternalPort")?,
                "NewExternalPort",
            )?,
            required(response, name, "NewProtocol")?.parse()?,
        )
    }
}

/// `GetListOfPortMappings` (IGDv2): the mappings in a port range, at most `number_of_ports`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetListOfPortMappings {
    /// First external port of the range.
    pub start_port: u16,
    /// Last external port of the range.
    pub end_port: u16,
    /// The protocol.
    pub protocol: Protocol,
    /// `true` for every client's mappings, `false` for the caller's only.
    pub manage: bool,
    /// The most entries to return; 0 for all.
    pub number_of_ports: u16,
}

impl Action for GetListOfPortMappings {
    const NAME: &'static str = "GetListOfPortMappings";
    type Output = Vec<PortMapping>;

    fn arguments(&self) -> Vec<(&'static str, String)> {
        vec![
            ("NewStartPort", self.start_port.to_string()),
            ("NewEndPort", self.end_port.to_string()),
            ("NewProtocol", self.protocol.to_string()),
            ("NewManage", boolean(self.manage)),
            ("NewNumberOfPorts", self.number_of_ports.to_string()),
        ]
    }

    fn output(&self, response: &ActionResponse) -> Result<Vec<PortMapping>, Error> {
        let listing = required(response, Self::NAME, "NewPortListing")?;
        port_list::parse(listing.as_bytes())
    }
}

/// A mapping entry's fields as GetSpecificPortMappingEntry and GetGenericPortMappingEntry
/// return them, with its key.
fn entry(
    response: &ActionResponse,
    name: &'static str,
    remote_host: String,
    external_port: u16,
    protocol: Protocol,
) -> Result<PortMapping, Error> {
    Ok(PortMapping {
        remote_host,
        external_port,
        protocol,
        internal_port: port(
            required(response, name, "NewInternalPort")?,
            "NewInternalPort",
        )?,
        internal_client: required(response, name, "NewInternalClient")?.to_owned(),
        enabled: parse_boolean(required(response, name, "NewEnabled")?, "NewEnabled")?,
        description: response
            .get("NewPortMappingDescription")
            .unwrap_or_default()
            .to_owned(),
        lease_duration: lease(response.get("NewLeaseDuration"))?,
    })
}

pub(crate) fn required<'a>(
    response: &'a ActionResponse,
    action: &'static str,
    name: &'static str,
) -> Result<&'a str, Error> {
    response
        .get(name)
        .ok_or(Error::MissingArgument { action, name })
}

pub(crate) fn invalid(name: &'static str, value: &str, expected: &'static str) -> Error {
    Error::InvalidArgument {
        name,
        value: echo(value),
        expected,
    }
}

/// A `ui2` port.
pub(crate) fn port(value: &str, name: &'static str) -> Result<u16, Error> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(name, value, "a port number"))
}

/// A `ui4` lease; absent or empty is 0.
pub(crate) fn lease(value: Option<&str>) -> Result<u32, Error> {
    match value.map(str::trim) {
        None | Some("") => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| invalid("NewLeaseDuration", v, "a number of seconds")),
    }
}

/// A UPnP `boolean`: `1`/`0`, `true`/`false`, `yes`/`no`.
pub(crate) fn parse_boolean(value: &str, name: &'static str) -> Result<bool, Error> {
    let v = value.trim();
    if v == "1" || v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if v == "0" || v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err(invalid(name, value, "a boolean"))
    }
}

pub(crate) fn boolean(value: bool) -> String {
    if value { "1" } else { "0" }.to_owned()
}
