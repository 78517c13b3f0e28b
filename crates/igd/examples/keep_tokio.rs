//! The keeper in a tokio runtime: hold a UDP port open until Ctrl-C, printing each event;
//! the mapping is removed on the way out. `cargo run -p upnp-igd --features tokio --example
//! keep_tokio -- 7777`
//!
//! UPnP is searched for; while none answers, the keeper keeps searching (PCP and NAT-PMP:
//! `upnp_igd::tokio::keep_pmp`, or `Upnp::find_way` as in `examples/keep.rs`).

use std::time::Duration;

use upnp_igd::keeper::{Keep, upnp::Find};
use upnp_igd::tokio::Upnp;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), upnp_igd::Error> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(7777);
    let keep = Keep::new().udp(port).check(Duration::from_secs(30));
    let mut keeper = Upnp::new().keep(keep, Find::default())?;
    loop {
        tokio::select! {
            event = keeper.next_event() => match event {
                Some(event) => println!("{event}"),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    for event in keeper.stop().await {
        println!("{event}");
    }
    Ok(())
}
