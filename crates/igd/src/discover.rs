//! Discovery, Godot's way: its settings and search targets, and the `Discovery` machine
//! that decides which answers to probe, how many at once and when it is over. No I/O.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use upnp_ssdp::SearchTarget;
use upnp_ssdp::{LocalPort, MulticastInterface, SearchOptions};

use crate::device::{Device, Probe};
use crate::error::{Error, IgdStatus};
use crate::limits::{Limits, later};
#[cfg(feature = "tracing")]
use upnp_desc::text::shown;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// Godot's `discover(timeout, ttl, device_filter)` arguments, with its defaults.
#[non_exhaustive]
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

impl DiscoverOptions {
    /// Godot's `discover(timeout, ttl, device_filter)`, with every argument given.
    pub fn new(timeout: i64, ttl: i64, device_filter: impl Into<String>) -> DiscoverOptions {
        DiscoverOptions {
            timeout,
            ttl,
            device_filter: device_filter.into(),
        }
    }

    /// Set the timeout in milliseconds, keeping the other defaults.
    pub fn timeout(mut self, milliseconds: i64) -> Self {
        self.timeout = milliseconds;
        self
    }

    /// Set the multicast TTL.
    pub fn ttl(mut self, ttl: i64) -> Self {
        self.ttl = ttl;
        self
    }

    /// Set the device filter.
    pub fn device_filter(mut self, filter: impl Into<String>) -> Self {
        self.device_filter = filter.into();
        self
    }
}

/// Godot's `UPNP` discovery properties.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoverSettings {
    /// Search over IPv6 (false).
    pub discover_ipv6: bool,
    /// 0: any local port; 1: port 1900; else that port (0).
    pub discover_local_port: i64,
    /// The multicast interface, by name or address; empty for the default ("").
    pub discover_multicast_if: String,
    /// The router's address, when known: M-SEARCHes go to it alone, by unicast (a router
    /// that ignores multicast answers one sent to it). `None` (the default): to the
    /// multicast group, and over IPv4 by unicast to the default gateway as well.
    pub discover_gateway: Option<std::net::IpAddr>,
}

/// How many of [`search_targets`] the first round of M-SEARCHes sends: `InternetGatewayDevice:1`
/// alone. Every gateway answers it (UDA: a device answers a search for a lower version of its
/// type; miniupnpc, and so Godot, searches it first, so every router is tried with it), and
/// each M-SEARCH costs the router work before it serves our description (miniupnpd answers
/// each, and logs each, one after the other). The other targets join the later rounds only
/// while nothing has answered: a gateway that answers only its services or `upnp:rootdevice`
/// is found one round later, and the resends that make us reliable under loss remain.
pub(crate) const LEADING_TARGETS: usize = 1;

/// What we search for: what miniupnpc (and so Godot) searches, plus the IGDv2 types; the
/// first [`LEADING_TARGETS`] lead.
pub(crate) fn search_targets() -> Vec<SearchTarget> {
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
pub(crate) fn search_options(
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
    let destination = settings
        .discover_gateway
        .map(|ip| std::net::SocketAddr::new(ip, upnp_ssdp::SSDP_PORT));
    Ok(SearchOptions::default()
        .targets(search_targets())
        .leading(LEADING_TARGETS)
        .timeout(Duration::from_millis(timeout))
        .ttl(ttl)
        .ipv6(settings.discover_ipv6)
        .local_port(local_port)
        .interface(interface)
        // No interface named: out of every one, not only the one the system's multicast
        // route picks (a VPN, Docker or Hyper-V adapter often takes it).
        .every_interface(true)
        .destination(destination))
}

/// Whether an answer with this search target passes the filter (Godot: substring).
pub(crate) fn passes(filter: &str, search_target: &SearchTarget) -> bool {
    filter.is_empty() || search_target.to_string().contains(filter)
}

/// What a discovery is after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Godot's `discover`: search for the whole timeout and probe every device that answers.
    Every,
    /// `find_gateway`: stop as soon as a valid gateway with a public address is probed, or
    /// a valid one answering from our default gateway's address (the router our traffic goes
    /// through, even behind another NAT).
    FirstPublic,
}

/// Why an answer of the search did not become a device to probe.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skipped {
    /// Its search target does not pass the device filter.
    Filtered,
    /// Its LOCATION is known already.
    Known,
    /// Its address already gave [`Limits::devices_per_host`] LOCATIONs.
    TooManyFromHost,
    /// [`Limits::devices`] devices are known already.
    TooMany,
    /// It came after the search's end.
    Late,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skipped::Filtered => "its search target does not pass the filter",
            Skipped::Known => "its LOCATION is known already",
            Skipped::TooManyFromHost => "its host gave too many LOCATIONs already",
            Skipped::TooMany => "too many devices are known already",
            Skipped::Late => "it came after the search's end",
        })
    }
}

