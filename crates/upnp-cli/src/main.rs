//! `upnp`: the everyday tool of a user with a router, on top of the `igd` crate.
//!
//! ```text
//! upnp [-v] [--url DESCRIPTION_URL] [--json] [--timeout MS] [--ipv6] [--interface IF|ADDR] COMMAND
//!   discover                 every responder, its service, control URL, status, and why
//!   external-ip              the gateway's external address alone on a line
//!   add PORT [--internal P] [--proto udp|tcp] [--desc D] [--lease SECONDS]
//!   delete PORT [--proto udp|tcp]
//!   list                     every mapping on the gateway
//!   keep PORT... [--proto udp|tcp] [--lease SECONDS] [--check SECONDS] [--exact]
//!                            hold the ports open until SIGINT/SIGTERM, one line per event
//! ```
//!
//! Errors print Godot's `UpnpResult` name, the UPnP code and the router's own text, and
//! exit with status 1 (2 for a usage error).

use std::net::IpAddr;
use std::process::ExitCode;

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use upnp_desc::text::shown;
use upnp_igd::blocking::{Found, KeeperHandle, PmpClient, Upnp, UpnpDevice};
use upnp_igd::keeper::upnp::Find;
use upnp_igd::keeper::{Event, Keep, Protocol};
use upnp_igd::pmp::PmpMapping;
use upnp_igd::{DiscoverOptions, Error, MappingRequest, Method, Via};

mod output;
mod pinholes;
#[cfg(test)]
mod tests;

use output::{DeviceOut, ErrorOut, KeepEventOut, MappingOut};

