//! Keep a UDP and a TCP port open until Enter is pressed, printing each event; the mappings
//! are removed on the way out. `cargo run -p upnp-igd --example keep -- 7777`
//!
//! The way is chosen as `Via::Auto` says: UPnP if the router answers it, else PCP, else
//! NAT-PMP, and changed when the one in use stops answering; each event names it. Run it on
//! a LAN with such a router (or in the lab: `cargo xtask lab exec -- ...`).

use std::io::BufRead;
use std::sync::mpsc;
use std::time::Duration;

use upnp_igd::Via;
use upnp_igd::blocking::Upnp;
use upnp_igd::keeper::{Event, Keep, upnp::Find};

fn main() -> Result<(), upnp_igd::Error> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(7777);
    let keep = Keep::new()
        .udp(port)
        .tcp(port)
        .check(Duration::from_secs(30))
        .via(Via::Auto);
    let keeper = Upnp::new().keep(keep, Find::default())?;
    // Enter stops: a thread waits for it.
    let (enter, entered) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdin().lock().read_line(&mut String::new());
        let _ = enter.send(());
    });
    while entered.try_recv().is_err() {
        if let Ok(event) = keeper.events().recv_timeout(Duration::from_millis(100)) {
            match &event {
                Event::Mapped(held) | Event::Remapped(held) => {
                    println!("{event} via {}", held.method);
                }
                _ => println!("{event}"),
            }
        }
    }
    for event in keeper.stop() {
        println!("{event}");
    }
    Ok(())
}
