//! The actions of an IGDv2 gateway's `WANIPv6FirewallControl:1` service, typed: inbound
//! pinholes to an IPv6 host behind the router's firewall (there is no NAT to map through on
//! IPv6; the firewall drops what no pinhole lets in).
//!
//! A pinhole is named by the `UniqueID` the gateway gives when it is added, and lives for its
//! `LeaseTime` (1 s to 86400 s; the service has no permanent pinholes) unless updated. The
//! service has no listing action: a client keeps the IDs of what it opened.
//!
//! The service's faults reuse numbers the connection services give other meanings (704 is
//! `ConnectionSetupFailed` there, `NoSuchEntry` here): [`FirewallError::of`] names a fault as
//! this service means it.
//!
//! ```
//! use std::net::Ipv6Addr;
//! use upnp_soap::firewall::{AddPinhole, FirewallError, PINHOLE_SERVICE};
//! use upnp_soap::{Action, Protocol};
//!
//! let add = AddPinhole {
//!     remote_host: None,
//!     remote_port: 0,
//!     internal_client: "2001:db8::10".parse::<Ipv6Addr>().unwrap(),
//!     internal_port: 7777,
//!     protocol: Protocol::Udp,
//!     lease_time: 3600,
//! };
//! let body = add.request(PINHOLE_SERVICE).encode()?;
//! assert!(body.contains("<Protocol>17</Protocol>"));
//! assert!(body.contains("<LeaseTime>3600</LeaseTime>"));
//! # Ok::<(), upnp_soap::Error>(())
//! ```

use std::fmt;
use std::net::Ipv6Addr;

use crate::actions::{Action, Protocol, invalid, parse_boolean, required};
use crate::envelope::ActionResponse;
use crate::error::Error;
use crate::fault::SoapFault;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// The service type of version 1, the one gateways offer.
pub const PINHOLE_SERVICE: &str = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1";

/// The longest lease a pinhole can have, in seconds (one day).
pub const MAX_LEASE_TIME: u32 = 86_400;

/// The IANA number of `protocol`, as this service sends it (`Protocol` is a number here).
pub fn protocol_number(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
    }
}

/// `GetFirewallStatus`' answer.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirewallStatus {
    /// The IPv6 firewall is on (off: everything is let in, no pinhole needed).
    pub enabled: bool,
    /// Pinholes may be added.
    pub inbound_pinhole_allowed: bool,
}

/// `GetFirewallStatus`: is the firewall on, and may pinholes be opened?
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GetFirewallStatus;

impl Action for GetFirewallStatus {
    const NAME: &'static str = "GetFirewallStatus";
    type Output = FirewallStatus;

    fn arguments(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn output(&self, response: &ActionResponse) -> Result<FirewallStatus, Error> {
        Ok(FirewallStatus {
            enabled: flag(response, Self::NAME, "FirewallEnabled")?,
            inbound_pinhole_allowed: flag(response, Self::NAME, "InboundPinholeAllowed")?,
        })
    }
}

/// `GetOutboundPinholeTimeout`: how long the firewall keeps an outbound flow open without
/// traffic (seconds). Many gateways do not implement it (miniupnpd answers 501).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetOutboundPinholeTimeout {
    /// The remote host; `None` for any.
    pub remote_host: Option<Ipv6Addr>,
    /// The remote port; 0 for any.
    pub remote_port: u16,
    /// Our address.
    pub internal_client: Ipv6Addr,
    /// Our port; 0 for any.
    pub internal_port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

impl Action for GetOutboundPinholeTimeout {
    const NAME: &'static str = "GetOutboundPinholeTimeout";
    type Output = u32;

    fn arguments(&self) -> Vec<(&'static str, String)> {
        vec![
            ("RemoteHost", host(self.remote_host)),
            ("RemotePort", self.remote_port.to_string()),
            ("InternalClient", self.internal_client.to_string()),
            ("InternalPort", self.internal_port.to_string()),
            ("Protocol", protocol_number(self.protocol).to_string()),
        ]
    }

    fn output(&self, response: &ActionResponse) -> Result<u32, Error> {
        number(response, Self::NAME, "OutboundPinholeTimeout")
    }
}

/// `AddPinhole`: let traffic from `remote_host`:`remote_port` (any, by default) in to
/// `internal_client`:`internal_port` for `lease_time` seconds (1 to [`MAX_LEASE_TIME`]).
/// Adding the same pinhole again extends its lease and gives the same ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddPinhole {
    /// The remote host allowed in; `None` for any.
    pub remote_host: Option<Ipv6Addr>,
    /// The remote port allowed; 0 for any.
    pub remote_port: u16,
    /// The host let in to (ours: gateways refuse others without authorization).
    pub internal_client: Ipv6Addr,
    /// Its port (not 0: the service forbids the wildcard here).
    pub internal_port: u16,
    /// The protocol.
    pub protocol: Protocol,
    /// Seconds, 1 to [`MAX_LEASE_TIME`].
    pub lease_time: u32,
}

impl Action for AddPinhole {
    const NAME: &'static str = "AddPinhole";
    /// The pinhole's `UniqueID`.
    type Output = u16;

    fn arguments(&self) -> Vec<(&'static str, String)> {
        vec![
            ("RemoteHost", host(self.remote_host)),
            ("RemotePort", self.remote_port.to_string()),
            ("InternalClient", self.internal_client.to_string()),
            ("InternalPort", self.internal_port.to_string()),
            ("Protocol", protocol_number(self.protocol).to_string()),
            ("LeaseTime", self.lease_time.to_string()),
        ]
    }

