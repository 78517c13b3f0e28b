//! The command line of `upnp`: its options and commands, as clap parses them.
//!
//! The binary is the crate's point; this library exists so that tools can build what is
//! derived from the command line (`cargo xtask dist`: the man page and shell completions,
//! with clap's own crates) without running it.
//!
//! ```
//! use clap::Parser;
//! use upnp_cli::{Cli, Command};
//!
//! let cli = Cli::try_parse_from(["upnp", "add", "7777", "--proto", "tcp", "--json"])?;
//! assert!(cli.json);
//! assert!(matches!(cli.command, Command::Add { port: 7777, .. }));
//! # Ok::<(), clap::Error>(())
//! ```

use std::net::IpAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};
use upnp_igd::Via;
use upnp_igd::keeper::Protocol;

/// Find the router, show its external address, open, close and list port mappings (UPnP IGD,
/// PCP, NAT-PMP).
#[derive(Debug, Parser)]
#[command(name = "upnp", version, propagate_version = true, after_help = AFTER_HELP)]
pub struct Cli {
    /// Use the device whose description is at this URL instead of discovering.
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Print JSON Lines on stdout: one document per line, `{"version":1,"command":...}`
    /// with the command's result, or `error` when it failed.
    #[arg(long, global = true)]
    pub json: bool,
    /// Tell on stderr each decision taken: answers skipped and why, each probe and its
    /// outcome, fallbacks, deadlines hit.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// How long discovery waits for answers, in milliseconds.
    #[arg(long, default_value_t = 2000, global = true)]
    pub timeout: i64,
    /// Talk to the router over IPv6: discover over IPv6, and ask PCP at the IPv6 default
    /// gateway, where a mapping is a pinhole to this host's global IPv6 address.
    #[arg(long, global = true)]
    pub ipv6: bool,
    /// The interface (name or address) to discover from.
    #[arg(long, global = true)]
    pub interface: Option<String>,
    /// Which way to reach the router: auto (UPnP, PCP and NAT-PMP probed at once; UPnP
    /// preferred, then PCP, then NAT-PMP), upnp, pcp or natpmp.
    #[arg(long, default_value = "auto", global = true)]
    pub via: Via,
    /// The router's address: PCP and NAT-PMP ask it, and UPnP's M-SEARCHes go to it by
    /// unicast alone (default: the default gateway, which the multicast search also reaches
    /// by unicast).
    #[arg(long, global = true)]
    pub gateway: Option<IpAddr>,
    /// Search for the router even if one was found a moment ago. Without it, external-ip,
    /// add, delete, list and keep first check the last gateway found (kept in the user's
    /// cache directory) with one exchange, and search only if that fails.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `upnp pinhole ...`.
#[derive(Debug, Subcommand)]
pub enum PinholeAction {
    /// Open a pinhole to PORT of this host's global IPv6 address (from any remote host).
    Open {
        /// Our port.
        port: u16,
        /// The protocol.
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        proto: Proto,
        /// The lease in seconds (1 to 86400: pinholes are never permanent).
        #[arg(long, default_value_t = 3600)]
        lease: u64,
        /// The address let in to (default: ours; routers refuse another host's).
        #[arg(long)]
        client: Option<std::net::Ipv6Addr>,
        /// Let in only this remote host.
        #[arg(long)]
        remote: Option<std::net::Ipv6Addr>,
    },
    /// Close the pinhole ID.
    Close {
        /// The pinhole's ID, as `open` printed it.
        id: u16,
    },
    /// The pinholes this tool opened on the router whose lease has not ended (the router
    /// itself lists none).
    List,
    /// The router's IPv6 firewall: on or off, and whether pinholes may be opened.
    Status,
}

/// The router in front of ours (an ISP box in router mode): `add`, `delete` and `check`
/// look for it when the gateway's external address is private, at the usual addresses of a
/// router on that address's /24 (`.1`, `.254`: one unicast M-SEARCH each), and map the same
/// external port there to the gateway's external address (`upnp_igd::upstream`).
#[derive(Args, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Front {
    /// The router in front is at this address (asked whatever the gateway's external
    /// address, and no other address is).
    #[arg(long, value_name = "ADDR", conflicts_with = "no_upstream")]
    pub upstream: Option<IpAddr>,
    /// Never look in front of the gateway.
    #[arg(long)]
    pub no_upstream: bool,
}

