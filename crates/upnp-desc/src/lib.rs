//! UPnP device and service descriptions: bytes in, a typed model out. No sockets, no HTTP.
//!
//! - [`xml`]: the gate every XML document passes before xmltree sees it (size, DOCTYPE,
//!   nesting and element caps); the SOAP layer uses it too.
//! - [`description`]: the root device description: devices, services, `URLBase`, and URL
//!   resolution as the UPnP Device Architecture says, with foreign hosts flagged.
//! - [`gateway`]: finding the WAN connection services of an InternetGatewayDevice.
//! - [`scpd`]: a service's actions and state variables, to learn which optional actions a
//!   gateway offers.
//!
//! From the bytes behind an SSDP LOCATION to the control URL of the gateway's connection
//! service:
//!
//! ```
//! use upnp_desc::DeviceDescription;
//! use url::Url;
//!
//! let location = Url::parse("http://192.168.1.1:5000/rootDesc.xml").unwrap();
//! let bytes = br#"<?xml version="1.0"?>
//! <root xmlns="urn:schemas-upnp-org:device-1-0">
//!   <device>
//!     <deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
//!     <deviceList><device>
//!       <deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
//!       <deviceList><device>
//!         <deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
//!         <serviceList><service>
//!           <serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
//!           <controlURL>/ctl/IPConn</controlURL>
//!         </service></serviceList>
//!       </device></deviceList>
//!     </device></deviceList>
//!   </device>
//! </root>"#;
//! let description = DeviceDescription::parse(bytes)?;
//! let gateway = description.gateway()?;
//! let connection = gateway.connection().expect("a gateway has one");
//! let control = connection.service.control_url.as_deref().unwrap_or_default();
//! let control = description.resolve(control, &location)?;
//! assert_eq!(control.url.as_str(), "http://192.168.1.1:5000/ctl/IPConn");
//! assert!(!control.foreign_host);
//! # Ok::<(), upnp_desc::Error>(())
//! ```

pub mod description;
pub mod error;
pub mod gateway;
pub mod scpd;
pub mod text;
pub mod xml;

pub use description::{Device, DeviceDescription, ResolvedUrl, Service};
pub use error::Error;
pub use gateway::{ConnectionKind, ConnectionService, Gateway};
pub use scpd::{Action, Argument, Direction, Scpd, StateVariable};

/// Write a tree as compact XML with a declaration, as devices serve it.
pub(crate) fn write(root: &xmltree::Element) -> String {
    let mut out = Vec::new();
    let config = xmltree::EmitterConfig::new()
        .perform_indent(false)
        .write_document_declaration(true);
    // Writing to a Vec cannot fail, and the tree holds only what we built.
    let _ = root.write_with_config(&mut out, config);
    String::from_utf8(out).unwrap_or_default()
}

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
