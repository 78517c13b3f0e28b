//! `upnp`: the everyday tool of a user with a router, on top of the `upnp-igd` crate. Its
//! command line is in the library (`upnp_cli::Cli`); this is what each command does.
//!
//! Errors print Godot's `UpnpResult` name, the UPnP code and the router's own text on stderr,
//! and exit with a status by kind of failure (`upnp_cli::AFTER_HELP`). With `--json`, stdout is JSON
//! Lines: one document per line, each with `version` ([`JSON_VERSION`]) and `command`, then
//! the command's result or `error` (the README's "JSON output" documents every shape).

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use serde::Serialize;
use upnp_cli::{Cli, Command, JSON_VERSION, PinholeAction, Proto};
use upnp_desc::text::shown;
use upnp_igd::blocking::{Found, KeeperHandle, PmpClient, Upnp, UpnpDevice};
use upnp_igd::keeper::upnp::Find;
use upnp_igd::keeper::{Event, Keep};
use upnp_igd::pmp::{PmpMapping, Target};
use upnp_igd::{DiscoverOptions, Error, ErrorKind, IgdStatus, MappingRequest, Method, Via};

mod cache;
mod output;
mod pinholes;
mod store;
#[cfg(test)]
mod tests;

use output::{DeviceOut, ErrorOut, FrontOut, KeepEventOut, MappingOut};
use upnp_igd::pmp::Way;
use upnp_igd::upstream::{FrontGrant, Router};

/// One document of `--json`: its version, the command, and what it says (the command's
/// result, a keeper's event, or `error`).
#[derive(Debug, Serialize)]
struct Document<'a> {
    version: u32,
    command: &'a str,
    /// The UPnP gateway's status when the one used is not valid (no valid one answered, and
    /// this one says it is not connected or its status is unknown): absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway_status: Option<&'static str>,
    #[serde(flatten)]
    body: serde_json::Value,
}

/// The status of the UPnP gateway in use, when it is usable but not valid (set once, when it
/// is chosen).
static GATEWAY_STATUS: std::sync::OnceLock<IgdStatus> = std::sync::OnceLock::new();

/// Say so when the gateway to use is not valid (its connection says it is not connected,
/// or its status is unknown) yet used, as no valid one answered: a line on stderr, and
/// `gateway_status` in every JSON document after.
fn using(device: UpnpDevice) -> UpnpDevice {
    if !device.is_valid_gateway() {
        let _ = GATEWAY_STATUS.set(device.igd_status);
        eprintln!(
            "upnp: no valid gateway; using {} all the same: {} ({})",
            shown(&device.description_url, 256),
            device.igd_status,
            shown(device.status_detail.as_deref().unwrap_or("no detail"), 256),
        );
    }
    device
}

/// The command as its document names it: `add`, `pinhole open`...
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Discover => "discover",
        Command::ExternalIp => "external-ip",
        Command::Add { .. } => "add",
        Command::Delete { .. } => "delete",
        Command::List => "list",
        Command::Check { .. } => "check",
        Command::Keep { .. } => "keep",
        Command::Pinhole { action } => match action {
            PinholeAction::Open { .. } => "pinhole open",
            PinholeAction::Close { .. } => "pinhole close",
            PinholeAction::List => "pinhole list",
            PinholeAction::Status => "pinhole status",
        },
    }
}

/// The document of `body` (an object: the command's result) for this command, on one line.
fn document(cli: &Cli, body: serde_json::Value) -> String {
    let document = Document {
        version: JSON_VERSION,
        command: command_name(&cli.command),
        gateway_status: GATEWAY_STATUS.get().map(|s| s.godot_name()),
        body,
    };
    serde_json::to_string(&document).unwrap_or_else(|e| {
        // Not reached: every body is an object of strings, numbers and booleans.
        serde_json::json!({
            "version": JSON_VERSION,
            "error": { "message": format!("cannot write JSON: {e}") },
        })
        .to_string()
    })
}

/// The document of a failure: Godot's result, the UPnP fault if any, the message, and the
/// exit status.
fn error_document(cli: &Cli, error: &Error) -> String {
    let mut out = serde_json::to_value(ErrorOut::from(error)).unwrap_or_default();
    if let Some(fields) = out.as_object_mut() {
        fields.insert("exit_code".into(), exit_code(error).into());
    }
    document(cli, serde_json::json!({ "error": out }))
}

