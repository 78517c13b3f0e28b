//! The one error type of this crate, and Godot's result and status codes.

use std::fmt;

use upnp_desc::text::shown;
use upnp_soap::ErrorCode;

macro_rules! godot_enum {
    ($(#[$meta:meta])* $name:ident, $prefix:literal { $( $(#[$doc:meta])* $variant:ident = $n:literal => $godot:literal, )* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum $name {
            $( $(#[$doc])* $variant = $n, )*
        }

        impl $name {
            /// Every value, in numeric order.
            pub const ALL: &'static [$name] = &[$( $name::$variant, )*];

            /// The number Godot gives it.
            pub fn as_i32(self) -> i32 {
                self as i32
            }

            /// The value with this number, if any.
            pub fn from_i32(n: i32) -> Option<$name> {
                match n {
                    $( $n => Some($name::$variant), )*
                    _ => None,
                }
            }

            /// Godot's constant name, e.g. `UPNP_RESULT_SUCCESS`.
            pub fn godot_name(self) -> &'static str {
                match self {
                    $( $name::$variant => concat!($prefix, $godot), )*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.godot_name())
            }
        }
    };
}

godot_enum! {
    /// Godot's `UPNP.UPNPResult`: the outcome of a call, with Godot's numbers.
    UpnpResult, "UPNP_RESULT_" {
        /// The call succeeded.
        Success = 0 => "SUCCESS",
        /// The gateway refused: not authorized (fault 606).
        NotAuthorized = 1 => "NOT_AUTHORIZED",
        /// No mapping in the given range (fault 730).
        PortMappingNotFound = 2 => "PORT_MAPPING_NOT_FOUND",
        /// Inconsistent parameters (fault 733).
        InconsistentParameters = 3 => "INCONSISTENT_PARAMETERS",
        /// No such entry (fault 714; 713 for an index past the end).
        NoSuchEntryInArray = 4 => "NO_SUCH_ENTRY_IN_ARRAY",
        /// The action failed (fault 501, and the generic action faults).
        ActionFailed = 5 => "ACTION_FAILED",
        /// The remote host cannot be a wildcard (fault 715).
        SrcIpWildcardNotPermitted = 6 => "SRC_IP_WILDCARD_NOT_PERMITTED",
        /// The external port cannot be a wildcard (fault 716).
        ExtPortWildcardNotPermitted = 7 => "EXT_PORT_WILDCARD_NOT_PERMITTED",
        /// The internal port cannot be a wildcard (fault 732).
        IntPortWildcardNotPermitted = 8 => "INT_PORT_WILDCARD_NOT_PERMITTED",
        /// The remote host must be the wildcard (fault 726).
        RemoteHostMustBeWildcard = 9 => "REMOTE_HOST_MUST_BE_WILDCARD",
        /// The external port must be the wildcard (fault 727).
        ExtPortMustBeWildcard = 10 => "EXT_PORT_MUST_BE_WILDCARD",
        /// No port maps available (fault 728).
        NoPortMapsAvailable = 11 => "NO_PORT_MAPS_AVAILABLE",
        /// Conflicts with another mechanism (fault 729).
        ConflictWithOtherMechanism = 12 => "CONFLICT_WITH_OTHER_MECHANISM",
        /// Conflicts with another client's mapping (fault 718).
        ConflictWithOtherMapping = 13 => "CONFLICT_WITH_OTHER_MAPPING",
        /// Internal and external ports must be equal (fault 724).
        SamePortValuesRequired = 14 => "SAME_PORT_VALUES_REQUIRED",
        /// Only permanent leases are supported (fault 725).
        OnlyPermanentLeaseSupported = 15 => "ONLY_PERMANENT_LEASE_SUPPORTED",
        /// No valid gateway to act on.
        InvalidGateway = 16 => "INVALID_GATEWAY",
        /// A port outside 1-65535 (internal: 0-65535).
        InvalidPort = 17 => "INVALID_PORT",
        /// A protocol other than `"TCP"` or `"UDP"`.
        InvalidProtocol = 18 => "INVALID_PROTOCOL",
        /// A negative duration.
        InvalidDuration = 19 => "INVALID_DURATION",
        /// The gateway says the arguments are invalid (fault 402 and kin).
        InvalidArgs = 20 => "INVALID_ARGS",
        /// The gateway's answer does not make sense.
        InvalidResponse = 21 => "INVALID_RESPONSE",
        /// An invalid parameter (discover's timeout or TTL, a device index).
        InvalidParam = 22 => "INVALID_PARAM",
        /// An HTTP error (a status, a refused or timed-out exchange).
        HttpError = 23 => "HTTP_ERROR",
        /// A socket error (discovery could not send or receive).
        SocketError = 24 => "SOCKET_ERROR",
        /// The gateway ran out of memory (fault 603).
        MemAllocError = 25 => "MEM_ALLOC_ERROR",
        /// No gateway among the devices found.
        NoGateway = 26 => "NO_GATEWAY",
        /// Nothing answered the search.
        NoDevices = 27 => "NO_DEVICES",
        /// Anything else.
        UnknownError = 28 => "UNKNOWN_ERROR",
    }
}

godot_enum! {
    /// Godot's `UPNPDevice.IGDStatus`: what probing a device found.
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    IgdStatus, "IGD_STATUS_" {
        /// A gateway with a connected WAN connection.
        Ok = 0 => "OK",
        /// Its description could not be fetched.
        HttpError = 1 => "HTTP_ERROR",
        /// Its description was empty.
        HttpEmpty = 2 => "HTTP_EMPTY",
        /// Its connection service has no (usable) control URL.
        NoUrls = 3 => "NO_URLS",
        /// An InternetGatewayDevice without a WAN connection service.
        NoIgd = 4 => "NO_IGD",
        /// A gateway whose WAN connection is not connected.
        Disconnected = 5 => "DISCONNECTED",
        /// Not an InternetGatewayDevice, or a description we cannot read.
        UnknownDevice = 6 => "UNKNOWN_DEVICE",
        /// The control URL is refused or does not answer GetStatusInfo.
        InvalidControl = 7 => "INVALID_CONTROL",
        /// Out of memory (kept for Godot's numbering; never produced).
        MallocError = 8 => "MALLOC_ERROR",
        /// Not probed yet, or anything else.
        UnknownError = 9 => "UNKNOWN_ERROR",
    }
}

/// Everything that can go wrong, with the detail; [`Error::result`] gives Godot's code.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An external port outside 1-65535, or an internal one outside 0-65535.
    #[error("invalid port {0} (external ports are 1-65535, internal 0-65535)")]
    InvalidPort(i64),
    /// A protocol other than exactly `"TCP"` or `"UDP"`.
    #[error("invalid protocol {0:?} (expected \"TCP\" or \"UDP\")")]
    InvalidProtocol(String),
    /// A negative lease duration.
    #[error("invalid lease duration {0} (must not be negative)")]
    InvalidDuration(i64),
    /// A parameter out of its range.
    #[error("invalid parameter: {0}")]
    InvalidParam(&'static str),
    /// The device is not a valid gateway; its status and detail say why.
    #[error("not a valid gateway: {0}")]
    InvalidGateway(DeviceStatus),
    /// Nothing answered the search.
    #[error("no UPnP device answered the search")]
    NoDevices,
    /// Devices answered, but none is a valid gateway; each one's status says why.
    #[error("no valid gateway among {} device(s): {}", .0.len(), statuses(.0))]
    NoGateway(Vec<DeviceStatus>),
    /// The port is mapped to another client already: we do not clobber it.
    #[error(
        "port already mapped to {}:{internal_port}",
        shown(internal_client, 64)
    )]
    MappingTaken {
        /// Who has it.
        internal_client: String,
        /// On which port.
        internal_port: u16,
    },
    /// The gateway accepted the mapping but recorded it to another internal client or port
    /// than asked (some routers set the internal port to the external one, whatever was
    /// asked): traffic would go elsewhere, so the mapping we made was removed.
    #[error(
        "the gateway mapped to {}:{internal_port} instead of {}:{asked_port} (removed)",
        shown(internal_client, 64),
        shown(asked_client, 64)
    )]
    MappingRewritten {
        /// The internal client asked for.
        asked_client: String,
        /// The internal port asked for.
        asked_port: u16,
        /// The internal client the gateway recorded.
        internal_client: String,
        /// The internal port the gateway recorded.
        internal_port: u16,
    },
    /// The gateway answered an action with something that makes no sense for it.
    #[error("invalid response: {0}")]
    InvalidResponse(&'static str),
    /// The SOAP or HTTP layer failed, or the gateway refused (a UPnP fault).
    #[error(transparent)]
    Soap(#[from] upnp_soap::Error),
    /// A description could not be read.
    #[error("description: {0}")]
    Description(#[from] upnp_desc::Error),
    /// Discovery failed (a socket, an interface).
    #[error("discovery: {0}")]
    Discovery(#[from] upnp_ssdp::Error),
    /// A PCP or NAT-PMP exchange failed: no answer in time, nothing listening on the
    /// gateway's port 5351, no default gateway, a socket error.
    #[error("PCP/NAT-PMP: {0}")]
    Pmp(#[from] pcp_natpmp::Error),
    /// The gateway refused a PCP request.
    #[error("the gateway refused over PCP: {result}")]
    PcpRefused {
        /// Its result code.
        result: pcp_natpmp::PcpResult,
        /// How long it expects the refusal to last, in seconds.
        lifetime: u32,
    },
    /// The gateway refused a NAT-PMP request.
    #[error("the gateway refused over NAT-PMP: {0}")]
    NatPmpRefused(pcp_natpmp::NatPmpResult),
    /// The exact external port was demanded and the gateway granted another (given back).
    #[error("external port {asked} demanded, the gateway offered {granted}")]
    OtherPortGranted {
        /// The port demanded.
        asked: u16,
        /// The port offered (and given back).
        granted: u16,
    },
    /// The way asked for is not one the gateway speaks (e.g. PCP to a NAT-PMP-only box).
    #[error("the gateway does not speak {0}")]
    NotSpoken(crate::way::Method),
    /// A pinhole to an address that is not global unicast (2000::/3): a link-local, unique
    /// local, loopback, multicast or IPv4-mapped address cannot be reached from the Internet.
    #[error("{0} is not a global IPv6 address: no pinhole can reach it from the Internet")]
    NotGlobal(std::net::Ipv6Addr),
    /// No global IPv6 address of ours to open a pinhole to.
    #[error("this host has no global IPv6 address")]
    NoGlobalAddress,
    /// A pinhole lease outside 1 s to 86400 s (the service has no permanent pinhole).
    #[error("invalid pinhole lease {0} s (1 to 86400)")]
    PinholeLease(u64),
    /// The gateway offers no `WANIPv6FirewallControl` service (or its control URL failed
    /// the checks).
    #[error("the gateway offers no IPv6 firewall control (no pinholes)")]
    NoPinholeService,
    /// The gateway's IPv6 firewall refused: its fault, named as that service means it.
    #[error("the IPv6 firewall refused: {error} ({fault})")]
    FirewallRefused {
        /// The error, as `WANIPv6FirewallControl` names it.
        error: upnp_soap::firewall::FirewallError,
        /// The fault as received.
        fault: upnp_soap::SoapFault,
    },
    /// A STUN server's answer could not be used (malformed, not a Binding answer, another
    /// transaction's, no mapped address).
    #[error("STUN: {0}")]
    StunAnswer(&'static str),
    /// The STUN check's socket failed: the port to check from is held by another program
    /// (bind), or sending failed.
    #[error("STUN: {0}")]
    StunSocket(std::io::Error),
    /// A STUN server refused the Binding request (a Binding error response).
    #[error(
        "the STUN server refused: error {code} {}",
        upnp_desc::text::shown(reason, 128)
    )]
    StunRefused {
        /// Its error code (RFC 5389 `ERROR-CODE`, 300 to 699; 0 when it gave none).
        code: u16,
        /// Its reason phrase (at most 128 characters, as received: show it escaped).
        reason: String,
    },
    /// A driver used a machine against its contract ([`crate::machine`]): polled it after it
    /// was done, or fed it what it never asked for. A fault of the driver, not of the gateway.
    #[error("driver misuse: {0}")]
    Misuse(&'static str),
    /// The blocking driver could not start a thread for concurrent I/O (the system has none
    /// to spare).
    #[error("could not start a thread: {0}")]
    Thread(std::io::Error),
}

#[cfg(test)]
mod tests;

/// Whose fault an error is, and so what a caller can do: the one classification of
/// [`Error`] ([`Error::kind`]), which the keeper (when to look for the gateway again) and
/// the `upnp` command's exit status use; Godot's finer [`UpnpResult`] agrees with it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller's input, refused before anything was sent: fix the call.
    Input,
    /// No gateway: nothing answered, none is valid, nothing listens where one was looked
    /// for, or none offers what was asked (pinholes, the way demanded).
    NoGateway,
    /// The gateway answered and refused: a UPnP fault, a PCP or NAT-PMP result, a port
    /// held by another client.
    Refused,
    /// No answer reached us: a timeout, a connection refused or reset, no route, a socket
    /// of the search that failed. Worth trying again later.
    Unreachable,
    /// The gateway answered with something that cannot be used.
    BadAnswer,
    /// This host could not give what was needed (a thread).
    Local,
    /// A driver used a machine against its contract ([`crate::machine`]): a bug in the
    /// driver, not a gateway's doing.
    Misuse,
}

/// Why one device is not a valid gateway: what [`Error::NoGateway`] and
/// [`Error::InvalidGateway`] keep of it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceStatus {
    /// Its description URL (as received: shown escaped).
    pub description_url: String,
    /// What probing it found.
    pub status: IgdStatus,
    /// Why, in words, when known.
    pub detail: Option<String>,
}

impl From<&crate::Device> for DeviceStatus {
    fn from(device: &crate::Device) -> DeviceStatus {
        DeviceStatus {
            description_url: device.description_url.clone(),
            status: device.igd_status,
            detail: device.status_detail.clone(),
        }
    }
}

impl fmt::Display for DeviceStatus {
    /// `URL (STATUS: detail)`, escaped and bounded: the URL and the detail may come from
    /// the network.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", shown(&self.description_url, 128), self.status)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {}", shown(detail, 256))?;
        }
        f.write_str(")")
    }
}

