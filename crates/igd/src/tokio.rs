//! The async driver, for a tokio runtime (feature `tokio`): Godot's `UPNP` and `UPNPDevice`
//! with `async` calls.
//!
//! Every call builds the same machine as [`crate::blocking`] ([`crate::machine`]) and awaits
//! it with the tokio executor (one loop for all of them); only the I/O differs: HTTP is
//! `upnp_soap::tokio`'s client, SSDP `upnp_ssdp::net::tokio::Searcher`, PCP/NAT-PMP
//! `pcp_natpmp::net::tokio`.

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
use crate::keeper::{Event as KeeperEvent, Keep, KeepMachine, MAX_EVENTS, Status, Update};
use crate::machine::{Input, Machine};
use crate::mapping::{Granted, MappingRequest, Sequence};
use crate::ops::{PmpRun, Soap};
use crate::pinhole::{self, Pinhole, PinholeRequest};
use crate::pmp::{
    self, Method, PmpAddress, PmpGranted, PmpMapping, PmpSequence, Session, Target, Via, Way,
};

mod exec;

use exec::{Executor, Inbox};

/// Run a one-shot machine to its end.
async fn run<M: Machine<Event = Infallible>>(
    exec: &mut Executor,
    mut machine: M,
) -> Result<M::Value, Error> {
    exec.run(&mut machine, Inbox::new(), |never| match never {})
        .await
}

/// Godot's `UPNP`, async: discovery, the list of devices (Godot's methods: see
/// [`facade::Upnp`]), and the default gateway's port mappings.
pub type Upnp = facade::Upnp<Client>;

/// Godot's `UPNPDevice`, async: one device, its properties (through `Deref` to [`Device`]),
/// and the calls on it.
pub type UpnpDevice = facade::UpnpDevice<Client>;

impl Upnp {
    fn executor(&self) -> Executor {
        Executor::new(self.client.clone())
    }

    /// Godot's `discover`: clear the list, search for `options.timeout` ms and probe each
    /// answering device (while the search goes on, several at once). The number of devices
    /// found, or [`Error::NoDevices`]. Ends by `options.timeout` + [`Limits::probe`](crate::Limits::probe).
    pub async fn discover(&mut self, options: &DiscoverOptions) -> Result<usize, Error> {
        self.clear_devices();
        let discovery = self.discovery(Goal::Every, options, Instant::now())?;
        let found = run(&mut self.executor(), discovery).await?;
        self.set_devices(found);
        Ok(self.get_device_count())
    }

    /// Find one gateway quickly; see [`crate::blocking::Upnp::find_gateway`].
    pub async fn find_gateway(&mut self, options: &DiscoverOptions) -> Result<&UpnpDevice, Error> {
        self.clear_devices();
        let discovery = self.discovery(Goal::FirstPublic, options, Instant::now())?;
        let found = run(&mut self.executor(), discovery).await?;
        self.set_devices(found);
        self.get_gateway()
    }

    /// A device from a description URL the user gave (no discovery), probed within
    /// [`Limits::probe`](crate::Limits::probe).
    pub async fn device_at(&self, description_url: &str) -> UpnpDevice {
        let probe = self.probe_at(description_url, Instant::now());
        let device = run(&mut self.executor(), probe).await;
        self.device(device.unwrap_or_else(|e| failed(description_url, &e)))
    }

    /// Rebuild a gateway found before with one exchange instead of a search; see
    /// [`crate::blocking::Upnp::revalidate`].
    pub async fn revalidate(&mut self, saved: Device) -> Result<&UpnpDevice, Error> {
        let url = saved.description_url.clone();
        let probe = self.revalidation(saved, Instant::now());
        let device = run(&mut self.executor(), probe).await;
        self.revalidated(device.unwrap_or_else(|e| failed(&url, &e)))
    }

    /// Godot's `query_external_address`, on the gateway.
    pub async fn query_external_address(&self) -> Result<IpAddr, Error> {
        self.get_gateway()?.query_external_address().await
    }