impl Front {
    /// Where to look, as the library says it.
    pub fn upstream(&self) -> upnp_igd::upstream::Upstream {
        use upnp_igd::upstream::Upstream;
        match (self.upstream, self.no_upstream) {
            (Some(ip), _) => Upstream::At(ip),
            (None, true) => Upstream::Off,
            (None, false) => Upstream::WhenPrivate,
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// IPv6 pinholes (IGDv2's WANIPv6FirewallControl): let the Internet reach a port of this
    /// host's global IPv6 address. The router is searched for over IPv6.
    Pinhole {
        /// What to do with pinholes.
        #[command(subcommand)]
        action: PinholeAction,
    },
    /// List every device that answers, its connection service, control URL and status, and
    /// why it is or is not a valid gateway (waits out the whole timeout).
    Discover,
    /// Print the gateway's external address alone on a line.
    ExternalIp,
    /// Map PORT on the gateway to this host (UDP, same port, permanent lease by default).
    Add {
        /// The external port.
        port: i64,
        /// The internal port; 0 (the default): the same as PORT.
        #[arg(long, default_value_t = 0, hide_default_value = true)]
        internal: i64,
        /// The protocol.
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        proto: Proto,
        /// The description shown in the router's UI.
        #[arg(long, default_value = "")]
        desc: String,
        /// The lease in seconds (0: permanent; PCP and NAT-PMP have no permanent mapping:
        /// a day is asked instead).
        #[arg(long, default_value_t = 0)]
        lease: i64,
        /// Where the router in front is (behind a second NAT).
        #[command(flatten)]
        front: Front,
    },
    /// Remove the mapping of PORT.
    Delete {
        /// The external port.
        port: i64,
        /// PCP and NAT-PMP: the internal port of the mapping; 0 (the default): the same as PORT.
        #[arg(long, default_value_t = 0, hide_default_value = true)]
        internal: u16,
        /// The protocol.
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        proto: Proto,
        /// Where the router in front is (behind a second NAT).
        #[command(flatten)]
        front: Front,
    },
    /// List every mapping on the gateway.
    List,
    /// Say whether UDP PORT is reachable from outside: the gateway's external address, the
    /// gateway's mapping of the port (UPnP), and with --stun, what a STUN server sees of a
    /// Binding request sent from the port on this host (which must be free): `reachable`
    /// (at the mapping's address and port; proven from outside when the server answered
    /// from its other address), `filtered` (its answer from its other address did not come
    /// in), `other-port`, `another-nat` (another NAT in front) — exit status 6 for these and
    /// for a port the gateway has no mapping of — or `unknown` (no answer: exit status 5). Nothing is contacted but the
    /// router and the server named; the check ends within 5 s of finding the router.
    Check {
        /// The port.
        port: i64,
        /// The protocol (a STUN server is asked over UDP only).
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        proto: Proto,
        /// The STUN server, HOST or HOST:PORT (3478 when not given); UDP only.
        #[arg(long)]
        stun: Option<String>,
        /// Where the router in front is (behind a second NAT).
        #[command(flatten)]
        front: Front,
    },
    /// Keep PORT... open until interrupted (SIGINT or SIGTERM): renew leases, check the
    /// mappings and the external address, map again after a router restart, move to another
    /// external port when one is taken (unless --exact). One line per event (with --json,
    /// one JSON object per line, naming the method); on exit, the mappings made are removed.
    /// Through PCP or NAT-PMP, a router restart is also seen in its epoch and announcements.
    Keep {
        /// The ports (the same port outside, unless it is taken): `7777` (the protocol of
        /// `--proto`), `7777/udp` or `7777/tcp`; one process keeps them all.
        #[arg(required = true)]
        ports: Vec<KeepPort>,
        /// The protocol of the ports given without one.
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        proto: Proto,
        /// The lease asked for, in seconds (0: permanent); renewed at half of what is granted.
        #[arg(long, default_value_t = 3600)]
        lease: u64,
        /// How often to check each mapping and the external address, in seconds.
        #[arg(long, default_value_t = 60)]
        check: u64,
        /// How often to check, in seconds, while the UPnP router is heard advertising itself
        /// on the LAN (SSDP ssdp:alive, each holding for its max-age): such a router says
        /// when it restarts or goes away, and that is acted on within a second. Never shorter
        /// than --check; back to --check once its last advertisement expires.
        #[arg(long, default_value_t = 300)]
        quiet_check: u64,
        /// Demand the exact external ports: report a conflict and retry, never take another.
        #[arg(long)]
        exact: bool,
        /// The description shown in the router's UI.
        #[arg(long)]
        desc: Option<String>,
        /// Also keep an IPv6 pinhole open to each port (IGDv2 routers; the router is then
        /// searched for over IPv6, where it takes pinhole requests).
        #[arg(long)]
        pinholes: bool,
        /// Where the router in front is (behind a second NAT): held too, its mappings
        /// forwarding the gateway's external ports to the gateway.
        #[command(flatten)]
        front: Front,
    },
}

/// `--proto`: `udp` or `tcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[expect(
    missing_docs,
    reason = "a variant's doc comment would become clap's help, which the name says already"
)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    /// As Godot spells it: `"UDP"` or `"TCP"`.
    pub fn godot(self) -> &'static str {
        match self {
            Proto::Udp => "UDP",
            Proto::Tcp => "TCP",
        }
    }

    /// As the library types it.
    pub fn protocol(self) -> Protocol {
        match self {
            Proto::Udp => Protocol::Udp,
            Proto::Tcp => Protocol::Tcp,
        }
    }
}