/// The exit status for `error` (see [`upnp_cli::AFTER_HELP`]).
fn exit_code(error: &Error) -> u8 {
    match error.kind() {
        ErrorKind::Input => 2,
        ErrorKind::NoGateway => 3,
        ErrorKind::Refused => 4,
        ErrorKind::Unreachable => 5,
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
        Ok(()) => ExitCode::from(STATUS.load(std::sync::atomic::Ordering::Relaxed)),
        Err(error) => {
            if cli.json {
                println!("{}", error_document(&cli, &error));
            } else {
                eprintln!("upnp: {}", ErrorOut::from(&error));
            }
            ExitCode::from(exit_code(&error))
        }
    }
}

fn run(cli: &Cli) -> Result<(), Error> {
    let mut upnp = Upnp::new();
    upnp.settings.discover_ipv6 = cli.ipv6;
    upnp.settings.discover_multicast_if = cli.interface.clone().unwrap_or_default();
    upnp.settings.discover_gateway = cli.gateway;
    let options = DiscoverOptions::default().timeout(cli.timeout);
    if let Command::Keep {
        ports,
        proto,
        lease,
        check,
        quiet_check,
        exact,
        desc,
        pinholes,
        front,
    } = &cli.command
    {
        if *pinholes {
            upnp.settings.discover_ipv6 = true;
        }
        let mut keep = Keep::new()
            .lease(Duration::from_secs(*lease))
            .check(Duration::from_secs(*check))
            .quiet_check(Duration::from_secs(*quiet_check))
            .exact(*exact)
            .pinholes(*pinholes)
            .upstream(front.upstream());
        if let Some(desc) = desc {
            keep = keep.description(desc.clone());
        }
        for port in ports {
            let protocol = port.proto.unwrap_or(*proto).protocol();
            keep = keep.port(protocol, port.port, port.port);
        }
        keep.validate()?;
        // The signal handler first: a signal during the search still removes what is made.
        let (signal, signalled) = mpsc::channel();
        ctrlc::set_handler(move || {
            let _ = signal.send(());
        })
        .map_err(|_| Error::InvalidParam("cannot handle SIGINT and SIGTERM"))?;
        // The gateway found last, when it still answers, is the keeper's first (it searches
        // as `options` say if that gateway stops answering later).
        let warm = warm_start(cli, &mut upnp).is_some();
        // The keeper chooses the way itself (`--via auto`: every way at once, the best that
        // answers, another when it stops answering); `--url` is UPnP.
        let (via, find) = match &cli.url {
            Some(url) => (Via::Upnp, Find::Url(url.clone())),
            None => (cli.via, Find::Search(options)),
        };
        let target = Target::named_or_default(cli.gateway, upnp.settings.discover_ipv6);
        let keeper = upnp.keep(keep.via(via).target(target), find)?;
        return keep_open(cli, keeper, !warm && uses_cache(cli), &signalled);
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
            print_json(cli, serde_json::json!({ "devices": out }));
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
            external_port(*port)?;
        }
        Command::Check {
            port,
            proto: Proto::Tcp,
            stun: Some(_),
            ..
        } => {
            external_port(*port)?;
            return Err(Error::InvalidParam("a STUN server checks UDP ports only"));
        }
        _ => {}
    }
    let gateway = match &cli.url {
        Some(url) => {
            let device = upnp.device_at(url);
            if !device.is_usable() {
                return Err(Error::InvalidGateway(device.device().into()));
            }
            using(device)
        }
        None => match warm_start(cli, &mut upnp) {
            Some(device) => device,
            None => match searching(cli, || {
                if cli.verbose {
                    eprintln!("{}", waiting_for(cli, &upnp.limits));
                }
                upnp.find_way(&options, cli.via, cli.gateway)
            })? {
                Found::Upnp(device) => {
                    // Only a valid gateway is worth one exchange next time.
                    if uses_cache(cli) && device.is_valid_gateway() {
                        cache::save(cli.interface.as_deref(), device.device());
                    }
                    using(device)
                }
                Found::Pmp(client) => return run_pmp(cli, client),
            },
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
            let behind = gateway.external_address.and(gateway.is_behind_nat());
            print_external_ip(cli, ip, Method::Upnp, behind);
            Ok(())
        }
        Command::Add { front, .. } => {
            let request = mapping_request(&cli.command);
            let through = gateway.add_port_mapping_through(&request, front.upstream())?;
            let out = MappingOut::granted(&through.inner);
            let grant = through.upstream.value();
            let in_front =
                FrontOut::of(&through.upstream).with_external(grant.and_then(|g| g.external_ip()));
            let outer = grant.and_then(|grant| match grant {
                FrontGrant::Upnp(granted) => Some(MappingOut::granted(granted)),
                FrontGrant::Pmp(granted) => {
                    let us = through.inner_external?;
                    Some(MappingOut::pmp(granted, us, false))
                }
                _ => None,
            });
            let reachable = through.reachable_at();
            if cli.json {
                print_json(
                    cli,
                    serde_json::json!({
                        "method": out.method(),
                        "mapping": out,
                        "external_ip": through.inner_external.map(|ip| ip.to_string()),
                        "upstream": in_front,
                        "upstream_mapping": outer,
                        "reachable_at": reachable.map(|at| at.to_string()),
                    }),
                );
            } else {
                println!("added {out}");
                match &outer {
                    Some(outer) => println!("and on {in_front}: added {outer}"),
                    None if in_front.status() != "not-asked" => println!("in front: {in_front}"),
                    None => {}
                }
                match reachable {
                    Some(at) => println!("reachable at {at}"),
                    None if in_front.stuck() => println!(
                        "not reachable from the Internet: another NAT is in front of the gateway \
                         (name the router in front with --upstream ADDR)"
                    ),
                    // Not looked for (--no-upstream): say what the address says.
                    None if in_front.status() == "not-asked" => {
                        if let Some(ip) = through.inner_external {
                            println!(
                                "the gateway's external address {ip} is not public: another \
                                 NAT is in front of it (not looked for)"
                            );
                        }
                    }
                    None => {}
                }
            }
            // Mapped here, but another NAT in front was not mapped through: say it.
            if in_front.stuck() {
                STATUS.store(NOT_REACHABLE, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        }
        Command::Delete {
            port, proto, front, ..
        } => {
            let removed =
                gateway.delete_port_mapping_through(*port, proto.godot(), front.upstream())?;
            let front = FrontOut::of(&removed.upstream);
            print_deleted(cli, *port, *proto, Method::Upnp, Some(front));
            Ok(())
        }
        Command::Check {
            port,
            proto,
            stun,
            front,
        } => {
            let proto = proto.godot();
            let external = match gateway.external_address {
                Some(ip) => ip,
                None => gateway.query_external_address()?,
            };
            let port = external_port(*port)?;
            // The gateway's mapping of the port, as its list shows it (bounded there).
            let mapping = gateway
                .list_port_mappings()?
                .into_iter()
                .find(|m| m.external_port == port && m.protocol.as_str() == proto);
            let ours: Option<IpAddr> = gateway.igd_our_addr.parse().ok();
            // The router in front, and its mapping of our gateway's external port to it.
            let beyond = gateway.router_in_front(front.upstream());
            let outer = match (beyond.value(), &mapping) {
                (Some(Some(router)), Some(inner)) => router
                    .list_port_mappings()
                    .ok()
                    .unwrap_or_default()
                    .into_iter()
                    .find(|m| {
                        m.external_port == inner.external_port
                            && m.protocol.as_str() == proto
                            && m.internal_client == external.to_string()
                    }),
                _ => None,
            };
            let mut front_external = beyond.router().and_then(|r| r.external_address());
            // A PCP/NAT-PMP router in front cannot list its mappings: its external address
            // (NAT-PMP's request has no client address, so it passes our gateway's NAT) and
            // the port our gateway maps are what peers are given.
            let mut pmp_front = None;
            if let (Some(Router::Pmp { gateway, .. }), Some(inner)) = (beyond.router(), &mapping) {
                let asked = PmpClient::probe(Target::At(*gateway), Way::NatPmp, &upnp.limits)
                    .and_then(|mut client| client.external_ip());
                if let Ok(address) = asked {
                    front_external = Some(address.address);
                    pmp_front = Some(inner.external_port);
                }
            }
            let check = Check {
                external,
                port,
                mapping: mapping.as_ref().map(MappingOut::from),
                internal_port: mapping.as_ref().map_or(port, |m| m.internal_port),
                ours,
                method: Method::Upnp,
                proto,
                front: Some(FrontOut::of(&beyond)),
                outer: match (front_external, &outer, pmp_front) {
                    (Some(ip), Some(m), _) => {
                        Some((ip, Some(MappingOut::from(m)), m.external_port))
                    }
                    (Some(ip), None, Some(port)) => Some((ip, None, port)),
                    _ => None,
                },
            };
            check.run(cli, &upnp, stun.as_deref())
        }
        Command::List => {
            let out: Vec<MappingOut> = gateway
                .list_port_mappings()?
                .iter()
                .map(MappingOut::from)
                .collect();
            if cli.json {
                print_json(
                    cli,
                    serde_json::json!({ "method": Method::Upnp.to_string(), "mappings": out }),
                );
            } else {
                for mapping in &out {
                    println!("{mapping}");
                }
            }
            Ok(())
        }
    }
}

/// What finding the router waits for, and how long at most (`-v`).
fn waiting_for(cli: &Cli, limits: &upnp_igd::Limits) -> String {
    let search = cli.timeout.max(0);
    let probe = limits.probe.as_millis();
    let at = match cli.gateway {
        Some(ip) => ip.to_string(),
        None => "the default gateway".to_owned(),
    };
    let upnp = match cli.gateway {
        Some(ip) => format!("UPnP: M-SEARCH to {ip} for {search} ms"),
        None => {
            format!("UPnP: M-SEARCH to the multicast group and the default gateway for {search} ms")
        }
    };
    let upnp = format!("{upnp}, each answer probed within {probe} ms");
    match cli.via {
        Via::Auto => format!(
            "waiting for {upnp}; PCP and NAT-PMP at {at} meanwhile; all over within {} ms",
            search.unsigned_abs() as u128 + probe
        ),
        Via::Upnp => format!("waiting for {upnp}"),
        via => format!(
            "waiting for {via} at {at}, within {} ms",
            limits.call.as_millis()
        ),
    }
}

/// Whether this command starts from the gateway cache: UPnP (`--via auto` prefers it
/// anyway), over IPv4, without `--no-cache`, `--url` or a `--gateway` for PCP, and not a
/// `keep --pinholes` (which looks for the router over IPv6, where it takes pinholes).
fn uses_cache(cli: &Cli) -> bool {
    !cli.no_cache
        && !cli.ipv6
        && cli.url.is_none()
        && cli.gateway.is_none()
        && matches!(cli.via, Via::Auto | Via::Upnp)
        && !matches!(cli.command, Command::Keep { pinholes: true, .. })
}

/// The gateway found last, checked with one exchange; `None` (search then) when there is
/// none or it fails its check (it is forgotten).
fn warm_start(cli: &Cli, upnp: &mut Upnp) -> Option<UpnpDevice> {
    if !uses_cache(cli) {
        return None;
    }
    let saved = cache::load(cli.interface.as_deref())?;
    match upnp.revalidate(saved) {
        Ok(gateway) => {
            if cli.verbose {
                eprintln!("the gateway found last answers: no search");
            }
            Some(gateway.clone())
        }
        Err(e) => {
            if cli.verbose {
                eprintln!("the gateway found last fails its check ({e}): searching");
            }
            cache::forget();
            None
        }
    }
}

/// `upnp keep`: print each event until SIGINT or SIGTERM, then stop the keeper (which
/// removes its mappings) and print what stopping did.
fn keep_open(
    cli: &Cli,
    keeper: KeeperHandle,
    mut save: bool,
    signalled: &mpsc::Receiver<()>,
) -> Result<(), Error> {
    if !cli.json {
        eprintln!("keeping via {}", cli.via);
    }
    // A reader gone (a closed pipe) ends the loop like a signal: the mappings are removed.
    // Each event names the way: its own (a mapping made), else the way in use.
    let print = |event: &Event, current: Option<Method>| -> std::io::Result<()> {
        let method = match event {
            Event::Mapped(held) | Event::Renewed(held) | Event::Remapped(held) => {
                held.method.to_string()
            }
            _ => current.map_or_else(|| cli.via.to_string(), |m| m.to_string()),
        };
        let line = if cli.json {
            document(
                cli,
                serde_json::json!({
                    "method": method.to_string(),
                    "event": KeepEventOut::from(event),
                }),
            )
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
        if save {
            // A cold start caches the UPnP gateway the keeper found, as the other commands do.
            if let Some(device) = keeper.status().device.filter(|d| d.is_valid_gateway()) {
                cache::save(cli.interface.as_deref(), &device);
                save = false;
            }
        }
        match keeper.events().recv_timeout(Duration::from_millis(100)) {
            Ok(event) if print(&event, keeper.status().method).is_err() => break,
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let current = keeper.status().method;
    for event in keeper.stop() {
        let _ = print(&event, current);
    }
    Ok(())
}

/// The external address; `behind`: it is not public (another NAT in front of the gateway),
/// when known.
fn print_external_ip(cli: &Cli, ip: IpAddr, method: Method, behind: Option<bool>) {
    if cli.json {
        print_json(
            cli,
            serde_json::json!({
                "method": method.to_string(),
                "external_ip": ip.to_string(),
                "behind_another_nat": behind,
            }),
        );
    } else {
        // The address stays alone on its line (scripts read it); the way goes to stderr.
        println!("{ip}");
        eprintln!("via {method}");
        if behind == Some(true) {
            eprintln!(
                "{ip} is not a public address: another NAT is in front of this gateway, and a \
                 mapping on it does not reach the Internet"
            );
        }
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
    if let PinholeAction::Open {
        port,
        proto,
        lease,
        client,
        remote,
    } = action
    {
        // Refuse bad arguments before any packet is sent.
        pinholes::request(proto.protocol(), *port, *lease, *client, *remote).validate()?;
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
            let request = pinholes::request(proto.protocol(), *port, *lease, *client, *remote);
            let out = pinholes::open(&gateway, &request)?;
            if cli.json {
                print_json(cli, serde_json::json!({ "pinhole": out }));
            } else {
                println!("opened {}", out.line());
            }
        }
        PinholeAction::Close { id } => {
            pinholes::close(&gateway, *id)?;
            if cli.json {
                print_json(cli, serde_json::json!({ "closed": id }));
            } else {
                println!("closed pinhole {id}");
            }
        }
        PinholeAction::List => {
            let out = pinholes::list(&gateway);
            if cli.json {
                print_json(cli, serde_json::json!({ "pinholes": out }));
            } else {
                for pinhole in &out {
                    println!("{}", pinhole.line());
                }
            }
        }
        PinholeAction::Status => {
            let status = gateway.firewall_status()?;
            if cli.json {
                print_json(
                    cli,
                    serde_json::json!({
                        "firewall_enabled": status.enabled,
                        "inbound_pinhole_allowed": status.inbound_pinhole_allowed,
                    }),
                );
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

/// An external port as Godot takes it (an int), 1-65535.
fn external_port(port: i64) -> Result<u16, Error> {
    match u16::try_from(port) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(Error::InvalidPort(port)),
    }
}

fn print_deleted(cli: &Cli, port: i64, proto: Proto, method: Method, front: Option<FrontOut>) {
    if cli.json {
        print_json(
            cli,
            serde_json::json!({
                "method": method.to_string(),
                "deleted": { "port": port, "proto": proto.godot() },
                "upstream": front,
            }),
        );
    } else {
        match front {
            Some(front) if front.status() == "done" => {
                println!("deleted {} {port} from {front}", proto.godot())
            }
            Some(front) if front.status() != "not-asked" => println!("in front: {front}"),
            _ => {}
        }
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
            let behind = Some(address.behind_another_nat);
            print_external_ip(cli, address.address, address.method, behind);
        }
        Command::Add {
            port,
            internal,
            proto,
            desc,
            lease,
            ..
        } => {
            let external = external_port(*port)?;
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
            let nonce = client.derived_nonce(protocol, internal);
            let mapping =
                PmpMapping::new(protocol, internal, lifetime, nonce).external_port(external);
            let granted = client.add(mapping)?;
            let us = client.local().ip();
            let out = MappingOut::pmp(&granted, us, !desc.is_empty());
            if cli.json {
                print_json(
                    cli,
                    serde_json::json!({ "method": out.method(), "mapping": out }),
                );
            } else {
                println!("added {out}");
            }
        }
        Command::Delete {
            port,
            internal,
            proto,
            ..
        } => {
            let external = external_port(*port)?;
            let internal = if *internal == 0 { external } else { *internal };
            let protocol = proto.protocol();
            let nonce = client.derived_nonce(protocol, internal);
            let mapping = PmpMapping::new(protocol, internal, 0, nonce);
            let method = client.delete(mapping)?;
            print_deleted(cli, *port, *proto, method, None);
        }
        Command::List => {
            return Err(Error::InvalidParam(
                "PCP and NAT-PMP cannot list mappings: list speaks UPnP (--via upnp)",
            ));
        }
        Command::Check {
            port, proto, stun, ..
        } => {
            let address = client.external_ip()?;
            let port = external_port(*port)?;
            let check = Check {
                external: address.address,
                port,
                // PCP and NAT-PMP cannot list: the mapping is not shown.
                mapping: None,
                internal_port: port,
                ours: Some(client.local().ip()),
                method: address.method,
                proto: proto.godot(),
                front: None,
                outer: None,
            };
            check.run(cli, &Upnp::new(), stun.as_deref())?;
        }
        Command::Discover | Command::Keep { .. } | Command::Pinhole { .. } => {}
    }
    Ok(())
}

/// `upnp check`: what is known of a port, and what a STUN server sees.
struct Check {
    external: IpAddr,
    port: u16,
    mapping: Option<MappingOut>,
    internal_port: u16,
    ours: Option<IpAddr>,
    method: Method,
    /// `"UDP"` or `"TCP"`.
    proto: &'static str,
    /// What was looked for in front of the gateway (UPnP).
    front: Option<FrontOut>,
    /// The router in front's external address, its mapping to our gateway (`None` through
    /// PCP or NAT-PMP, which cannot list), and the port peers reach.
    outer: Option<(IpAddr, Option<MappingOut>, u16)>,
}

impl Check {
    fn run(self, cli: &Cli, upnp: &Upnp, stun: Option<&str>) -> Result<(), Error> {
        // Where peers should reach us: the router in front's mapping when there is one.
        let external = match &self.outer {
            Some((ip, _, port)) => std::net::SocketAddr::new(*ip, *port),
            None => std::net::SocketAddr::new(self.external, self.port),
        };
        let report = match stun {
            None => None,
            Some(_) if self.proto != "UDP" => {
                return Err(Error::InvalidParam("a STUN server checks UDP ports only"));
            }
            Some(server) => {
                let server = stun_server(server, external.ip())?;
                let ours = self.ours.ok_or(Error::InvalidParam(
                    "no address of ours reaches the gateway",
                ))?;
                let bind = std::net::SocketAddr::new(ours, self.internal_port);
                let within = upnp_igd::ops::DEFAULT_REACH_TIME;
                Some((
                    server,
                    upnp.check_reachability(bind, server, external, within)?,
                ))
            }
        };
        use upnp_igd::reach::Reachability as R;
        let verdict = report.as_ref().map(|(_, r)| r.reachability);
        // Over UPnP the gateway's list tells whether the port is mapped; without a mapping,
        // only answers to what we send come in, unless the server proved otherwise.
        let proven = verdict == Some(R::Reachable { inbound: true });
        let unmapped = self.method == Method::Upnp && self.mapping.is_none() && !proven;
        // Another NAT in front that nothing maps through (none found, or no mapping of ours
        // there): the port is closed from outside unless the server proved otherwise.
        let closed_in_front = !proven
            && self.outer.is_none()
            && self
                .front
                .as_ref()
                .is_some_and(|f| f.stuck() || f.status() == "done");
        if cli.json {
            let stun = report.as_ref().map(|(server, r)| {
                serde_json::json!({
                    "server": server.to_string(),
                    "seen": r.seen.map(|s| s.to_string()),
                    "other_address": r.other_address.map(|s| s.to_string()),
                    "verdict": r.reachability.name(),
                    "inbound_proven": matches!(
                        r.reachability,
                        upnp_igd::reach::Reachability::Reachable { inbound: true }
                    ),
                })
            });
            print_json(
                cli,
                serde_json::json!({
                    "method": self.method.to_string(),
                    "external_ip": self.external.to_string(),
                    "port": self.port,
                    "proto": self.proto,
                    "mapping": self.mapping,
                    "mapped": !unmapped,
                    "closed_in_front": closed_in_front,
                    "upstream": self.front,
                    "upstream_mapping": self.outer.as_ref().and_then(|(_, m, _)| m.as_ref()),
                    "reachable_at": external.to_string(),
                    "stun": stun,
                }),
            );
        } else {
            println!("external address {} (via {})", self.external, self.method);
            match &self.mapping {
                Some(mapping) => println!("mapping {mapping}"),
                None if self.method == Method::Upnp => {
                    println!("no mapping of {} {} on the gateway", self.proto, self.port)
                }
                None => {}
            }
            match (&self.front, &self.outer) {
                (Some(front), Some((_, Some(mapping), _))) => {
                    println!("in front: {front}: {mapping}")
                }
                (Some(front), Some((ip, None, port))) => println!(
                    "in front: {front}: its mappings cannot be listed; peers are given {}",
                    std::net::SocketAddr::new(*ip, *port)
                ),
                (Some(front), None) if front.status() == "done" => {
                    println!("in front: {front}: no mapping to the gateway")
                }
                (Some(front), None) if front.status() != "not-asked" => {
                    println!("in front: {front}")
                }
                _ => {}
            }
            match &report {
                Some((server, r)) => println!("{server} says: {}", r.reachability),
                None if self.proto == "UDP" => {
                    println!("reachability not checked (name a STUN server: --stun HOST)")
                }
                None => {}
            }
            if unmapped {
                println!(
                    "not reachable from outside: no mapping of the port (only answers to what \
                     this host sends come in)"
                );
            }
            if closed_in_front && !unmapped {
                println!("not reachable from outside: another NAT in front, not mapped through");
            }
        }
        // The verdict is the output; the status says it to scripts.
        let status = match verdict {
            _ if unmapped || closed_in_front => NOT_REACHABLE,
            Some(R::AnotherNat { .. } | R::OtherPort { .. } | R::Filtered { .. }) => NOT_REACHABLE,
            Some(R::Unknown) => 5,
            _ => 0,
        };
        STATUS.store(status, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// The exit status of `check` when the STUN server saw another address or port.
const NOT_REACHABLE: u8 = 6;

/// The exit status of a command that succeeded but has something to say by it (`check`).
static STATUS: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// A STUN server named by the user: `HOST` or `HOST:PORT`, resolved (an address of the
/// family of `like`, the external address, first).
fn stun_server(name: &str, like: IpAddr) -> Result<std::net::SocketAddr, Error> {
    use std::net::ToSocketAddrs;
    let with_port = match name.rsplit_once(':') {
        Some((_, port)) if port.parse::<u16>().is_ok() && !name.ends_with(']') => name.to_owned(),
        _ => format!("{name}:{}", upnp_igd::reach::STUN_PORT),
    };
    let addrs: Vec<std::net::SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|_| Error::InvalidParam("the STUN server's name does not resolve"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4() == like.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or(Error::InvalidParam(
            "the STUN server's name does not resolve",
        ))
}

fn mapping_request(command: &Command) -> MappingRequest {
    match command {
        Command::Add {
            port,
            internal,
            proto,
            desc,
            lease,
            ..
        } => MappingRequest::new(*port)
            .port_internal(*internal)
            .proto(proto.godot())
            .desc(desc.clone())
            .duration(*lease),
        _ => MappingRequest::new(0),
    }
}

/// Print the document of `body` on one line.
fn print_json(cli: &Cli, body: serde_json::Value) {
    println!("{}", document(cli, body));
}
