//! Finding, in a description, the services that control a gateway.
//!
//! The tree UPnP prescribes is InternetGatewayDevice → WANDevice → WANConnectionDevice →
//! WANIPConnection or WANPPPConnection. Real routers bend it: services outside the expected
//! device, two WAN connection devices, an IGD embedded under another root. So the search is
//! tolerant where a router would be (every connection service anywhere under the IGD, in
//! document order) and strict where a guess would be dangerous: there must be an
//! InternetGatewayDevice, and a service is classified by its `serviceType`, never by the look
//! of its URLs.
//!
//! The Broadband Forum's TR-064 services (`urn:dslforum-org:service:WANIPConnection:1`,
//! `WANPPPConnection:1`, with the same actions) are the last choice: used only when the
//! description has no UPnP Forum connection service (some DSL boxes, the Huawei HG531 V1,
//! offer only those), as Tailscale's port mapper does.

use upnp_ssdp::UrnType;

use crate::description::{Device, DeviceDescription, Service};
use crate::error::Error;

/// The two kinds of WAN connection service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionKind {
    /// `WANIPConnection`.
    Ip,
    /// `WANPPPConnection`.
    Ppp,
}

/// A WAN connection service of the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionService<'a> {
    /// IP or PPP.
    pub kind: ConnectionKind,
    /// The service version (1 or 2).
    pub version: u32,
    /// The service as described.
    pub service: &'a Service,
    /// The device that lists it.
    pub device: &'a Device,
}

/// What a description offers to control a gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gateway<'a> {
    /// The InternetGatewayDevice.
    pub igd: &'a Device,
    /// Its version (1 or 2).
    pub igd_version: u32,
    /// Every WANIPConnection and WANPPPConnection service under it, in document order.
    pub connections: Vec<ConnectionService<'a>>,
    /// `WANCommonInterfaceConfig`, when present.
    pub common_interface: Option<&'a Service>,
    /// `WANIPv6FirewallControl`, when present.
    pub ipv6_firewall: Option<&'a Service>,
}

impl Gateway<'_> {
    /// The connection service to use: the first in document order. (Which one is actually
    /// connected only the gateway can tell; the layer above asks it.)
    pub fn connection(&self) -> Option<&ConnectionService<'_>> {
        self.connections.first()
    }
}

fn standard(urn: &UrnType) -> bool {
    urn.domain == upnp_ssdp::UPNP_DOMAIN
}

/// The Broadband Forum's domain (TR-064).
pub const TR064_DOMAIN: &str = "dslforum-org";

fn tr064(urn: &UrnType) -> bool {
    urn.domain == TR064_DOMAIN
}

/// Whether `device` is an InternetGatewayDevice of the Broadband Forum's domain.
fn is_tr064_igd(device: &Device) -> bool {
    device
        .urn()
        .is_some_and(|u| tr064(&u) && u.name == "InternetGatewayDevice")
}

impl DeviceDescription {
    /// The gateway described, if this is one.
    pub fn gateway(&self) -> Result<Gateway<'_>, Error> {
        let igd = self
            .device
            .walk()
            .find(|d| d.is("InternetGatewayDevice", 1))
            .or_else(|| self.device.walk().find(|d| is_tr064_igd(d)))
            .ok_or(Error::NoGateway)?;
        let igd_version = igd.urn().map_or(1, |u| u.version);
        let mut connections = Vec::new();
        let mut legacy = Vec::new();
        let mut common_interface = None;
        let mut ipv6_firewall = None;
        for device in igd.walk() {
            for service in &device.services {
                let Some(urn) = service.urn() else {
                    continue;
                };
                if tr064(&urn) {
                    let kind = match urn.name.as_str() {
                        "WANIPConnection" => ConnectionKind::Ip,
                        "WANPPPConnection" => ConnectionKind::Ppp,
                        _ => continue,
                    };
                    legacy.push(ConnectionService {
                        kind,
                        version: urn.version,
                        service,
                        device,
                    });
                    continue;
                }
                if !standard(&urn) {
                    continue;
                }
                let kind = match urn.name.as_str() {
                    "WANIPConnection" => ConnectionKind::Ip,
                    "WANPPPConnection" => ConnectionKind::Ppp,
                    "WANCommonInterfaceConfig" => {
                        common_interface.get_or_insert(service);
                        continue;
                    }
                    "WANIPv6FirewallControl" => {
                        ipv6_firewall.get_or_insert(service);
                        continue;
                    }
                    _ => continue,
                };
                connections.push(ConnectionService {
                    kind,
                    version: urn.version,
                    service,
                    device,
                });
            }
        }
        if connections.is_empty() {
            connections = legacy;
        }
        if connections.is_empty() {
            return Err(Error::NoConnectionService);
        }
        Ok(Gateway {
            igd,
            igd_version,
            connections,
            common_interface,
            ipv6_firewall,
        })
    }
}