    /// Godot's `add_port_mapping`, on the gateway.
    pub async fn add_port_mapping(&self, request: &MappingRequest) -> Result<Granted, Error> {
        self.get_gateway()?.add_port_mapping(request).await
    }

    /// Godot's `delete_port_mapping`, on the gateway.
    pub async fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
        self.get_gateway()?.delete_port_mapping(port, proto).await
    }

    /// Keep ports open until stopped (see [`crate::keeper`]), in a task of the current
    /// runtime; like [`crate::blocking::Upnp::keep`]. Must be called within a tokio runtime
    /// ([`Error::InvalidParam`] otherwise).
    ///
    /// ```no_run
    /// # async fn keep() -> Result<(), upnp_igd::Error> {
    /// use upnp_igd::keeper::{Keep, upnp::Find};
    ///
    /// let mut keeper = upnp_igd::tokio::Upnp::new().keep(Keep::new().udp(7777), Find::default())?;
    /// while let Some(event) = keeper.next_event().await {
    ///     println!("{event}");
    /// #   break;
    /// }
    /// keeper.stop().await; // removes the mapping
    /// # Ok(())
    /// # }
    /// ```
    pub fn keep(&self, keep: Keep, find: Find) -> Result<KeeperHandle, Error> {
        let runtime = runtime()?;
        let machine = self.keeper(keep, find)?;
        let status = machine.status();
        Ok(KeeperHandle::spawn(
            &runtime,
            machine,
            status,
            self.executor(),
        ))
    }

    /// Find a gateway the way `via` says, every way at once (see the blocking
    /// [`crate::blocking::Upnp::find_way`]).
    pub async fn find_way(
        &mut self,
        options: &DiscoverOptions,
        via: Via,
        gateway: Option<IpAddr>,
    ) -> Result<Found, Error> {
        self.clear_devices();
        let machine = self.find_way_op(options, via, gateway, Instant::now())?;
        let mut exec = self.executor();
        let way = run(&mut exec, machine).await?;
        Ok(match self.found_way(way)? {
            pmp::Found::Upnp(device) => pmp::Found::Upnp(device),
            pmp::Found::Pmp(opened) => pmp::Found::Pmp(PmpClient {
                exec,
                session: opened.session,
                gateway: opened.gateway,
                limits: self.limits.clone(),
            }),
        })
    }
}

/// A device whose probe could not run (the driver's own failure): its status says why.
fn failed(description_url: &str, error: &Error) -> Device {
    let mut device = Device::new(description_url, "");
    device.igd_status = crate::error::IgdStatus::HttpError;
    device.status_detail = Some(error.to_string());
    device
}

fn runtime() -> Result<tokio::runtime::Handle, Error> {
    tokio::runtime::Handle::try_current()
        .map_err(|_| Error::InvalidParam("the keeper needs a tokio runtime"))
}

/// The handle of a keeper task ([`Upnp::keep`]). Awaiting [`KeeperHandle::stop`] takes as long
/// as removing what the keeper mapped (never anything else, nor a mapping that no longer
/// points at us): the call in flight ([`Limits::call`](crate::Limits::call)) plus
/// [`Keep::stop_within`], at most.
///
/// Dropping the handle stops the keeper too, but cannot wait: the task removes the mappings
/// in the background, as long as the runtime runs. A runtime shut down first leaves them to
/// the router, which drops them when their lease ends ([`Keep::lease`], 1 hour by default).
#[derive(Debug)]
pub struct KeeperHandle {
    inbox: Option<mpsc::Sender<Input>>,
    runtime: tokio::runtime::Handle,
    events: mpsc::Receiver<KeeperEvent>,
    status: Arc<Mutex<Status>>,
    task: Option<JoinHandle<()>>,
}

