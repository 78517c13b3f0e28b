//! SSDP, the discovery protocol of UPnP: find devices on the local network.
//!
//! Two layers, usable on their own:
//!
//! - [`message`] and [`search`] are pure: they turn values into datagrams and datagrams into
//!   values, and decide when to send and what to keep. They open no socket and read no clock
//!   (the caller passes `now`), so any I/O stack can drive them and tests need no network.
//! - `net` (feature `net`, on by default) is the I/O: a blocking `net::Searcher` on a socket2 UDP socket, with everything
//!   Godot's `UPNP.discover()` exposes (timeout, TTL, IPv4 or IPv6, local port, multicast
//!   interface) and one overall deadline that no datagram can extend.
//!
//! Decoding a response, as a device sends it:
//!
//! ```
//! use upnp_ssdp::{SearchResponse, SearchTarget};
//!
//! let datagram = b"HTTP/1.1 200 OK\r\n\
//!     CACHE-CONTROL: max-age=120\r\n\
//!     ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
//!     USN: uuid:3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
//!     EXT:\r\n\
//!     LOCATION: http://192.168.77.1:5000/rootDesc.xml\r\n\r\n";
//! let response = SearchResponse::parse(datagram)?;
//! assert_eq!(response.location, "http://192.168.77.1:5000/rootDesc.xml");
//! assert_eq!(response.search_target, SearchTarget::device("InternetGatewayDevice", 1));
//! assert_eq!(response.max_age, Some(120));
//! # Ok::<(), upnp_ssdp::Error>(())
//! ```
//!
//! Searching (this sends multicast, so it is not run here):
//!
//! ```no_run
//! use upnp_ssdp::net::{SearchOptions, Searcher};
//!
//! let options = SearchOptions::default(); // Godot's: IGD:1, 2000 ms, TTL 2, IPv4
//! for found in Searcher::start(&options)? {
//!     let found = found?;
//!     println!("{} at {}", found.response.location, found.from);
//!     break; // stop at the first useful answer
//! }
//! # Ok::<(), upnp_ssdp::Error>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod message;
#[cfg(feature = "net")]
#[cfg_attr(docsrs, doc(cfg(feature = "net")))]
pub mod net;
pub mod options;
pub mod search;
pub mod watch;

pub use error::Error;
pub use message::{
    Header, IPV4_MULTICAST, IPV6_LINK_LOCAL, IPV6_SITE_LOCAL, MAX_MESSAGE_SIZE, MSearch, Message,
    Notify, NotifyKind, SSDP_PORT, SearchResponse, SearchTarget, UPNP_DOMAIN, UrnType,
};
pub use options::{Ipv6Scope, LocalPort, MulticastInterface, SearchOptions};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
