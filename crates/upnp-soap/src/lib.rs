//! UPnP control: call an action on a device's service and get its typed answer or its typed
//! fault.
//!
//! The codec does no I/O; any HTTP stack can carry its bytes:
//!
//! - [`envelope`]: [`ActionRequest`] (the SOAPAction header and the envelope),
//!   [`ActionResponse`] and [`Reply`] (a response or a fault), tolerant of how real gateways
//!   write them.
//! - [`fault`]: [`SoapFault`] with its [`UpnpError`]; [`ErrorCode`] names every standard code.
//! - [`actions`]: the Internet Gateway Device's connection-service actions, v1 and v2, typed.
//! - [`firewall`]: IGDv2's `WANIPv6FirewallControl` actions (IPv6 pinholes), typed, and its
//!   faults as that service names them.
//! - [`port_list`]: the listing document of IGDv2's `GetListOfPortMappings`.
//! - [`endpoint`]: which URLs received from the network may be contacted at all.
//!
//! The exchange sits on top, behind features: [`http`] (feature `http`), HTTP/1.1 sans I/O
//! (the request encoder, the response decoder, the exchange machine with its one deadline),
//! and its two drivers, [`blocking::Client`] over `std::net` (feature `blocking`, on by
//! default) and [`tokio::Client`] over tokio's sockets (feature `tokio`). No other HTTP stack:
//! every byte on the wire is decided in [`http`].
//!
//! Building a request and reading the answer, with no network:
//!
//! ```
//! use upnp_soap::actions::{Action, AddPortMapping, PortMapping, Protocol};
//! use upnp_soap::{Error, ErrorCode};
//!
//! let service = "urn:schemas-upnp-org:service:WANIPConnection:2";
//! let mut mapping = PortMapping::new(Protocol::Udp, 7777, "192.168.1.20", 7777);
//! mapping.description = "my game".into();
//! mapping.lease_duration = 3600;
//! let add = AddPortMapping(mapping);
//! let request = add.request(service);
//! assert_eq!(request.soap_action()?, format!("\"{service}#AddPortMapping\""));
//! let body = request.encode()?; // POST this to the control URL
//! assert!(body.contains("<NewExternalPort>7777</NewExternalPort>"));
//!
//! // The router refuses: HTTP 500 with a UPnP fault.
//! let answer = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
//!   <s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>
//!   <detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0">
//!     <errorCode>725</errorCode><errorDescription>OnlyPermanentLeasesSupported</errorDescription>
//!   </UPnPError></detail></s:Fault></s:Body></s:Envelope>"#;
//! match add.parse_reply(answer) {
//!     Err(Error::Fault(fault)) => {
//!         assert_eq!(fault.code(), Some(ErrorCode::OnlyPermanentLeasesSupported));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), Error>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod actions;
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
#[cfg(any(feature = "blocking", feature = "tokio"))]
mod driver;
pub mod endpoint;
pub mod envelope;
pub mod error;
pub mod fault;
pub mod firewall;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;

pub use actions::{Action, PortMapping, Protocol, port_list};
pub use envelope::{ActionRequest, ActionResponse, Reply};
pub use error::{Error, Framing, Stage};
pub use fault::{ErrorCode, SoapFault, UpnpError};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