impl KeeperHandle {
    /// Run `machine` with `exec` in a task of `runtime`.
    fn spawn<M>(
        runtime: &tokio::runtime::Handle,
        mut machine: M,
        status: Status,
        mut exec: Executor,
    ) -> KeeperHandle
    where
        M: Machine<Value = (), Event = Update> + Send + 'static,
    {
        let inbox = Inbox::new();
        let stop = inbox.sender.clone();
        let (sender, events) = mpsc::channel(MAX_EVENTS);
        let status = Arc::new(Mutex::new(status));
        let shared = Arc::clone(&status);
        let task = runtime.spawn(async move {
            let deliver = |update| match update {
                Update::Status(now) => {
                    *shared.lock().unwrap_or_else(PoisonError::into_inner) = *now;
                }
                Update::Event(event) => drop(sender.try_send(event)),
            };
            let _ = exec.run(&mut machine, inbox, deliver).await;
        });
        KeeperHandle {
            inbox: Some(stop),
            runtime: runtime.clone(),
            events,
            status,
            task: Some(task),
        }
    }

    /// The next event, as it happens; `None` once the keeper is stopped (after
    /// [`KeeperEvent::Stopped`]). At most [`MAX_EVENTS`] wait unread; past that, new ones are
    /// dropped ([`KeeperHandle::status`] is always current).
    pub async fn next_event(&mut self) -> Option<KeeperEvent> {
        self.events.recv().await
    }

    /// The events, as a tokio channel (for `select!`).
    pub fn events(&mut self) -> &mut mpsc::Receiver<KeeperEvent> {
        &mut self.events
    }

    /// The state now: the gateway, the external address, each port and what holds it.
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stop: remove the mappings made; the events not read yet.
    pub async fn stop(mut self) -> Vec<KeeperEvent> {
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

impl UpnpDevice {
    fn executor(&self) -> Executor {
        Executor::new(self.client.clone())
    }

    async fn run<S: Sequence>(&self, op: Result<Soap<S>, Error>) -> Result<S::Output, Error> {
        run(&mut self.executor(), op?).await
    }

    /// Godot's `query_external_address`, within [`Limits::call`](crate::Limits::call).
    pub async fn query_external_address(&self) -> Result<IpAddr, Error> {
        self.run(self.external_address_op(Instant::now())).await
    }

    /// Godot's `add_port_mapping`: validate, look at the port (another client's mapping is
    /// never replaced), add with fallbacks, read back what was granted.
    pub async fn add_port_mapping(&self, request: &MappingRequest) -> Result<Granted, Error> {
        self.run(self.add_op(request, Instant::now())).await
    }

    /// Godot's `delete_port_mapping` (only a mapping to us).
    pub async fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
        self.run(self.delete_op(port, proto, Instant::now())).await
    }

    /// Every mapping on the gateway (see [`crate::mapping::ListSequence`]), at most
    /// [`Limits::list_entries`](crate::Limits::list_entries), within [`Limits::list`](crate::Limits::list).
    pub async fn list_port_mappings(&self) -> Result<Vec<PortMapping>, Error> {
        self.run(self.list_op(Instant::now())).await
    }

    /// The gateway's IPv6 firewall: whether it is on, and whether pinholes may be opened.
    pub async fn firewall_status(&self) -> Result<FirewallStatus, Error> {
        self.run(self.pinhole_op(GetFirewallStatus, Instant::now()))
            .await
    }

    /// Open an IPv6 pinhole (to our own global address unless the request names one):
    /// checked before anything is sent ([`PinholeRequest::action`]), within
    /// [`Limits::call`](crate::Limits::call).
    pub async fn open_pinhole(&self, request: &PinholeRequest) -> Result<Pinhole, Error> {
        let open = self.open_pinhole_op(request, Instant::now());
        run(&mut self.executor(), open).await
    }

    /// Give a pinhole its lease again (from now).
    pub async fn renew_pinhole(&self, pinhole: &Pinhole) -> Result<(), Error> {
        let update = UpdatePinhole {
            unique_id: pinhole.unique_id,
            lease_time: pinhole::lease_time(pinhole.lease)?,
        };
        self.run(self.pinhole_op(update, Instant::now())).await
    }

    /// Close a pinhole.
    pub async fn close_pinhole(&self, unique_id: u16) -> Result<(), Error> {
        let close = DeletePinhole { unique_id };
        self.run(self.pinhole_op(close, Instant::now())).await
    }

    /// How many packets a pinhole has let in.
    pub async fn pinhole_packets(&self, unique_id: u16) -> Result<u32, Error> {
        let count = GetPinholePackets { unique_id };
        self.run(self.pinhole_op(count, Instant::now())).await
    }

    /// Whether traffic has come through a pinhole.
    pub async fn pinhole_working(&self, unique_id: u16) -> Result<bool, Error> {
        let check = CheckPinholeWorking { unique_id };
        pinhole::working(self.run(self.pinhole_op(check, Instant::now())).await)
    }
}

/// A gateway reached one way or another: what [`Upnp::find_way`] found.
pub type Found = pmp::Found<UpnpDevice, PmpClient>;

/// The async client of a gateway's PCP or NAT-PMP service (see the blocking
/// [`crate::blocking::PmpClient`]).
#[derive(Debug)]
pub struct PmpClient {
    exec: Executor,
    session: Session,
    gateway: SocketAddr,
    limits: crate::Limits,
}

impl PmpClient {
    /// A client of the gateway `target` names speaking `way`, not probed (needs a tokio
    /// runtime).
    pub fn new(target: Target, way: Way, limits: &crate::Limits) -> Result<PmpClient, Error> {
        let mut exec = Executor::new(Client::new(&upnp_soap::http::Config::default()));
        let (local, gateway) = exec.open_pmp(target, way)?;
        Ok(PmpClient {
            exec,
            session: Session::new(way, local),
            gateway,
            limits: limits.clone(),
        })
    }

