//! `upnp`: the everyday tool of a user with a router, on top of the `igd` crate.
//!
//! ```text
//! upnp [-v] [--url DESCRIPTION_URL] [--json] [--timeout MS] [--ipv6] [--interface IF|ADDR] COMMAND
//!   discover                 every responder, its service, control URL, status, and why
//!   external-ip              the gateway's external address alone on a line
//!   add PORT [--internal P] [--proto udp|tcp] [--desc D] [--lease SECONDS]
//!   delete PORT [--proto udp|tcp]
//!   list                     every mapping on the gateway
//! ```
//!
//! Errors print Godot's `UpnpResult` name, the UPnP code and the router's own text, and
//! exit with status 1 (2 for a usage error).

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use igd::blocking::{Upnp, UpnpDevice};
use igd::{DiscoverOptions, Error, MappingRequest};
use serde::Serialize;

mod output;

use output::{DeviceOut, ErrorOut, MappingOut};

/// Find the router, show its external address, open, close and list port mappings (UPnP IGD).
#[derive(Debug, Parser)]
#[command(name = "upnp", version)]
struct Cli {
    /// Use the device whose description is at this URL instead of discovering.
    #[arg(long, global = false)]
    url: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,
    /// Tell on stderr each decision taken: answers skipped and why, each probe and its
    /// outcome, fallbacks, deadlines hit.
    #[arg(short, long)]
    verbose: bool,
    /// How long discovery waits for answers, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout: i64,
    /// Discover over IPv6.
    #[arg(long)]
    ipv6: bool,
    /// The interface (name or address) to discover from.
    #[arg(long)]
    interface: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every device that answers, its connection service, control URL and status, and
    /// why it is or is not a valid gateway (waits out the whole timeout).
    Discover,
    /// Print the gateway's external address alone on a line.
    ExternalIp,
    /// Map PORT on the gateway to this host (UDP, same port, permanent lease by default).
    Add {
        /// The external port.
        port: i64,
        /// The internal port (default: the same as PORT).
        #[arg(long, default_value_t = 0)]
        internal: i64,
        /// The protocol.
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        proto: Proto,
        /// The description shown in the router's UI.
        #[arg(long, default_value = "")]
        desc: String,
        /// The lease in seconds (0: permanent).
        #[arg(long, default_value_t = 0)]
        lease: i64,
    },
    /// Remove the mapping of PORT.
    Delete {
        /// The external port.
        port: i64,
        /// The protocol.
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        proto: Proto,
    },
    /// List every mapping on the gateway.
    List,
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
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), Error> {
    let mut upnp = Upnp::new();
    upnp.settings.discover_ipv6 = cli.ipv6;
    upnp.settings.discover_multicast_if = cli.interface.clone().unwrap_or_default();
    let options = DiscoverOptions {
        timeout: cli.timeout,
        ..DiscoverOptions::default()
    };
    if let Command::Discover = cli.command {
        let devices: Vec<UpnpDevice> = match &cli.url {
            Some(url) => vec![upnp.device_at(url)],
            None => {
                upnp.discover(&options)?;
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
            igd::mapping::external_port(*port)?;
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
        None => upnp.find_gateway(&options)?.clone(),
    };
    match &cli.command {
        Command::Discover => Ok(()),
        Command::ExternalIp => {
            // Validating the gateway already asked for its address; ask again only if it had
            // none to give then.
            let ip = match gateway.external_address {
                Some(ip) => ip,
                None => gateway.query_external_address()?,
            };
            if cli.json {
                print_json(&serde_json::json!({ "external_ip": ip.to_string() }));
            } else {
                println!("{ip}");
            }
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
        Command::Delete { port, proto } => {
            gateway.delete_port_mapping(*port, proto.godot())?;
            if cli.json {
                print_json(
                    &serde_json::json!({ "deleted": { "port": port, "proto": proto.godot() } }),
                );
            } else {
                println!("deleted {} {port}", proto.godot());
            }
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