/// A probe for a driver to run now: every exchange of it must end by `deadline` (give the
/// HTTP client that deadline), then the device goes back with [`Discovery::probed`].
#[derive(Debug)]
pub(crate) struct ProbeTask {
    /// Which device: pass it back to [`Discovery::probed`].
    pub id: usize,
    /// The probe to run.
    pub probe: Probe,
    /// When it must be over.
    pub deadline: Instant,
}

/// The next thing a driver does for a [`Discovery`].
#[non_exhaustive]
#[derive(Debug)]
pub(crate) enum DiscoveryStep {
    /// Start this probe, alongside the search and the other probes; then poll again.
    Probe(Box<ProbeTask>),
    /// Nothing to do until this instant, unless an answer comes (feed it to
    /// [`Discovery::response`]) or a probe ends ([`Discovery::probed`]); then poll again.
    Wait(Instant),
    /// Finished: every device found, in the order they answered, each with its probe's
    /// outcome; or [`Error::NoDevices`]. Outstanding probes and the search can be dropped.
    Done(Result<Vec<Device>, Error>),
}

#[derive(Clone, Debug)]
enum Candidate {
    Queued,
    Probing { deadline: Instant },
    Done,
}

/// A discovery, sans I/O: which answers of the search to probe, when, how many at once, and
/// when it is over. Probes run while the search goes on, so a device that is slow or never
/// answers delays neither the search nor another device; one deadline
/// (the search's timeout + [`Limits::probe`]), fixed at the start, bounds it all.
///
/// A driver's loop:
///
/// ```text
/// discovery = Discovery::new(goal, &options, &limits, now)
/// start the search (its answers -> discovery.response(&answer, now); its end -> search_ended())
/// loop { match discovery.poll(now) {
///     Probe(task) -> run task.probe concurrently, each exchange ending by task.deadline;
///                    when done: discovery.probed(task.id, device, now)
///     Wait(until) -> wait for an answer, a probe's end, or `until`
///     Done(result) -> return result } }
/// ```
#[derive(Debug)]
pub(crate) struct Discovery {
    goal: Goal,
    filter: String,
    limits: Limits,
    search_end: Instant,
    deadline: Instant,
    search_over: bool,
    search_error: Option<upnp_ssdp::Error>,
    devices: Vec<(Device, IpAddr, Candidate)>,
    /// Our default gateway's address, when known: a valid gateway answering from it is the
    /// one our traffic goes through.
    default_gateway: Option<IpAddr>,
}

impl Discovery {
    /// A discovery starting at `now`, whose search lasts `options.timeout` ms (validated as
    /// Godot does).
    pub(crate) fn new(
        goal: Goal,
        options: &DiscoverOptions,
        limits: &Limits,
        now: Instant,
    ) -> Result<Discovery, Error> {
        let timeout = u64::try_from(options.timeout)
            .map_err(|_| Error::InvalidParam("discover timeout must not be negative"))?;
        let search_end = later(now, Duration::from_millis(timeout));
        Ok(Discovery {
            goal,
            filter: options.device_filter.clone(),
            limits: limits.clone(),
            search_end,
            deadline: later(search_end, limits.probe),
            search_over: false,
            search_error: None,
            devices: Vec::new(),
            default_gateway: None,
        })
    }

    /// Our default gateway is at `address` (see [`Goal::FirstPublic`]).
    pub(crate) fn default_gateway(&mut self, address: IpAddr) {
        self.default_gateway = Some(address);
    }

    /// When the whole discovery is over at the latest.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the search still runs at `now` (a driver stops reading it when not).
    pub(crate) fn searching(&self, now: Instant) -> bool {
        !self.search_over && now < self.search_end
    }

    /// Feed an answer of the search: a new device to probe, or why not.
    pub(crate) fn response(
        &mut self,
        answer: &upnp_ssdp::search::Response,
        now: Instant,
    ) -> Result<(), Skipped> {
        let outcome = self.take(answer, now);
        match &outcome {
            Ok(()) => event!(
                from = %answer.from,
                location = %shown(&answer.response.location, 128),
                "device found"
            ),
            Err(_why) => event!(
                from = %answer.from,
                location = %shown(&answer.response.location, 128),
                why = %_why,
                "answer skipped"
            ),
        }
        outcome
    }

    fn take(&mut self, answer: &upnp_ssdp::search::Response, now: Instant) -> Result<(), Skipped> {
        if !self.searching(now) {
            return Err(Skipped::Late);
        }
        let response = &answer.response;
        if !passes(&self.filter, &response.search_target) {
            return Err(Skipped::Filtered);
        }
        if self
            .devices
            .iter()
            .any(|(d, ..)| d.description_url == response.location)
        {
            return Err(Skipped::Known);
        }
        let host = answer.from.ip();
        if self.devices.iter().filter(|(_, h, _)| *h == host).count()
            >= self.limits.devices_per_host
        {
            return Err(Skipped::TooManyFromHost);
        }
        if self.devices.len() >= self.limits.devices {
            return Err(Skipped::TooMany);
        }
        let mut device = Device::new(
            response.location.clone(),
            response.search_target.to_string(),
        );
        device.boot_id = response.boot_id;
        self.devices.push((device, host, Candidate::Queued));
        Ok(())
    }

