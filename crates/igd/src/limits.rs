//! The bounds of every operation (see [`Limits`]). No I/O.

use std::time::{Duration, Instant};

/// The bounds of every operation: deadlines and counts. Godot has none of these; the
/// defaults let a healthy router (which answers in milliseconds) finish with room to spare
/// and bound the time a silent or slow one can take: a hostile or broken LAN can neither
/// stall nor flood a caller.
///
/// Every operation has a total deadline of its own, fixed when it starts, that nothing
/// received can extend; each HTTP exchange within it also keeps its own timeout
/// (`upnp_soap::http::Config`), whichever ends first.
///
/// | operation | ends by |
/// | --- | --- |
/// | `discover` (Godot's) | the search's `timeout` (2000 ms) + [`Limits::probe`] |
/// | `find_gateway` | the same, or as soon as a gateway with a public address is probed |
/// | `device_at` (one URL) | [`Limits::probe`] |
/// | `query_external_address`, `add_port_mapping`, `delete_port_mapping` | [`Limits::call`] |
/// | `list_port_mappings` | [`Limits::list`] |
///
/// ```
/// use std::time::{Duration, Instant};
/// use upnp_igd::Limits;
///
/// let mut limits = Limits::default();
/// limits.call = Duration::from_secs(5);
/// assert_eq!(limits.probe, Duration::from_secs(5));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Probing one device, from its description to its external address (5 s). During
    /// discovery, probes run at once (up to [`Limits::parallel_probes`]) while the search
    /// goes on, so a slow device delays neither the search nor another device.
    pub probe: Duration,
    /// Checking a gateway found before with its one exchange (`Probe::revalidate`),
    /// 1.5 s: a gateway on the LAN answers in milliseconds (a lost SYN is sent again after
    /// 250 ms, then 750 ms, all still in time); a saved one that is not there any more (another network) costs
    /// at most this before the search.
    pub revalidate: Duration,
    /// One call on a gateway, all its exchanges together: `query_external_address`,
    /// `add_port_mapping` (look, add, fallbacks, read back), `delete_port_mapping` (10 s).
    pub call: Duration,
    /// Listing every mapping of a gateway (30 s).
    pub list: Duration,
    /// Devices probed by one discovery, at most (32); further new LOCATIONs are skipped.
    pub devices: usize,
    /// Devices (distinct LOCATIONs) taken from one answering address, at most (4), so that
    /// one host cannot crowd out the others.
    pub devices_per_host: usize,
    /// Probes in flight at once during discovery (8).
    pub parallel_probes: usize,
    /// Mappings listed, at most (1024); a listing stops there.
    pub list_entries: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            probe: Duration::from_secs(5),
            revalidate: Duration::from_millis(1500),
            call: Duration::from_secs(10),
            list: Duration::from_secs(30),
            devices: 32,
            devices_per_host: 4,
            parallel_probes: 8,
            list_entries: 1024,
        }
    }
}

/// `now + duration`, or a day from now when that is not representable.
pub(crate) fn later(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}