    /// A client that has asked the gateway which version it speaks.
    pub async fn probe(
        target: Target,
        way: Way,
        limits: &crate::Limits,
    ) -> Result<PmpClient, Error> {
        let mut client = PmpClient::new(target, way, limits)?;
        let method = client.run(client.session.probe()).await?;
        client.session.probed(method);
        Ok(client)
    }

    /// The way it speaks.
    pub fn method(&self) -> Method {
        self.session.method()
    }

    /// The gateway's address and port.
    pub fn gateway(&self) -> SocketAddr {
        self.gateway
    }

    /// What it knows: the way and our address.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Map.
    pub async fn add(&mut self, mapping: PmpMapping) -> Result<PmpGranted, Error> {
        self.run(self.session.add(mapping)).await
    }

    /// Unmap.
    pub async fn delete(&mut self, mapping: PmpMapping) -> Result<Method, Error> {
        self.run(self.session.delete(mapping)).await
    }

    /// The gateway's external address.
    pub async fn external_ip(&mut self) -> Result<PmpAddress, Error> {
        let nonce = pcp_natpmp::Nonce::random()?;
        self.run(self.session.external(nonce)).await
    }

    /// Keep ports open through this gateway until stopped, in a task of the current runtime;
    /// like [`crate::blocking::PmpClient::keep`] (announcements heard where UDP 5350 can be
    /// bound). Must be called within a tokio runtime.
    pub fn keep(self, keep: Keep) -> Result<KeeperHandle, Error> {
        let runtime = runtime()?;
        let seed = pcp_natpmp::Nonce::random()?;
        let machine =
            KeepMachine::of_pmp_client(keep, self.session, self.gateway, &self.limits, seed)?;
        let status = machine.status();
        Ok(KeeperHandle::spawn(&runtime, machine, status, self.exec))
    }

    async fn run<S: PmpSequence>(&mut self, sequence: S) -> Result<S::Output, Error> {
        let machine = PmpRun::new(sequence, self.limits.call, Instant::now());
        run(&mut self.exec, machine).await
    }
}

/// Keep ports open through PCP or NAT-PMP, in a task of the current runtime; see
/// [`crate::blocking::keep_pmp`].
pub fn keep_pmp(
    keep: Keep,
    way: Way,
    target: Target,
    limits: &crate::Limits,
) -> Result<KeeperHandle, Error> {
    let runtime = runtime()?;
    let machine = KeepMachine::new_pmp(keep, way, target, limits, pcp_natpmp::Nonce::random()?)?;
    let status = machine.status();
    let exec = Executor::new(Client::new(&upnp_soap::http::Config::default()));
    Ok(KeeperHandle::spawn(&runtime, machine, status, exec))
}
