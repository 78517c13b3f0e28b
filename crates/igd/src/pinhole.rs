//! IPv6 pinholes, without I/O: what to ask an IGDv2 gateway's `WANIPv6FirewallControl`
//! service, checked before anything is sent.
//!
//! On IPv6 there is no NAT: our host has a global address of its own, and the router's
//! firewall drops what comes in unasked. A pinhole lets one port of our global address be
//! reached from the Internet (from any host, or from one) for a lease of 1 s to 1 day. The
//! gateway names it by a `UniqueID`; renewing and closing it take that ID. The service has
//! no listing: a caller keeps the [`Pinhole`]s it opened (the keeper does).
//!
//! ```
//! use std::time::Duration;
//! use upnp_igd::pinhole::PinholeRequest;
//! use upnp_igd::keeper::Protocol;
//!
//! let request = PinholeRequest::new(Protocol::Udp, 7777).lease(Duration::from_secs(600));
//! assert!(request.validate().is_ok());
//! // A link-local address or a lease over a day is refused before any packet is sent.
//! let link_local = request.clone().client("fe80::1".parse().unwrap());
//! assert!(matches!(link_local.validate(), Err(upnp_igd::Error::NotGlobal(_))));
//! let long = request.lease(Duration::from_secs(86_401));
//! assert!(matches!(long.validate(), Err(upnp_igd::Error::PinholeLease(86_401))));
//! ```

use std::net::Ipv6Addr;
use std::time::Duration;

use upnp_soap::ActionResponse;
use upnp_soap::actions::{Action, Protocol};
use upnp_soap::firewall::{AddPinhole, FirewallError, MAX_LEASE_TIME};

use crate::error::Error;
use crate::mapping::Single;
use crate::mapping::{Next, Sequence};

#[cfg(test)]
mod tests;

/// A pinhole to ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PinholeRequest {
    /// UDP or TCP.
    pub protocol: Protocol,
    /// Our port.
    pub internal_port: u16,
    /// The address let in to; `None`: our own global address (the drivers find it).
    pub internal_client: Option<Ipv6Addr>,
    /// The remote host let in; `None`: any.
    pub remote_host: Option<Ipv6Addr>,
    /// The remote port let in; 0: any.
    pub remote_port: u16,
    /// How long (1 s to 1 day; 1 hour by default).
    pub lease: Duration,
}

impl PinholeRequest {
    /// Let anyone in to our `internal_port` over `protocol`, for an hour.
    pub fn new(protocol: Protocol, internal_port: u16) -> PinholeRequest {
        PinholeRequest {
            protocol,
            internal_port,
            internal_client: None,
            remote_host: None,
            remote_port: 0,
            lease: Duration::from_secs(3600),
        }
    }

    /// Set [`PinholeRequest::lease`].
    pub fn lease(mut self, lease: Duration) -> PinholeRequest {
        self.lease = lease;
        self
    }

    /// Set [`PinholeRequest::internal_client`] (gateways refuse another host than the one
    /// asking, unless it is authorized).
    pub fn client(mut self, client: Ipv6Addr) -> PinholeRequest {
        self.internal_client = Some(client);
        self
    }

    /// Let in only `host` (and `port`, 0 for any).
    pub fn remote(mut self, host: Ipv6Addr, port: u16) -> PinholeRequest {
        self.remote_host = Some(host);
        self.remote_port = port;
        self
    }

    /// Check it before anything is sent: the port is not 0, the lease is 1 s to 1 day, and
    /// the client, when one is set, is a global unicast address.
    pub fn validate(&self) -> Result<(), Error> {
        if self.internal_port == 0 {
            return Err(Error::InvalidPort(0));
        }
        lease_time(self.lease)?;
        match self.internal_client {
            Some(client) if !is_global_unicast(client) => Err(Error::NotGlobal(client)),
            _ => Ok(()),
        }
    }