/// Devices listed in an error message, at most: a flood of answers cannot make it huge.
const MAX_LISTED_DEVICES: usize = 8;

fn statuses(devices: &[DeviceStatus]) -> String {
    let mut out = devices
        .iter()
        .take(MAX_LISTED_DEVICES)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(more) = devices
        .len()
        .checked_sub(MAX_LISTED_DEVICES)
        .filter(|n| *n > 0)
    {
        out.push_str(&format!(" and {more} more"));
    }
    out
}

/// A generic refusal (501, Action Failed) whose text says the mapping table is full: some
/// routers say so instead of 728 (NoPortMapsAvailable), and it is reported as 728 is.
fn says_table_full(fault: &upnp_soap::SoapFault) -> bool {
    let text = fault
        .upnp_error
        .as_ref()
        .and_then(|e| e.description.as_deref())
        .unwrap_or_default()
        .to_ascii_lowercase();
    fault.code() == Some(upnp_soap::ErrorCode::ActionFailed)
        && text.contains("full")
        && (text.contains("table") || text.contains("entr") || text.contains("mapping"))
}

impl Error {
    /// Godot's result code for this error.
    pub fn result(&self) -> UpnpResult {
        use upnp_soap::Error as Soap;
        match self {
            Error::InvalidPort(_) => UpnpResult::InvalidPort,
            Error::InvalidProtocol(_) => UpnpResult::InvalidProtocol,
            Error::InvalidDuration(_) => UpnpResult::InvalidDuration,
            Error::InvalidParam(_) => UpnpResult::InvalidParam,
            Error::Misuse(_) => UpnpResult::UnknownError,
            Error::Thread(_) => UpnpResult::SocketError,
            Error::InvalidGateway(_) => UpnpResult::InvalidGateway,
            Error::NoDevices => UpnpResult::NoDevices,
            Error::NoGateway(_) => UpnpResult::NoGateway,
            Error::InvalidResponse(_) => UpnpResult::InvalidResponse,
            Error::MappingTaken { .. } => UpnpResult::ConflictWithOtherMapping,
            Error::MappingRewritten { .. } => UpnpResult::InconsistentParameters,
            Error::Soap(Soap::Fault(fault)) if says_table_full(fault) => {
                UpnpResult::NoPortMapsAvailable
            }
            Error::Soap(Soap::Fault(fault)) => match fault.code() {
                Some(code) => result_of_code(code),
                None => UpnpResult::UnknownError,
            },
            Error::Soap(soap) if soap.is_network() || soap.is_bad_http() => UpnpResult::HttpError,
            Error::Soap(Soap::ForbiddenUrl { .. }) => UpnpResult::HttpError,
            Error::Soap(Soap::InvalidName { .. } | Soap::Unencodable { .. }) => {
                UpnpResult::InvalidParam
            }
            Error::Soap(_) | Error::Description(_) => UpnpResult::InvalidResponse,
            Error::Discovery(_) => UpnpResult::SocketError,
            Error::Pmp(
                pcp_natpmp::Error::TimedOut(_)
                | pcp_natpmp::Error::PortUnreachable(_)
                | pcp_natpmp::Error::NoGateway(_)
                | pcp_natpmp::Error::Io { .. },
            ) => UpnpResult::SocketError,
            Error::Pmp(_) => UpnpResult::InvalidResponse,
            Error::PcpRefused { result, .. } => result_of_pcp(*result),
            Error::NatPmpRefused(result) => match result {
                pcp_natpmp::NatPmpResult::NotAuthorized => UpnpResult::NotAuthorized,
                _ => UpnpResult::ActionFailed,
            },
            Error::NotSpoken(_) => UpnpResult::NoGateway,
            Error::StunAnswer(_) => UpnpResult::InvalidResponse,
            Error::StunSocket(_) => UpnpResult::SocketError,
            Error::StunRefused { .. } => UpnpResult::ActionFailed,
            Error::OtherPortGranted { .. } => UpnpResult::ConflictWithOtherMapping,
            Error::NotGlobal(_) | Error::NoGlobalAddress => UpnpResult::InvalidParam,
            Error::PinholeLease(_) => UpnpResult::InvalidDuration,
            Error::NoPinholeService => UpnpResult::ActionFailed,
            Error::FirewallRefused { error, .. } => {
                use upnp_soap::firewall::FirewallError as F;
                match error {
                    F::ActionNotAuthorized => UpnpResult::NotAuthorized,
                    F::NoSuchEntry => UpnpResult::NoSuchEntryInArray,
                    F::InternalPortWildcardingNotAllowed => UpnpResult::IntPortWildcardNotPermitted,
                    F::WildCardNotPermittedInSrcIp => UpnpResult::SrcIpWildcardNotPermitted,
                    _ => UpnpResult::ActionFailed,
                }
            }
        }
    }

