//! NAT-PMP (RFC 6886) and PCP (RFC 6887): ask the router for a port mapping when it speaks
//! no UPnP. PCP's version negotiation falls back to NAT-PMP (version 0), so one crate holds
//! both.
//!
//! Two layers, usable on their own:
//!
//! - [`natpmp`], [`message`], [`epoch`] and [`exchange`] are pure: messages to bytes and bytes
//!   to messages, the epoch rules that tell a restarted gateway, and one request's
//!   retransmissions and answer matching as a machine with `now` passed in. They open no
//!   socket and read no clock; any I/O stack can drive them.
//! - `net` (feature `net`, on by default) is the I/O: the default gateway (found with the
//!   `getifs` crate), a blocking UDP client that runs an [`Exchange`], and a listener for the
//!   gateway's announcements; `net::tokio` (feature `tokio`) the same for async code.
//!
//! A MAP request, and the gateway's answer:
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use pcp_natpmp::{Map, Nonce, PcpRequest, PcpResponse, PcpResult, Protocol, ResponseOp};
//!
//! let us = IpAddr::V4(Ipv4Addr::new(192, 168, 77, 10));
//! let nonce = Nonce([7; 12]);
//! let request = PcpRequest::map(us, Map::new(nonce, Protocol::Udp, 7777, 7777), 3600);
//! let datagram = request.encode()?;
//! assert_eq!(datagram.len(), 60);
//! assert_eq!(PcpRequest::parse(&datagram)?, request);
//!
//! let mut granted = Map::new(nonce, Protocol::Udp, 7777, 7777);
//! granted.external_address = IpAddr::V4(Ipv4Addr::new(11, 0, 0, 7));
//! let answer = PcpResponse {
//!     result: PcpResult::Success,
//!     lifetime: 3600,
//!     epoch: 42,
//!     op: ResponseOp::Map(granted),
//!     options: Vec::new(),
//! };
//! assert_eq!(PcpResponse::parse(&answer.encode()?)?, answer);
//! # Ok::<(), pcp_natpmp::Error>(())
//! ```
//!
//! Driving an exchange by hand (what `net::Client::run` does with a socket):
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddr};
//! use std::time::{Duration, Instant};
//! use pcp_natpmp::{Exchange, NatPmpRequest, Poll, Request};
//!
//! let gateway = SocketAddr::from((Ipv4Addr::new(192, 168, 77, 1), pcp_natpmp::SERVER_PORT));
//! let now = Instant::now();
//! let request = Request::NatPmp(NatPmpRequest::ExternalAddress);
//! let mut exchange = Exchange::new(request, gateway, now, now + Duration::from_secs(2))?;
//! assert_eq!(exchange.poll(now), Poll::Send(&[0, 0]));
//! // Nothing back: NAT-PMP sends again after 250 ms.
//! assert_eq!(exchange.poll(now), Poll::Wait(now + Duration::from_millis(250)));
//! # Ok::<(), pcp_natpmp::Error>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod epoch;
pub mod error;
pub mod exchange;
pub mod message;
pub mod natpmp;
#[cfg(feature = "net")]
#[cfg_attr(docsrs, doc(cfg(feature = "net")))]
pub mod net;
pub mod protocol;
mod wire;

pub use epoch::{Epoch, EpochCheck, EpochRule};
pub use error::Error;
pub use exchange::{Announcement, Exchange, Ignored, Poll, Received, Request, Schedule};
pub use message::{
    ANNOUNCE_PORT, Map, Nonce, PCP_VERSION, PcpOption, PcpRequest, PcpResponse, PcpResult,
    RequestOp, Response, ResponseOp, SERVER_PORT,
};
pub use natpmp::{NATPMP_VERSION, NatPmpRequest, NatPmpResponse, NatPmpResult};
pub use protocol::Protocol;

/// The largest message either protocol sends (RFC 6887 §7: 1100 bytes); longer datagrams are
/// refused unread.
pub const MAX_MESSAGE_SIZE: usize = 1100;

/// The most options a PCP message may carry here (real messages carry one or two).
pub const MAX_OPTIONS: usize = 16;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