    /// The `AddPinhole` to send, `ours` being our global address (used when no client is
    /// set): refused with a typed error when [`PinholeRequest::validate`] refuses it or our
    /// address is not global unicast.
    pub(crate) fn action(&self, ours: Option<Ipv6Addr>) -> Result<AddPinhole, Error> {
        self.validate()?;
        let lease_time = lease_time(self.lease)?;
        let client = self
            .internal_client
            .or(ours)
            .ok_or(Error::NoGlobalAddress)?;
        if !is_global_unicast(client) {
            return Err(Error::NotGlobal(client));
        }
        Ok(AddPinhole {
            remote_host: self.remote_host,
            remote_port: self.remote_port,
            internal_client: client,
            internal_port: self.internal_port,
            protocol: self.protocol,
            lease_time,
        })
    }
}

/// A pinhole the gateway opened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pinhole {
    /// The gateway's name for it.
    pub unique_id: u16,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// The address let in to.
    pub internal_client: Ipv6Addr,
    /// The port let in to.
    pub internal_port: u16,
    /// The remote host let in; `None`: any.
    pub remote_host: Option<Ipv6Addr>,
    /// The remote port let in; 0: any.
    pub remote_port: u16,
    /// The lease asked for (the service grants it as asked, or refuses).
    pub lease: Duration,
}

impl Pinhole {
    /// The pinhole `add` opened, named `unique_id`.
    pub(crate) fn opened(add: &AddPinhole, unique_id: u16) -> Pinhole {
        Pinhole {
            unique_id,
            protocol: add.protocol,
            internal_client: add.internal_client,
            internal_port: add.internal_port,
            remote_host: add.remote_host,
            remote_port: add.remote_port,
            lease: Duration::from_secs(u64::from(add.lease_time)),
        }
    }
}

/// Whether `address` is global unicast (2000::/3, RFC 4291): what the Internet can reach.
/// Link-local (fe80::/10), unique local (fc00::/7), loopback, unspecified, multicast and
/// IPv4-mapped addresses are not.
pub(crate) fn is_global_unicast(address: Ipv6Addr) -> bool {
    let [first, ..] = address.segments();
    first & 0xe000 == 0x2000
}

/// A lease as the service's seconds: 1 to 86400.
pub(crate) fn lease_time(lease: Duration) -> Result<u32, Error> {
    let seconds = lease.as_secs();
    match u32::try_from(seconds) {
        Ok(s) if (1..=MAX_LEASE_TIME).contains(&s) => Ok(s),
        _ => Err(Error::PinholeLease(seconds)),
    }
}

#[cfg(any(feature = "blocking", feature = "tokio"))]
/// `CheckPinholeWorking`'s outcome as a yes or no: the service says "no traffic" as a
/// fault (709).
pub(crate) fn working(outcome: Result<bool, Error>) -> Result<bool, Error> {
    match outcome {
        Err(Error::FirewallRefused {
            error: FirewallError::NoTrafficReceived,
            ..
        }) => Ok(false),
        other => other,
    }
}

/// One action of the firewall service, its faults named as that service means them
/// ([`Error::FirewallRefused`]).
#[derive(Debug)]
pub(crate) struct FirewallCall<A>(Single<A>);

impl<A: Action> FirewallCall<A> {
    /// Call `action` on the firewall service of type `service_type`.
    pub(crate) fn new(action: A, service_type: &str) -> FirewallCall<A> {
        FirewallCall(Single::new(action, service_type))
    }
}

impl<A: Action> Sequence for FirewallCall<A> {
    type Output = A::Output;

    fn start(&mut self) -> Next<A::Output> {
        self.0.start()
    }

    fn handle(&mut self, outcome: Result<ActionResponse, upnp_soap::Error>) -> Next<A::Output> {
        match self.0.handle(outcome) {
            Next::Done(Err(e)) => Next::Done(Err(refused(e))),
            other => other,
        }
    }
}

/// A fault of the firewall service as [`Error::FirewallRefused`]; any other error as it is.
pub(crate) fn refused(error: Error) -> Error {
    match error {
        Error::Soap(upnp_soap::Error::Fault(fault)) => match FirewallError::of(&fault) {
            Some(error) => Error::FirewallRefused { error, fault },
            None => Error::Soap(upnp_soap::Error::Fault(fault)),
        },
        other => other,
    }
}