    /// Whose fault it is ([`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        use upnp_soap::Error as Soap;
        match self {
            Error::InvalidPort(_)
            | Error::InvalidProtocol(_)
            | Error::InvalidDuration(_)
            | Error::InvalidParam(_)
            | Error::NotGlobal(_)
            | Error::PinholeLease(_)
            | Error::Soap(Soap::InvalidName { .. } | Soap::Unencodable { .. }) => ErrorKind::Input,
            Error::NoDevices
            | Error::NoGateway(_)
            | Error::InvalidGateway(_)
            | Error::NotSpoken(_)
            | Error::NoPinholeService
            | Error::NoGlobalAddress
            // Nothing listens for PCP or NAT-PMP there: an answer, and it says no gateway.
            | Error::Pmp(pcp_natpmp::Error::PortUnreachable(_)) => ErrorKind::NoGateway,
            Error::MappingTaken { .. }
            | Error::MappingRewritten { .. }
            | Error::PcpRefused { .. }
            | Error::NatPmpRefused(_)
            | Error::OtherPortGranted { .. }
            | Error::FirewallRefused { .. }
            | Error::StunRefused { .. }
            | Error::Soap(Soap::Fault(_)) => ErrorKind::Refused,
            Error::Soap(soap) if is_transport(soap) => ErrorKind::Unreachable,
            Error::Pmp(
                pcp_natpmp::Error::TimedOut(_)
                | pcp_natpmp::Error::NoGateway(_)
                | pcp_natpmp::Error::Io { .. },
            )
            | Error::Discovery(_) => ErrorKind::Unreachable,
            Error::Soap(_)
            | Error::Description(_)
            | Error::InvalidResponse(_)
            | Error::Pmp(_)
            | Error::StunAnswer(_) => ErrorKind::BadAnswer,
            Error::Thread(_) | Error::StunSocket(_) => ErrorKind::Local,
            Error::Misuse(_) => ErrorKind::Misuse,
        }
    }

    /// No answer reached us ([`ErrorKind::Unreachable`]): the gateway may be away.
    pub(crate) fn is_unreachable(&self) -> bool {
        self.kind() == ErrorKind::Unreachable
    }

    /// The port is held by someone else, or the router refuses this port for a reason
    /// that another port may not have: 718, 724 and 729, a port shown held by another
    /// client, PCP's CANNOT_PROVIDE_EXTERNAL, another port granted when the exact one was
    /// demanded.
    pub fn is_conflict(&self) -> bool {
        use upnp_soap::ErrorCode;
        match self {
            Error::MappingTaken { .. } | Error::OtherPortGranted { .. } => true,
            Error::PcpRefused { result, .. } => {
                *result == pcp_natpmp::PcpResult::CannotProvideExternal
            }
            _ => self.fault().and_then(|f| f.code()).is_some_and(|code| {
                matches!(
                    code,
                    ErrorCode::ConflictInMappingEntry
                        | ErrorCode::SamePortValuesRequired
                        | ErrorCode::ConflictWithOtherMechanisms
                )
            }),
        }
    }

    /// The gateway says there is no such mapping (714).
    pub fn is_absent(&self) -> bool {
        self.fault()
            .is_some_and(|f| f.code() == Some(upnp_soap::ErrorCode::NoSuchEntryInArray))
    }

    /// Godot's integer for this error (`UPNPResult`).
    pub fn code(&self) -> i32 {
        self.result().as_i32()
    }

    /// The UPnP fault, when the gateway refused.
    pub fn fault(&self) -> Option<&upnp_soap::SoapFault> {
        match self {
            Error::Soap(upnp_soap::Error::Fault(fault)) => Some(fault),
            _ => None,
        }
    }
}

