//! Godot's own example, in Rust: on a thread of its own (the calls block for seconds), find
//! the gateway and forward a server port for UDP and TCP, then remove both on the way out.
//! `cargo run -p upnp-igd --example godot -- 3928`
//!
//! Mappings made this way are forgotten when the router restarts or their lease ends; the
//! keeper (`examples/keep.rs`) holds them.

use std::thread;

use upnp_igd::blocking::Upnp;
use upnp_igd::{DiscoverOptions, Error, MappingRequest};

/// What Godot's `_upnp_setup` does: discover, then map the port for both protocols.
fn upnp_setup(server_port: i64, name: &str) -> Result<Upnp, Error> {
    let mut upnp = Upnp::new();
    upnp.discover(&DiscoverOptions::default())?;
    let gateway = upnp.get_gateway()?;
    if gateway.is_valid_gateway() {
        for proto in ["UDP", "TCP"] {
            let request = MappingRequest::new(server_port)
                .port_internal(server_port)
                .desc(name)
                .proto(proto);
            let granted = gateway.add_port_mapping(&request)?;
            println!("{proto} {server_port} forwarded ({granted:?})");
        }
    }
    Ok(upnp)
}

fn main() {
    let server_port: i64 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(3928);
    let setup = thread::spawn(move || upnp_setup(server_port, "my game"));
    // ... the game runs; the thread is joined before exit, as Godot's `_exit_tree` does.
    match setup.join() {
        Ok(Ok(upnp)) => {
            println!("external address: {:?}", upnp.query_external_address());
            for proto in ["UDP", "TCP"] {
                if let Err(e) = upnp.delete_port_mapping(server_port, proto) {
                    eprintln!("delete {proto} {server_port}: {e} ({})", e.code());
                }
            }
        }
        Ok(Err(e)) => eprintln!("UPnP setup failed: {e} (UPNPResult {})", e.code()),
        Err(_) => eprintln!("the UPnP thread panicked"),
    }
}
