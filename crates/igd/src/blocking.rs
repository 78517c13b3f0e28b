//! The blocking driver: Godot's `UPNP` and `UPNPDevice`, calls that block like Godot's.
//!
//! Every call builds the machine of its operation ([`crate::machine`]) and runs it on the
//! caller's thread with the blocking executor, one loop for all of them; nothing here
//! decides (the methods are written once for both drivers). It owns no runtime, so it works
//! when called from inside one (a game or server that already runs tokio), but each call
//! blocks its thread until the call's deadline at most: in async code prefer
//! [`crate::tokio`], or `spawn_blocking`.
//!
//! ```no_run
//! use upnp_igd::blocking::Upnp;
//! use upnp_igd::keeper::{Keep, upnp::Find};
//!
//! let keeper = Upnp::new().keep(Keep::new().udp(7777).tcp(7777), Find::default())?;
//! for event in keeper.events().iter().take(2) {
//!     println!("{event}");
//! }
//! keeper.stop(); // removes both mappings
//! # Ok::<(), upnp_igd::Error>(())
//! ```

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::Instant;

use upnp_soap::actions::PortMapping;
use upnp_soap::blocking::Client;
use upnp_soap::firewall::{
    CheckPinholeWorking, DeletePinhole, FirewallStatus, GetFirewallStatus, GetPinholePackets,
    UpdatePinhole,
};

use crate::device::Device;
use crate::discover::{DiscoverOptions, Goal};
use crate::error::Error;
use crate::facade;
use crate::keeper::upnp::Find;
use crate::keeper::{Event, Keep, KeepMachine, MAX_EVENTS, Status, Update};
use crate::machine::{Input, Machine};
use crate::mapping::{Granted, MappingRequest};
use crate::ops::PmpRun;
use crate::pinhole::{Pinhole, PinholeRequest};
use crate::pmp::{
    self, Method, PmpAddress, PmpGranted, PmpMapping, PmpSequence, Session, Target, Via, Way,
};

mod exec;
#[cfg(test)]
mod tests;

use exec::{Executor, Inbox};

/// Godot's `UPNP`: discovery, the list of devices (Godot's methods: see
/// [`facade::Upnp`]), and the default gateway's port mappings.
pub type Upnp = facade::Upnp<Client>;

/// Godot's `UPNPDevice`: one device, its properties (through `Deref` to [`Device`]),
/// and the calls on it.
pub type UpnpDevice = facade::UpnpDevice<Client>;

/// A gateway reached one way or another: what [`Upnp::find_way`] found.
pub type Found = pmp::Found<UpnpDevice, PmpClient>;

crate::api::godot_api!({} {});

/// Run a one-shot machine to its end on this thread.
fn run<M: Machine<Event = Infallible>>(
    exec: &mut Executor,
    mut machine: M,
) -> Result<M::Value, Error> {
    exec.run(&mut machine, Inbox::new(), |never| match never {})
}

/// Run `machine` with `exec` on a thread of its own.
fn keeper(mut machine: KeepMachine, mut exec: Executor) -> Result<KeeperHandle, Error> {
    let inbox = Inbox::new();
    let stop = inbox.sender.clone();
    let (sender, events) = mpsc::sync_channel(MAX_EVENTS);
    let status = Arc::new(Mutex::new(machine.status()));
    let shared = Arc::clone(&status);
    let thread = thread::Builder::new()
        .name("igd-keeper".into())
        .spawn(move || {
            let _ = exec.run(&mut machine, inbox, |update| match update {
                Update::Status(now) => {
                    *shared.lock().unwrap_or_else(PoisonError::into_inner) = *now
                }
                Update::Event(event) => drop(sender.try_send(event)),
            });
        })
        .map_err(Error::Thread)?;
    Ok(KeeperHandle {
        inbox: Some(stop),
        events,
        status,
        thread: Some(thread),
    })
}

/// A keeper running on its own thread ([`Upnp::keep`], [`PmpClient::keep`], [`keep_pmp`]).
/// Stopping it, or dropping it, removes every mapping it made (only those, and only where
/// they still point at us) and waits for that: at most the call in flight
/// ([`Limits::call`](crate::Limits::call)) plus [`Keep::stop_within`] (twice that with a
/// router in front held too: its mappings are removed first).
#[derive(Debug)]
pub struct KeeperHandle {
    inbox: Option<mpsc::SyncSender<Input>>,
    events: mpsc::Receiver<Event>,
    status: Arc<Mutex<Status>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl KeeperHandle {
    /// Every change, as it happens (at most [`MAX_EVENTS`] waiting: newer ones past that
    /// are dropped until some are read; [`KeeperHandle::status`] is always current). The
    /// channel ends after [`Event::Stopped`].
    pub fn events(&self) -> &mpsc::Receiver<Event> {
        &self.events
    }

    /// The state now: the gateway, the way, the external address, each port and what
    /// holds it.
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stop: remove the mappings made, then return. Events until then stay readable through
    /// [`KeeperHandle::events`] until the handle is dropped.
    pub fn stop(mut self) -> Vec<Event> {
        self.finish();
        self.events.try_iter().collect()
    }

    fn finish(&mut self) {
        if let Some(inbox) = self.inbox.take() {
            // Waits only while the keeper's inbox is full (it reads it in turn); an error
            // means the keeper is over already.
            let _ = inbox.send(Input::Stop);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for KeeperHandle {
    /// Stops as [`KeeperHandle::stop`] does.
    fn drop(&mut self) {
        self.finish();
    }
}
