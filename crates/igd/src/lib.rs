//! Find the home router and open ports through it: Godot Engine's `UPNP` / `UPNPDevice` API,
//! as Rust, over UPnP Internet Gateway Device v1 and v2.
//!
//! The same methods, defaults and numbers as Godot (`discover(2000, 2,
//! "InternetGatewayDevice")`, UDP, same internal port, permanent lease; the 29
//! [`UpnpResult`] codes and 10 [`IgdStatus`] values), with typed errors that carry the
//! detail (the UPnP fault, the HTTP status) and convert to Godot's code with
//! [`Error::result`]. It fixes what Godot gets wrong: each device gets its own status and
//! control URL, a gateway behind another NAT is still valid (and said to be), a search with no
//! valid gateway says why, faults 713 and 730 map to their meaning, another client's mapping is
//! never replaced, and a router's refusal of a lease or a description is retried without it.
//!
//! To hold ports open for as long as a program runs, use the [`keeper`]: it renews leases,
//! checks the mappings, heals after router restarts and address changes, works around
//! conflicts, reports every change, and removes what it made when stopped (this talks to the
//! network, so it is not run here):
//!
//! ```no_run
//! use upnp_igd::blocking::Upnp;
//! use upnp_igd::keeper::{Keep, upnp::Find};
//!
//! let keeper = Upnp::new().keep(Keep::new().udp(7777), Find::default())?;
//! for event in keeper.events().iter().take(1) {
//!     println!("{event}"); // "mapped UDP 7777 as 11.0.0.7:7777 for 192.168.1.10:7777, lease 3600 s"
//! }
//! keeper.stop(); // the mapping is removed
//! # Ok::<(), upnp_igd::Error>(())
//! ```
//!
//! Behind a second NAT (an ISP box in router mode in front of the router: its external address
//! is private), [`upstream`] finds the router in front and maps the same port there too
//! (`add_port_mapping_through`, and the keeper by default: [`keeper::Keep::upstream`]).
//!
//! The logic is pure: every operation is a machine ([`machine`], [`ops`], [`keeper`]); [`blocking`] runs it over
//! the network, and `tokio` (feature `tokio`) does the same with async calls. Every
//! operation has a total deadline and caps on what it takes from the network ([`Limits`]).
//! With feature `tracing`, each decision (an answer skipped and why, a probe and its outcome,
//! a fallback taken, a deadline hit) is a `tracing` debug event.
//!
//! Godot's example, opening port 7777 (this talks to the network, so it is not run here):
//!
//! ```no_run
//! use upnp_igd::blocking::Upnp;
//! use upnp_igd::{DiscoverOptions, MappingRequest};
//!
//! let mut upnp = Upnp::new();
//! upnp.discover(&DiscoverOptions::default())?;
//! let gateway = upnp.get_gateway()?; // says why when there is none
//! println!("external address: {}", gateway.query_external_address()?);
//! let granted = gateway.add_port_mapping(&MappingRequest::new(7777))?; // UDP, permanent
//! println!("lease granted: {} s", granted.mapping.lease_duration);
//! gateway.add_port_mapping(&MappingRequest::new(7777).proto("TCP"))?;
//! # Ok::<(), upnp_igd::Error>(())
//! ```
//!
//! A Godot binding gets Godot's integers back:
//!
//! ```
//! use upnp_igd::{Error, MappingRequest, UpnpResult};
//!
//! let err = MappingRequest::new(70000).validate().unwrap_err();
//! assert_eq!(err.result(), UpnpResult::InvalidPort);
//! assert_eq!(err.code(), 17);
//! let err = MappingRequest::new(7777).proto("udp").validate().unwrap_err();
//! assert!(matches!(err, Error::InvalidProtocol(_)));
//! assert_eq!(err.code(), 18);
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

/// A `tracing` debug event with feature `tracing`; nothing without it. Text from the network
/// goes in escaped (`upnp_desc::text::shown`).
macro_rules! event {
    ($($arg:tt)*) => {{
        #[cfg(feature = "tracing")]
        tracing::debug!($($arg)*);
    }};
}

#[cfg(any(feature = "blocking", feature = "tokio"))]
mod api;
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
mod device;
mod discover;
mod error;
#[cfg(any(feature = "blocking", feature = "tokio"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "blocking", feature = "tokio"))))]
pub mod facade;
pub mod keeper;
mod limits;
pub mod machine;
mod mapping;
pub mod ops;
pub mod pinhole;
pub mod pmp;
pub mod reach;
#[cfg(any(feature = "blocking", feature = "tokio"))]
mod route;
#[cfg(test)]
mod testing;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
pub mod upstream;
mod way;

/// The layers below, whose types this crate's API returns (faults, port mappings, PCP
/// answers, descriptions, search answers): one version of each, the one this crate was built
/// with, without adding them as dependencies of your own.
pub use pcp_natpmp;
#[doc(no_inline)]
pub use upnp_desc;
#[doc(no_inline)]
pub use upnp_soap;
#[doc(no_inline)]
pub use upnp_ssdp;

pub use device::{Device, ServiceUrl};
pub use discover::{DiscoverOptions, DiscoverSettings, Goal};
pub use error::{DeviceStatus, Error, ErrorKind, IgdStatus, UpnpResult};
pub use limits::Limits;
pub use mapping::{DEFAULT_DESCRIPTION, Granted, MappingRequest};
pub use pmp::{Method, Via};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