/// A port `upnp keep` holds: `PORT`, `PORT/udp` or `PORT/tcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepPort {
    /// The port, inside and (unless taken) outside.
    pub port: u16,
    /// Its protocol; `None`: `--proto`'s.
    pub proto: Option<Proto>,
}

impl std::str::FromStr for KeepPort {
    type Err = String;

    fn from_str(s: &str) -> Result<KeepPort, String> {
        let (port, proto) = match s.split_once('/') {
            Some((port, proto)) => (port, Some(proto)),
            None => (s, None),
        };
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{port:?} is not a port (1-65535)"))?;
        let proto = match proto.map(str::to_ascii_lowercase).as_deref() {
            None => None,
            Some("udp") => Some(Proto::Udp),
            Some("tcp") => Some(Proto::Tcp),
            Some(other) => return Err(format!("{other:?} is not udp or tcp")),
        };
        Ok(KeepPort { port, proto })
    }
}

/// `--help`'s epilogue: the exit statuses, and the JSON documents' version.
pub const AFTER_HELP: &str = "Exit status:
  0  done
  1  another failure (the router's answer could not be read, a local error)
  2  usage: a bad argument (refused before anything is sent)
  3  no gateway: none answered, or none offers what was asked
  4  refused by the router (its error code is printed)
  5  network: no answer in time, the connection failed
  6  not reachable: (check) no mapping, or the STUN server saw another address or port;
     (add) mapped on the router, but another NAT in front of it was not mapped through

Time taken at most (defaults): finding the router, --via auto or upnp: --timeout + 5 s;
--via pcp or natpmp: 10 s; then external-ip, add, delete: 10 s; list: 30 s; check: list,
then 5 s with --stun.

JSON (--json): one document per line on stdout, with \"version\": 1 and \"command\", then the
command's result or \"error\" (the exit status is the same as without --json).";

/// The version of the documents `--json` prints. Fields may be added within a version; one
/// that changes meaning or goes away raises it.
pub const JSON_VERSION: u32 = 1;

/// The command line as a `clap::Command`: what the man page and the completions describe.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