    /// The search is over (its deadline passed, or its socket failed): no more answers.
    pub(crate) fn search_ended(&mut self) {
        self.search_over = true;
    }

    /// The search's socket failed: no more answers. When no device answered, the discovery
    /// fails with this error rather than [`Error::NoDevices`].
    pub(crate) fn search_failed(&mut self, error: upnp_ssdp::Error) {
        self.search_over = true;
        self.search_error.get_or_insert(error);
    }

    /// A probe started by [`DiscoveryStep::Probe`] is over. A probe that was given up at its
    /// deadline is ignored.
    pub(crate) fn probed(&mut self, id: usize, device: Device) {
        if let Some((slot, _, state @ Candidate::Probing { .. })) = self.devices.get_mut(id) {
            event!(
                location = %shown(&device.description_url, 128),
                status = %device.igd_status,
                detail = %shown(device.status_detail.as_deref().unwrap_or(""), 256),
                "probe done"
            );
            *slot = device;
            *state = Candidate::Done;
        }
    }

    /// What to do at `now`.
    pub(crate) fn poll(&mut self, now: Instant) -> DiscoveryStep {
        let over = now >= self.deadline;
        for (device, _, state) in &mut self.devices {
            let why = match state {
                Candidate::Probing { deadline } if now >= *deadline => {
                    "the probe did not end within its time"
                }
                Candidate::Queued | Candidate::Probing { .. } if over => {
                    "not probed within discovery's time"
                }
                _ => continue,
            };
            event!(location = %shown(&device.description_url, 128), why, "probe given up");
            device.igd_status = IgdStatus::HttpError;
            device.status_detail = Some(why.to_owned());
            *state = Candidate::Done;
        }
        // A valid gateway with a public address, or the one at our default gateway's address
        // (the router our traffic goes through: no other can do better for us, even when
        // its own address is private, behind another NAT).
        let found_public = self.goal == Goal::FirstPublic
            && self.devices.iter().any(|(d, host, s)| {
                matches!(s, Candidate::Done)
                    && d.is_valid_gateway()
                    && (d.is_behind_nat() == Some(false) || Some(*host) == self.default_gateway)
            });
        let busy = self
            .devices
            .iter()
            .any(|(.., s)| !matches!(s, Candidate::Done));
        if over || found_public || (!busy && !self.searching(now)) {
            return self.finish();
        }
        let in_flight = |host: IpAddr, devices: &[(Device, IpAddr, Candidate)]| {
            devices
                .iter()
                .filter(|(_, h, s)| *h == host && matches!(s, Candidate::Probing { .. }))
                .count()
        };
        let probing = self
            .devices
            .iter()
            .filter(|(.., s)| matches!(s, Candidate::Probing { .. }))
            .count();
        if probing < self.limits.parallel_probes {
            // The queued device whose host has the fewest probes in flight, earliest first.
            let next = self
                .devices
                .iter()
                .enumerate()
                .filter(|(_, (.., s))| matches!(s, Candidate::Queued))
                .min_by_key(|(i, (_, h, _))| (in_flight(*h, &self.devices), *i))
                .map(|(i, _)| i);
            if let Some((id, (device, host, state))) =
                next.and_then(|i| self.devices.get_mut(i).map(|d| (i, d)))
            {
                let deadline = later(now, self.limits.probe).min(self.deadline);
                event!(location = %shown(&device.description_url, 128), "probe started");
                *state = Candidate::Probing { deadline };
                return DiscoveryStep::Probe(Box::new(ProbeTask {
                    id,
                    probe: Probe::new(device.clone(), Some(*host)),
                    deadline,
                }));
            }
        }
        let mut until = self.deadline;
        if self.searching(now) {
            until = until.min(self.search_end);
        }
        for (.., state) in &self.devices {
            if let Candidate::Probing { deadline } = state {
                until = until.min(*deadline);
            }
        }
        DiscoveryStep::Wait(until)
    }

    fn finish(&mut self) -> DiscoveryStep {
        event!(devices = self.devices.len(), "discovery over");
        self.search_over = true;
        if self.devices.is_empty() {
            return DiscoveryStep::Done(Err(match self.search_error.take() {
                Some(e) => Error::Discovery(e),
                None => Error::NoDevices,
            }));
        }
        DiscoveryStep::Done(Ok(self.devices.iter().map(|(d, ..)| d.clone()).collect()))
    }
}