/// Find the router, show its external address, open, close and list port mappings (UPnP IGD,
/// PCP, NAT-PMP).
#[derive(Debug, Parser)]
#[command(name = "upnp", version, after_help = EXIT_CODES)]
struct Cli {
    /// Use the device whose description is at this URL instead of discovering.
    #[arg(long, global = true)]
    url: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Tell on stderr each decision taken: answers skipped and why, each probe and its
    /// outcome, fallbacks, deadlines hit.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// How long discovery waits for answers, in milliseconds.
    #[arg(long, default_value_t = 2000, global = true)]
    timeout: i64,
    /// Talk to the router over IPv6: discover over IPv6, and ask PCP at the IPv6 default
    /// gateway, where a mapping is a pinhole to this host's global IPv6 address.
    #[arg(long, global = true)]
    ipv6: bool,
    /// The interface (name or address) to discover from.
    #[arg(long, global = true)]
    interface: Option<String>,
    /// Which way to reach the router: auto (UPnP, PCP and NAT-PMP probed at once; UPnP
    /// preferred, then PCP, then NAT-PMP), upnp, pcp or natpmp.
    #[arg(long, default_value = "auto", global = true)]
    via: Via,
    /// The router's address for PCP and NAT-PMP (default: the default gateway).
    #[arg(long, global = true)]
    gateway: Option<IpAddr>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum PinholeAction {
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

#[derive(Debug, Subcommand)]
enum Command {
    /// IPv6 pinholes (IGDv2's WANIPv6FirewallControl): let the Internet reach a port of this
    /// host's global IPv6 address. The router is searched for over IPv6.
    Pinhole {
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
    },
    /// List every mapping on the gateway.
    List,
    /// Keep PORT... open until interrupted (SIGINT or SIGTERM): renew leases, check the
    /// mappings and the external address, map again after a router restart, move to another
    /// external port when one is taken (unless --exact). One line per event (with --json,
    /// one JSON object per line, naming the method); on exit, the mappings made are removed.
    /// Through PCP or NAT-PMP, a router restart is also seen in its epoch and announcements.
    Keep {
        /// The ports (the same port outside, unless it is taken).
        #[arg(required = true)]
        ports: Vec<u16>,
        /// The protocol.
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        proto: Proto,
        /// The lease asked for, in seconds (0: permanent); renewed at half of what is granted.
        #[arg(long, default_value_t = 3600)]
        lease: u64,
        /// How often to check each mapping and the external address, in seconds.
        #[arg(long, default_value_t = 60)]
        check: u64,
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
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    fn godot(self) -> &'static str {
        match self {
            Proto::Udp => "UDP",
            Proto::Tcp => "TCP",
        }
    }

    fn protocol(self) -> Protocol {
        match self {
            Proto::Udp => Protocol::Udp,
            Proto::Tcp => Protocol::Tcp,
        }
    }
}

/// What the exit status says, by kind of failure (the README lists them too).
const EXIT_CODES: &str = "\
Exit status:
  0  done
  1  another failure (the router's answer could not be read, a local error)
  2  usage: a bad argument (refused before anything is sent)
  3  no gateway: none answered, or none offers what was asked
  4  refused by the router (its error code is printed)
  5  network: no answer in time, the connection failed";

/// The exit status for `error` (see [`EXIT_CODES`]).
fn exit_code(error: &Error) -> u8 {
    match error {
        Error::InvalidPort(_)
        | Error::InvalidProtocol(_)
        | Error::InvalidDuration(_)
        | Error::InvalidParam(_)
        | Error::NotGlobal(_)
        | Error::PinholeLease(_) => 2,
        Error::NoDevices
        | Error::NoGateway(_)
        | Error::InvalidGateway(_)
        | Error::NotSpoken(_)
        | Error::NoPinholeService
        | Error::NoGlobalAddress => 3,
        Error::MappingTaken { .. }
        | Error::PcpRefused { .. }
        | Error::NatPmpRefused(_)
        | Error::OtherPortGranted { .. }
        | Error::FirewallRefused { .. } => 4,
        _ if error.fault().is_some() => 4,
        _ if upnp_igd::keeper::is_unreachable(error) => 5,
        Error::Discovery(_) | Error::Pmp(_) => 5,
        _ => 1,
    }
}

/// Run `search` with a progress line on stderr while it runs, when stderr is a terminal (a
/// search waits up to `--timeout`); the line is erased when it ends.
fn searching<T>(cli: &Cli, search: impl FnOnce() -> T) -> T {
    use std::io::{IsTerminal, Write};
    let mut stderr = std::io::stderr();
    let shown = stderr.is_terminal();
    if shown {
        let _ = write!(
            stderr,
            "searching for the router (up to {} ms)...",
            cli.timeout.max(0)
        );
        let _ = stderr.flush();
    }
    let found = search();
    if shown {
        // Back to the start of the line, and clear it.
        let _ = write!(stderr, "\r\x1b[K");
        let _ = stderr.flush();
    }
    found
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.verbose {
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
            .with_writer(std::io::stderr)
            .with_target(false)
            .init();
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let out = ErrorOut::from(&error);
            if cli.json {
                print_json(&serde_json::json!({ "error": out }));
            } else {
                eprintln!("upnp: {out}");
            }
            ExitCode::from(exit_code(&error))
        }
    }
}

fn run(cli: &Cli) -> Result<(), Error> {
    let mut upnp = Upnp::new();
    upnp.settings.discover_ipv6 = cli.ipv6;
    upnp.settings.discover_multicast_if = cli.interface.clone().unwrap_or_default();
    let options = DiscoverOptions::default().timeout(cli.timeout);
    if let Command::Keep {
        ports,
        proto,
        lease,
        check,
        exact,
        desc,
        pinholes,
    } = &cli.command
    {
        if *pinholes {
            upnp.settings.discover_ipv6 = true;
        }
        let mut keep = Keep::new()
            .lease(Duration::from_secs(*lease))
            .check(Duration::from_secs(*check))
            .exact(*exact)
            .pinholes(*pinholes);
        if let Some(desc) = desc {
            keep = keep.description(desc.clone());
        }
        for port in ports {
            keep = keep.port(proto.protocol(), *port, *port);
        }
        keep.validate()?;
        // The signal handler first: a signal during the search still removes what is made.
        let (signal, signalled) = mpsc::channel();
        ctrlc::set_handler(move || {
            let _ = signal.send(());
        })
        .map_err(|_| Error::InvalidParam("cannot handle SIGINT and SIGTERM"))?;
        let (keeper, method) = match (&cli.url, cli.via) {
            (Some(url), _) => (upnp.keep(keep, Find::Url(url.clone()))?, Method::Upnp),
            (None, Via::Upnp) => (upnp.keep(keep, Find::Search(options))?, Method::Upnp),
            (None, via) => match searching(cli, || upnp.find_way(&options, via, cli.gateway)) {
                // The gateway found is the keeper's first.
                Ok(Found::Upnp(_)) => (upnp.keep(keep, Find::Search(options))?, Method::Upnp),
                Ok(Found::Pmp(client)) => {
                    let method = client.method();
                    (client.keep(keep)?, method)
                }
                // Nothing answered yet: keep searching for a UPnP gateway, as `--via upnp`.
                Err(_) if via == Via::Auto => {
                    (upnp.keep(keep, Find::Search(options))?, Method::Upnp)
                }
                Err(e) => return Err(e),
            },
        };
        return keep_open(cli, keeper, method, &signalled);
    }
    if let Command::Pinhole { action } = &cli.command {
        return run_pinhole(cli, &mut upnp, &options, action);
    }
    if let Command::Discover = cli.command {
        let devices: Vec<UpnpDevice> = match &cli.url {
            Some(url) => vec![upnp.device_at(url)],
            None => {
                searching(cli, || upnp.discover(&options))?;
                upnp.devices().to_vec()
            }
        };
        let out: Vec<DeviceOut> = devices
            .iter()
            .map(|d| DeviceOut::from(d.device()))
            .collect();
        if cli.json {
            print_json(&out);
        } else {
            for device in &out {
                println!("{device}");
            }
        }
        return Ok(());
    }
    // Refuse bad arguments before any packet is sent.
    match &cli.command {
        Command::Add { .. } => {
            mapping_request(&cli.command).validate()?;
        }
        Command::Delete { port, .. } => {
            upnp_igd::mapping::external_port(*port)?;
        }
        _ => {}
    }
    let gateway = match &cli.url {
        Some(url) => {
            let device = upnp.device_at(url);
            if !device.is_valid_gateway() {
                return Err(Error::InvalidGateway(device.device().into()));
            }
            device
        }
        None => match searching(cli, || upnp.find_way(&options, cli.via, cli.gateway))? {
            Found::Upnp(device) => device,
            Found::Pmp(client) => return run_pmp(cli, client),
        },
    };
    match &cli.command {
        Command::Discover | Command::Keep { .. } | Command::Pinhole { .. } => Ok(()),
        Command::ExternalIp => {
            // Validating the gateway already asked for its address; ask again only if it had
            // none to give then.
            let ip = match gateway.external_address {
                Some(ip) => ip,
                None => gateway.query_external_address()?,
            };
            print_external_ip(cli, ip, Method::Upnp);
            Ok(())
        }
        Command::Add { .. } => {
            let granted = gateway.add_port_mapping(&mapping_request(&cli.command))?;
            let out = MappingOut::granted(&granted);
            if cli.json {
                print_json(&out);
            } else {
                println!("added {out}");
            }
            Ok(())
        }
        Command::Delete { port, proto, .. } => {
            gateway.delete_port_mapping(*port, proto.godot())?;
            print_deleted(cli, *port, *proto, Method::Upnp);
            Ok(())
        }
        Command::List => {
            let out: Vec<MappingOut> = gateway
                .list_port_mappings()?
                .iter()
                .map(MappingOut::from)
                .collect();
            if cli.json {
                print_json(&out);
            } else {
                for mapping in &out {
                    println!("{mapping}");
                }
            }
            Ok(())
        }
    }
}

/// `upnp keep`: print each event until SIGINT or SIGTERM, then stop the keeper (which
/// removes its mappings) and print what stopping did.
fn keep_open(
    cli: &Cli,
    keeper: KeeperHandle,
    method: Method,
    signalled: &mpsc::Receiver<()>,
) -> Result<(), Error> {
    if !cli.json {
        eprintln!("keeping via {method}");
    }
    // A reader gone (a closed pipe) ends the loop like a signal: the mappings are removed.
    let print = |event: &Event| -> std::io::Result<()> {
        let line = if cli.json {
            serde_json::to_string(&KeepEventOut::from(event).method(method))
                .map_err(std::io::Error::other)?
        } else {
            // Events carry text from the network (errors escape theirs; names may not).
            match event {
                Event::Mapped(_) | Event::Renewed(_) | Event::Remapped(_) => {
                    format!("{} via {method}", shown(&event.to_string(), 1024))
                }
                _ => shown(&event.to_string(), 1024),
            }
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    };
    loop {
        if signalled.try_recv().is_ok() {
            break;
        }
        match keeper.events().recv_timeout(Duration::from_millis(100)) {
            Ok(event) if print(&event).is_err() => break,
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    for event in keeper.stop() {
        let _ = print(&event);
    }
    Ok(())
}

fn print_external_ip(cli: &Cli, ip: IpAddr, method: Method) {
    if cli.json {
        print_json(&serde_json::json!({
            "external_ip": ip.to_string(),
            "method": method.to_string(),
        }));
    } else {
        // The address stays alone on its line (scripts read it); the way goes to stderr.
        println!("{ip}");
        eprintln!("via {method}");
    }
}

/// `upnp pinhole ...`: the gateway found over IPv6 (its firewall service must be called from
/// our global address), then the action.
fn run_pinhole(
    cli: &Cli,
    upnp: &mut Upnp,
    options: &DiscoverOptions,
    action: &PinholeAction,
) -> Result<(), Error> {
    if let PinholeAction::Open { lease, port, .. } = action {
        // Refuse bad arguments before any packet is sent.
        upnp_igd::pinhole::lease_time(Duration::from_secs(*lease))?;
        if *port == 0 {
            return Err(Error::InvalidPort(0));
        }
    }
    let gateway = match &cli.url {
        Some(url) => upnp.device_at(url),
        None => {
            upnp.settings.discover_ipv6 = true;
            searching(cli, || upnp.find_gateway(options).cloned())?
        }
    };
    match action {
        PinholeAction::Open {
            port,
            proto,
            lease,
            client,
            remote,
        } => {
            let out = pinholes::open(&gateway, proto.protocol(), *port, *lease, *client, *remote)?;
            if cli.json {
                print_json(&out);
            } else {
                println!("opened {}", out.line());
            }
        }
        PinholeAction::Close { id } => {
            pinholes::close(&gateway, *id)?;
            if cli.json {
                print_json(&serde_json::json!({ "closed": id }));
            } else {
                println!("closed pinhole {id}");
            }
        }
        PinholeAction::List => {
            let out = pinholes::list(&gateway);
            if cli.json {
                print_json(&out);
            } else {
                for pinhole in &out {
                    println!("{}", pinhole.line());
                }
            }
        }
        PinholeAction::Status => {
            let status = gateway.firewall_status()?;
            if cli.json {
                print_json(&serde_json::json!({
                    "firewall_enabled": status.enabled,
                    "inbound_pinhole_allowed": status.inbound_pinhole_allowed,
                }));
            } else {
                println!(
                    "IPv6 firewall {}, pinholes {}",
                    if status.enabled { "on" } else { "off" },
                    if status.inbound_pinhole_allowed {
                        "allowed"
                    } else {
                        "not allowed"
                    }
                );
            }
        }
    }
    Ok(())
}

fn print_deleted(cli: &Cli, port: i64, proto: Proto, method: Method) {
    if cli.json {
        print_json(&serde_json::json!({
            "deleted": { "port": port, "proto": proto.godot() },
            "method": method.to_string(),
        }));
    } else {
        println!("deleted {} {port} via {method}", proto.godot());
    }
}

/// A day: what PCP and NAT-PMP are asked for when the user asks a permanent mapping (they
/// have none; a lifetime of 0 removes).
const PMP_PERMANENT: u32 = upnp_igd::pmp::LONGEST_LIFETIME;

/// `external-ip`, `add` and `delete` through PCP or NAT-PMP.
fn run_pmp(cli: &Cli, mut client: PmpClient) -> Result<(), Error> {
    match &cli.command {
        Command::ExternalIp => {
            let address = client.external_ip()?;
            print_external_ip(cli, address.address, address.method);
        }
        Command::Add {
            port,
            internal,
            proto,
            desc,
            lease,
        } => {
            let external = upnp_igd::mapping::external_port(*port)?;
            let internal = if *internal == 0 {
                external
            } else {
                u16::try_from(*internal).map_err(|_| Error::InvalidPort(*internal))?
            };
            let lifetime = match u32::try_from(*lease) {
                Ok(0) => PMP_PERMANENT,
                Ok(s) => s,
                Err(_) => return Err(Error::InvalidDuration(*lease)),
            };
            let protocol = proto.protocol();
            let nonce = client.session().derived_nonce(protocol, internal);
            let mapping =
                PmpMapping::new(protocol, internal, lifetime, nonce).external_port(external);
            let granted = client.add(mapping)?;
            let us = client.session().local().ip();
            let out = MappingOut::pmp(&granted, us, !desc.is_empty());
            if cli.json {
                print_json(&out);
            } else {
                println!("added {out}");
            }
        }
        Command::Delete {
            port,
            internal,
            proto,
        } => {
            let external = upnp_igd::mapping::external_port(*port)?;
            let internal = if *internal == 0 { external } else { *internal };
            let protocol = proto.protocol();
            let nonce = client.session().derived_nonce(protocol, internal);
            let mapping = PmpMapping::new(protocol, internal, 0, nonce);
            let method = client.delete(mapping)?;
            print_deleted(cli, *port, *proto, method);
        }
        Command::List => {
            return Err(Error::InvalidParam(
                "PCP and NAT-PMP cannot list mappings: list speaks UPnP (--via upnp)",
            ));
        }
        Command::Discover | Command::Keep { .. } | Command::Pinhole { .. } => {}
    }
    Ok(())
}

fn mapping_request(command: &Command) -> MappingRequest {
    match command {
        Command::Add {
            port,
            internal,
            proto,
            desc,
            lease,
        } => MappingRequest::new(*port)
            .port_internal(*internal)
            .proto(proto.godot())
            .desc(desc.clone())
            .duration(*lease),
        _ => MappingRequest::new(0),
    }
}

fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("upnp: cannot write JSON: {e}"),
    }
}