    fn output(&self, response: &ActionResponse) -> Result<u16, Error> {
        number(response, Self::NAME, "UniqueID")
    }
}

/// `UpdatePinhole`: a new lease for a pinhole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdatePinhole {
    /// The pinhole.
    pub unique_id: u16,
    /// Seconds, 1 to [`MAX_LEASE_TIME`].
    pub lease_time: u32,
}

impl Action for UpdatePinhole {
    const NAME: &'static str = "UpdatePinhole";
    type Output = ();

    fn arguments(&self) -> Vec<(&'static str, String)> {
        vec![
            ("UniqueID", self.unique_id.to_string()),
            ("NewLeaseTime", self.lease_time.to_string()),
        ]
    }

    fn output(&self, _: &ActionResponse) -> Result<(), Error> {
        Ok(())
    }
}

/// `DeletePinhole`: close a pinhole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeletePinhole {
    /// The pinhole.
    pub unique_id: u16,
}

impl Action for DeletePinhole {
    const NAME: &'static str = "DeletePinhole";
    type Output = ();

    fn arguments(&self) -> Vec<(&'static str, String)> {
        vec![("UniqueID", self.unique_id.to_string())]
    }

    fn output(&self, _: &ActionResponse) -> Result<(), Error> {
        Ok(())
    }
}

/// `GetPinholePackets`: how many packets a pinhole has let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetPinholePackets {
    /// The pinhole.
    pub unique_id: u16,
}

impl Action for GetPinholePackets {
    const NAME: &'static str = "GetPinholePackets";
    type Output = u32;

    fn arguments(&self) -> Vec<(&'static str, String)> {
        vec![("UniqueID", self.unique_id.to_string())]
    }

    fn output(&self, response: &ActionResponse) -> Result<u32, Error> {
        number(response, Self::NAME, "PinholePackets")
    }
}

/// `CheckPinholeWorking`: has traffic come through the pinhole? (A gateway that saw none
/// answers fault 709, [`FirewallError::NoTrafficReceived`].)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckPinholeWorking {
    /// The pinhole.
    pub unique_id: u16,
}

impl Action for CheckPinholeWorking {
    const NAME: &'static str = "CheckPinholeWorking";
    type Output = bool;

    fn arguments(&self) -> Vec<(&'static str, String)> {
        vec![("UniqueID", self.unique_id.to_string())]
    }

    fn output(&self, response: &ActionResponse) -> Result<bool, Error> {
        flag(response, Self::NAME, "IsWorking")
    }
}

macro_rules! firewall_errors {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, )*) => {
        /// A fault of the `WANIPv6FirewallControl` service, as that service means its code.
        #[non_exhaustive]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum FirewallError {
            $( $(#[$doc])* $variant, )*
        }

        impl FirewallError {
            /// The code's number.
            pub fn code(self) -> u32 {
                match self {
                    $( FirewallError::$variant => $code, )*
                }
            }

            /// The name the specification gives the code.
            pub fn name(self) -> &'static str {
                match self {
                    $( FirewallError::$variant => stringify!($variant), )*
                }
            }

            /// The error a code means for this service, if it is one of its own.
            pub fn from_code(code: u32) -> Option<FirewallError> {
                match code {
                    $( $code => Some(FirewallError::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

firewall_errors! {
    /// 606: the gateway does not let this client do this (e.g. a pinhole to another host).
    ActionNotAuthorized = 606,
    /// 701: no room for another pinhole.
    PinholeSpaceExhausted = 701,
    /// 702: the firewall is off (no pinhole needed).
    FirewallDisabled = 702,
    /// 703: the gateway lets no pinhole be opened.
    InboundPinholeNotAllowed = 703,
    /// 704: no pinhole has this ID.
    NoSuchEntry = 704,
    /// 705: the protocol is not supported.
    ProtocolNotSupported = 705,
    /// 706: the internal port cannot be the wildcard (0).
    InternalPortWildcardingNotAllowed = 706,
    /// 707: the protocol cannot be the wildcard.
    ProtocolWildcardingNotAllowed = 707,
    /// 708: the internal client cannot be the wildcard.
    WildCardNotPermittedInSrcIp = 708,
    /// 709: no traffic has come through the pinhole (CheckPinholeWorking).
    NoTrafficReceived = 709,
}

impl FirewallError {
    /// The firewall error of `fault`, if its code is one of this service's.
    pub fn of(fault: &SoapFault) -> Option<FirewallError> {
        fault
            .code()
            .and_then(|code| FirewallError::from_code(code.code()))
    }
}

impl fmt::Display for FirewallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// `RemoteHost` as sent: empty for any.
fn host(host: Option<Ipv6Addr>) -> String {
    host.map(|h| h.to_string()).unwrap_or_default()
}

fn flag(
    response: &ActionResponse,
    action: &'static str,
    name: &'static str,
) -> Result<bool, Error> {
    parse_boolean(required(response, action, name)?, name)
}

fn number<T: std::str::FromStr>(
    response: &ActionResponse,
    action: &'static str,
    name: &'static str,
) -> Result<T, Error> {
    let text = required(response, action, name)?;
    text.trim()
        .parse()
        .map_err(|_| invalid(name, text, "a number in range"))
}
