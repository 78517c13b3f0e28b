//! Discovery settings and search targets, Godot's way. No I/O.

use std::time::Duration;

use ssdp::SearchTarget;
use ssdp::{LocalPort, MulticastInterface, SearchOptions};

use crate::error::Error;

/// Godot's `discover(timeout, ttl, device_filter)` arguments, with its defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverOptions {
    /// How long to wait for answers, in milliseconds (2000).
    pub timeout: i64,
    /// Multicast TTL (2).
    pub ttl: i64,
    /// Keep devices whose search target contains this (`"InternetGatewayDevice"`); empty
    /// keeps every answer.
    pub device_filter: String,
}

impl Default for DiscoverOptions {
    fn default() -> DiscoverOptions {
        DiscoverOptions {
            timeout: 2000,
            ttl: 2,
            device_filter: "InternetGatewayDevice".to_owned(),
        }
    }
}

/// Godot's `UPNP` discovery properties.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoverSettings {
    /// Search over IPv6 (false).
    pub discover_ipv6: bool,
    /// 0: any local port; 1: port 1900; else that port (0).
    pub discover_local_port: i64,
    /// The multicast interface, by name or address; empty for the default ("").
    pub discover_multicast_if: String,
}

/// What we search for: what miniupnpc (and so Godot) searches, plus the IGDv2 types.
pub fn search_targets() -> Vec<SearchTarget> {
    vec![
        SearchTarget::device("InternetGatewayDevice", 1),
        SearchTarget::device("InternetGatewayDevice", 2),
        SearchTarget::service("WANIPConnection", 1),
        SearchTarget::service("WANIPConnection", 2),
        SearchTarget::service("WANPPPConnection", 1),
        SearchTarget::RootDevice,
    ]
}

/// Validate the options as Godot does and build the search.
pub fn search_options(
    settings: &DiscoverSettings,
    options: &DiscoverOptions,
) -> Result<SearchOptions, Error> {
    let timeout = u64::try_from(options.timeout)
        .map_err(|_| Error::InvalidParam("discover timeout must not be negative"))?;
    let ttl = u32::try_from(options.ttl)
        .ok()
        .filter(|t| *t <= 255)
        .ok_or(Error::InvalidParam("discover TTL must be 0-255"))?;
    let local_port = u16::try_from(settings.discover_local_port)
        .map(LocalPort::from)
        .map_err(|_| Error::InvalidParam("discover local port must be 0-65535"))?;
    let interface = match settings.discover_multicast_if.as_str() {
        "" => None,
        name => Some(
            name.parse::<MulticastInterface>()
                .map_err(|_| Error::InvalidParam("discover multicast interface"))?,
        ),
    };
    Ok(SearchOptions {
        targets: search_targets(),
        timeout: Duration::from_millis(timeout),
        ttl,
        ipv6: settings.discover_ipv6,
        local_port,
        interface,
        ..SearchOptions::default()
    })
}

/// Whether an answer with this search target passes the filter (Godot: substring).
pub fn passes(filter: &str, search_target: &SearchTarget) -> bool {
    filter.is_empty() || search_target.to_string().contains(filter)
}
