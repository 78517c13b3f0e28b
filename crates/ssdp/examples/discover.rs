//! Search the network and print every answer as it arrives.
//!
//! `discover [--ipv6] [--interface IF|ADDR] [--timeout MS] [--local-port N] [ST...]`
//! (default ST: the IGD:1 device type, as Godot searches for it).

use std::process::ExitCode;
use std::time::Duration;

use upnp_ssdp::SearchTarget;
use upnp_ssdp::net::{SearchOptions, Searcher};

fn main() -> ExitCode {
    let mut options = SearchOptions::default();
    let mut targets = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--ipv6" => options.ipv6 = true,
            "--interface" => options.interface = value().parse().ok(),
            "--timeout" => match value().parse() {
                Ok(ms) => options.timeout = Duration::from_millis(ms),
                Err(_) => return usage(),
            },
            "--local-port" => match value().parse::<u16>() {
                Ok(port) => options.local_port = port.into(),
                Err(_) => return usage(),
            },
            st if !st.starts_with('-') => targets.extend(st.parse::<SearchTarget>()),
            _ => return usage(),
        }
    }
    if !targets.is_empty() {
        options.targets = targets;
    }
    let searcher = match Searcher::start(&options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("discover: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut count = 0;
    for found in searcher {
        match found {
            Ok(r) => {
                count += 1;
                println!(
                    "{}\n  from     {}\n  st       {}\n  usn      {}\n  server   {}",
                    r.response.location,
                    r.from,
                    r.response.search_target,
                    r.response.usn.as_deref().unwrap_or("-"),
                    r.response.server.as_deref().unwrap_or("-"),
                );
            }
            Err(e) => eprintln!("discover: {e}"),
        }
    }
    println!("{count} response(s) in {} ms", options.timeout.as_millis());
    if count == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: discover [--ipv6] [--interface IF|ADDR] [--timeout MS] [--local-port N] [ST...]"
    );
    ExitCode::from(2)
}
