//! `peer-igd-next external-ip` | `peer-igd-next add-delete PORT`: what `upnp external-ip` and
//! `upnp add PORT` + `upnp delete PORT` do, on igd-next 0.18 with its defaults but a 2 s search (one process
//! per job, discovery included), for `cargo xtask bench`.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use igd_next::{PortMappingProtocol, SearchOptions, search_gateway};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["external-ip"] => external_ip(),
        ["add", port] => add(port),
        ["delete", port] => delete(port),
        _ => Err("usage: peer-igd-next external-ip | add PORT | delete PORT".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peer-igd-next: {e}");
            ExitCode::FAILURE
        }
    }
}

/// igd-next's defaults, with the 2 s search `upnp` and Godot use.
fn options() -> SearchOptions {
    let mut options = SearchOptions::default();
    options.timeout = Some(Duration::from_secs(2));
    options
}

fn external_ip() -> Result<(), String> {
    let gateway = search_gateway(options()).map_err(|e| e.to_string())?;
    let ip = gateway.get_external_ip().map_err(|e| e.to_string())?;
    println!("{ip}");
    Ok(())
}

fn add(port: &str) -> Result<(), String> {
    let port: u16 = port.parse().map_err(|_| "bad port".to_owned())?;
    let gateway = search_gateway(options()).map_err(|e| e.to_string())?;
    // Our address on the path to the gateway (no packet is sent).
    let probe = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    probe.connect(gateway.addr).map_err(|e| e.to_string())?;
    let local = SocketAddr::new(probe.local_addr().map_err(|e| e.to_string())?.ip(), port);
    gateway
        .add_port(PortMappingProtocol::UDP, port, local, 0, "bench")
        .map_err(|e| e.to_string())?;
    println!("added");
    Ok(())
}

fn delete(port: &str) -> Result<(), String> {
    let port: u16 = port.parse().map_err(|_| "bad port".to_owned())?;
    let gateway = search_gateway(options()).map_err(|e| e.to_string())?;
    gateway
        .remove_port(PortMappingProtocol::UDP, port)
        .map_err(|e| e.to_string())?;
    println!("deleted");
    Ok(())
}