/// The nearest of Godot's results for a PCP result code.
fn result_of_pcp(result: pcp_natpmp::PcpResult) -> UpnpResult {
    use pcp_natpmp::PcpResult as P;
    match result {
        P::NotAuthorized => UpnpResult::NotAuthorized,
        P::CannotProvideExternal => UpnpResult::ConflictWithOtherMapping,
        P::UnsupportedProtocol => UpnpResult::InvalidProtocol,
        P::MalformedRequest | P::MalformedOption | P::UnsupportedOption => UpnpResult::InvalidArgs,
        P::NoResources | P::UserExceededQuota => UpnpResult::MemAllocError,
        _ => UpnpResult::ActionFailed,
    }
}

/// Godot's result for a UPnP error code, including the codes Godot leaves as UNKNOWN_ERROR
/// (713, 730, the Device Architecture's 6xx).
pub(crate) fn result_of_code(code: ErrorCode) -> UpnpResult {
    use ErrorCode as C;
    use UpnpResult as R;
    match code {
        C::InvalidArgs
        | C::ArgumentValueInvalid
        | C::ArgumentValueOutOfRange
        | C::StringArgumentTooLong => R::InvalidArgs,
        C::InvalidAction | C::ActionFailed | C::OptionalActionNotImplemented => R::ActionFailed,
        C::OutOfMemory => R::MemAllocError,
        C::ActionNotAuthorized | C::ReadOnly => R::NotAuthorized,
        C::SpecifiedArrayIndexInvalid | C::NoSuchEntryInArray => R::NoSuchEntryInArray,
        C::WildCardNotPermittedInSrcIp => R::SrcIpWildcardNotPermitted,
        C::WildCardNotPermittedInExtPort => R::ExtPortWildcardNotPermitted,
        C::WildCardNotPermittedInIntPort => R::IntPortWildcardNotPermitted,
        C::ConflictInMappingEntry => R::ConflictWithOtherMapping,
        C::SamePortValuesRequired => R::SamePortValuesRequired,
        C::OnlyPermanentLeasesSupported => R::OnlyPermanentLeaseSupported,
        C::RemoteHostOnlySupportsWildcard => R::RemoteHostMustBeWildcard,
        C::ExternalPortOnlySupportsWildcard => R::ExtPortMustBeWildcard,
        C::NoPortMapsAvailable => R::NoPortMapsAvailable,
        C::ConflictWithOtherMechanisms => R::ConflictWithOtherMechanism,
        C::PortMappingNotFound => R::PortMappingNotFound,
        C::InconsistentParameters => R::InconsistentParameters,
        _ => R::UnknownError,
    }
}

/// Whether a SOAP-layer error is about getting there at all (not about the answer).
pub(crate) fn is_transport(error: &upnp_soap::Error) -> bool {
    error.is_network()
        || error.is_bad_http()
        || matches!(error, upnp_soap::Error::ForbiddenUrl { .. })
}
