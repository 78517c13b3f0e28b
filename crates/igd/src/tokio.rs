//! The async driver, for a tokio runtime (feature `tokio`): Godot's `UPNP` and `UPNPDevice`
//! with `async` calls.
//!
//! The same machines as [`crate::blocking`] ([`crate::machine`]), awaited with the tokio
//! executor, one loop for all of them; the methods are written once for both drivers. Only
//! the I/O differs: HTTP is `upnp_soap::tokio`'s client, SSDP
//! `upnp_ssdp::net::tokio::Searcher`, PCP/NAT-PMP `pcp_natpmp::net::tokio`.
//!
//! ```no_run
//! # async fn keep() -> Result<(), upnp_igd::Error> {
//! use upnp_igd::keeper::{Keep, upnp::Find};
//!
//! let mut keeper = upnp_igd::tokio::Upnp::new().keep(Keep::new().udp(7777), Find::default())?;
//! while let Some(event) = keeper.next_event().await {
//!     println!("{event}");
//! #   break;
//! }
//! keeper.stop().await; // removes the mapping
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use upnp_soap::actions::PortMapping;
use upnp_soap::firewall::{
    CheckPinholeWorking, DeletePinhole, FirewallStatus, GetFirewallStatus, GetPinholePackets,
    UpdatePinhole,
};
use upnp_soap::tokio::Client;

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

use exec::{Executor, Inbox};

/// Godot's `UPNP`, async: discovery, the list of devices (Godot's methods: see
/// [`facade::Upnp`]), and the default gateway's port mappings.
pub type Upnp = facade::Upnp<Client>;

/// Godot's `UPNPDevice`, async: one device, its properties (through `Deref` to [`Device`]),
/// and the calls on it.
pub type UpnpDevice = facade::UpnpDevice<Client>;

/// A gateway reached one way or another: what [`Upnp::find_way`] found.
pub type Found = pmp::Found<UpnpDevice, PmpClient>;

crate::api::godot_api!({async} {.await});

/// Run a one-shot machine to its end.
async fn run<M: Machine<Event = Infallible>>(
    exec: &mut Executor,
    mut machine: M,
) -> Result<M::Value, Error> {
    exec.run(&mut machine, Inbox::new(), |never| match never {})
        .await
}

/// Run `machine` with `exec` in a task of the current runtime ([`Error::InvalidParam`]
/// outside one).
fn keeper(mut machine: KeepMachine, mut exec: Executor) -> Result<KeeperHandle, Error> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| Error::InvalidParam("the keeper needs a tokio runtime"))?;
    let inbox = Inbox::new();
    let stop = inbox.sender.clone();
    let (sender, events) = mpsc::channel(MAX_EVENTS);
    let status = Arc::new(Mutex::new(machine.status()));
    let shared = Arc::clone(&status);
    let task = runtime.spawn(async move {
        let deliver = |update| match update {
            Update::Status(now) => *shared.lock().unwrap_or_else(PoisonError::into_inner) = *now,
            Update::Event(event) => drop(sender.try_send(event)),
        };
        let _ = exec.run(&mut machine, inbox, deliver).await;
    });
    Ok(KeeperHandle {
        inbox: Some(stop),
        runtime,
        events,
        status,
        task: Some(task),
    })
}

/// The handle of a keeper task ([`Upnp::keep`]). Awaiting [`KeeperHandle::stop`] takes as long
/// as removing what the keeper mapped (never anything else, nor a mapping that no longer
/// points at us): the call in flight ([`Limits::call`](crate::Limits::call)) plus
/// [`Keep::stop_within`], at most (twice that with a router in front held too: its mappings
/// are removed first).
///
/// Dropping the handle stops the keeper too, but cannot wait: the task removes the mappings
/// in the background, as long as the runtime runs. A runtime shut down first leaves them to
/// the router, which drops them when their lease ends ([`Keep::lease`], 1 hour by default).
#[derive(Debug)]
pub struct KeeperHandle {
    inbox: Option<mpsc::Sender<Input>>,
    runtime: tokio::runtime::Handle,
    events: mpsc::Receiver<Event>,
    status: Arc<Mutex<Status>>,
    task: Option<JoinHandle<()>>,
}

impl KeeperHandle {
    /// The next event, as it happens; `None` once the keeper is stopped (after
    /// [`Event::Stopped`]). At most [`MAX_EVENTS`] wait unread; past that, new ones are
    /// dropped ([`KeeperHandle::status`] is always current).
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The events, as a tokio channel (for `select!`).
    pub fn events(&mut self) -> &mut mpsc::Receiver<Event> {
        &mut self.events
    }

    /// The state now: the gateway, the way, the external address, each port and what
    /// holds it.
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stop: remove the mappings made; the events not read yet.
    pub async fn stop(mut self) -> Vec<Event> {
        if let Some(inbox) = self.inbox.take() {
            let _ = inbox.send(Input::Stop).await;
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let mut rest = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            rest.push(event);
        }
        rest
    }
}

impl Drop for KeeperHandle {
    /// Asks the task to stop; it removes the mappings in the background.
    fn drop(&mut self) {
        if let Some(inbox) = self.inbox.take() {
            if let Err(mpsc::error::TrySendError::Full(stop)) = inbox.try_send(Input::Stop) {
                self.runtime.spawn(async move { inbox.send(stop).await });
            }
        }
    }
}
