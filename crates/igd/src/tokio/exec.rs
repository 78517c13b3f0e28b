//! The tokio executor: performs the I/O of [`crate::machine`] with the workspace's tokio
//! clients, and the one loop that drives every machine.
//!
//! A lone I/O is awaited inline; several at once (a discovery's probes beside its search)
//! are tasks of a `JoinSet`, aborted when the loop ends. Every completion, answer,
//! announcement and stop request arrives through one inbox.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc};
use tokio::task::{AbortHandle, JoinSet};
use upnp_soap::tokio::Client;
use upnp_ssdp::net::tokio::Searcher;

use crate::error::Error;
use crate::keeper::pmp::no_client;
use crate::machine::{Completed, INBOX, Input, Io, Machine, Output, Token};
use crate::pmp::{Target, Way};
use crate::route;

/// How long the listener waits for an announcement at a time.
const LISTEN_SLICE: Duration = Duration::from_millis(250);

/// Where a loop's inputs arrive: its own I/O's completions and a caller's stop request.
pub(crate) struct Inbox {
    pub(crate) sender: mpsc::Sender<Input>,
    receiver: mpsc::Receiver<Input>,
}

impl Inbox {
    pub(crate) fn new() -> Inbox {
        let (sender, receiver) = mpsc::channel(INBOX);
        Inbox { sender, receiver }
    }
}

/// What a task needs to perform an exchange: the HTTP client and the PCP/NAT-PMP client.
#[derive(Clone, Debug)]
struct Work {
    http: Client,
    pmp: Option<Arc<Mutex<pcp_natpmp::net::tokio::Client>>>,
}

impl Work {
    async fn perform(&self, io: Io) -> Completed {
        match io {
            Io::Fetch { url, deadline } => {
                Completed::Fetched(self.http.until(deadline).get_description(&url).await)
            }
            Io::Call {
                url,
                request,
                deadline,
            } => Completed::Called(self.http.until(deadline).call(&url, &request).await),
            // A name to resolve, a probe to wait for: off the runtime's threads.
            Io::Route(to) => tokio::task::spawn_blocking(move || route::completed(&to))
                .await
                .unwrap_or(Completed::Routed(None)),
            Io::Exchange { request, deadline } => {
                Completed::Exchanged(self.exchange(request, deadline).await)
            }
            Io::Stun {
                bind,
                server,
                request,
                from_any,
                deadline,
            } => Completed::Stunned(stun(bind, server, &request, from_any, deadline).await),
            // The loop's own (a search, a client, a listener): never handed over.
            _ => Completed::Opened(Err(Error::Misuse("not an exchange"))),
        }
    }

    async fn exchange(
        &self,
        request: pcp_natpmp::Request,
        deadline: Instant,
    ) -> Result<pcp_natpmp::Response, pcp_natpmp::Error> {
        let client = self.pmp.as_ref().ok_or_else(no_client)?;
        let mut client = client.lock().await;
        let gateway = client.gateway();
        let mut exchange = pcp_natpmp::Exchange::new(request, gateway, Instant::now(), deadline)?;
        client.run(&mut exchange).await
    }
}

/// Performs machines' I/O on tokio sockets; keeps the PCP/NAT-PMP client opened last.
#[derive(Debug)]
pub(crate) struct Executor {
    work: Work,
}

impl Executor {
    pub(crate) fn new(http: Client) -> Executor {
        Executor {
            work: Work { http, pmp: None },
        }
    }

    /// Open a PCP/NAT-PMP client (in place of the one before): our address and the gateway's.
    pub(crate) fn open_pmp(
        &mut self,
        target: Target,
        way: Way,
    ) -> Result<(SocketAddr, SocketAddr), Error> {
        let (local, gateway) = route::pmp_endpoints(target, way)?;
        let client = pcp_natpmp::net::tokio::Client::connect_from(local, gateway)?;
        let opened = (client.local_addr(), client.gateway());
        self.work.pmp = Some(Arc::new(Mutex::new(client)));
        Ok(opened)
    }

    /// Drive `machine` to its end; its events go to `deliver`.
    pub(crate) async fn run<M: Machine>(
        &mut self,
        machine: &mut M,
        mut inbox: Inbox,
        mut deliver: impl FnMut(M::Event),
    ) -> Result<M::Value, Error> {
        let mut tasks = JoinSet::new();
        let mut listening: Option<AbortHandle> = None;
        let mut notified: Option<AbortHandle> = None;
        let mut starts: Vec<(Token, Io)> = Vec::new();
        loop {
            let until = match machine.poll(Instant::now()) {
                Output::Start(token, io) => {
                    starts.push((token, io));
                    continue;
                }
                Output::Event(event) => {
                    deliver(event);
                    continue;
                }
                Output::Done(value) => return value,
                Output::Wait(until) => until,
            };
            while tasks.try_join_next().is_some() {}
            let listeners = usize::from(listening.is_some()) + usize::from(notified.is_some());
            let busy = tasks.len().saturating_sub(listeners);
            let lone = starts.len() == 1 && busy == 0;
            let mut answered = false;
            for (token, io) in starts.drain(..) {
                let sender = inbox.sender.clone();
                let done = match io {
                    Io::OpenPmp { target, way } => Completed::Opened(self.open_pmp(target, way)),
                    Io::Search(options) => match Searcher::start(&options).await {
                        Ok(searcher) => {
                            tasks.spawn(search(token, searcher, sender));
                            continue;
                        }
                        Err(e) => Completed::Searched(Err(e)),
                    },
                    Io::Listen(gateway) => {
                        if let Some(before) = listening.take() {
                            before.abort();
                        }
                        match pcp_natpmp::net::tokio::Listener::bind(gateway) {
                            Ok(listener) => {
                                listening = Some(tasks.spawn(listen(token, listener, sender)));
                                continue;
                            }
                            Err(e) => Completed::Deaf(e.into()),
                        }
                    }
                    Io::Notifications { gateway, interface } => {
                        if let Some(before) = notified.take() {
                            before.abort();
                        }
                        match upnp_ssdp::net::tokio::Listener::open(interface) {
                            Ok(listener) => {
                                let listener = listener.only_from(gateway);
                                notified = Some(tasks.spawn(hear(token, listener, sender)));
                                continue;
                            }
                            Err(e) => Completed::Deaf(e.into()),
                        }
                    }
                    Io::Route(to) if route::is_immediate(&to) => route::completed(&to),
                    io if lone => self.work.perform(io).await,
                    io => {
                        let work = self.work.clone();
                        tasks.spawn(async move {
                            let done = work.perform(io).await;
                            let _ = sender.send(Input::Completed(token, done)).await;
                        });
                        continue;
                    }
                };
                machine.handle(Input::Completed(token, done), Instant::now());
                answered = true;
            }
            if answered {
                continue;
            }
            tokio::select! {
                Some(input) = inbox.receiver.recv() => machine.handle(input, Instant::now()),
                () = tokio::time::sleep_until(until.into()) => {}
            }
        }
    }
}

/// One STUN transaction ([`Io::Stun`]) on a tokio socket.
async fn stun(
    bind: std::net::SocketAddr,
    server: std::net::SocketAddr,
    request: &[u8],
    from_any: bool,
    deadline: Instant,
) -> std::io::Result<(std::net::SocketAddr, Vec<u8>)> {
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    let mut buf = vec![0; crate::reach::MAX_ANSWER + 1];
    let mut sent = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        socket.send_to(request, server).await?;
        sent += 1;
        let resend = (now + crate::reach::resend_after(sent)).min(deadline);
        loop {
            let received = tokio::time::timeout_at(resend.into(), socket.recv_from(&mut buf)).await;
            match received {
                // Time to send again (or to give up).
                Err(_) => break,
                Ok(Ok((len, from))) if from_any || from.ip() == server.ip() => {
                    return Ok((from, buf.get(..len).unwrap_or_default().to_vec()));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                Ok(Err(e)) => return Err(e),
            }
        }
    }
}

/// The search: each answer to `inbox`, then its end.
async fn search(token: Token, mut searcher: Searcher, inbox: mpsc::Sender<Input>) {
    loop {
        let input = match searcher.next().await {
            None => Input::Completed(token, Completed::Searched(Ok(()))),
            Some(Ok(answer)) => Input::Answer(token, answer),
            Some(Err(e)) => Input::Completed(token, Completed::Searched(Err(e))),
        };
        let last = matches!(input, Input::Completed(..));
        if inbox.send(input).await.is_err() || last {
            return;
        }
    }
}

/// The datagrams `gateway` sends to the SSDP group, to `inbox` (dropped when it is full)
/// until aborted.
async fn hear(
    token: Token,
    mut listener: upnp_ssdp::net::tokio::Listener,
    inbox: mpsc::Sender<Input>,
) {
    loop {
        let heard = match listener.recv().await {
            Ok((from, datagram)) => Input::notified(from, datagram),
            Err(e) => {
                let _ = inbox.try_send(Input::Completed(token, Completed::Deaf(e.into())));
                return;
            }
        };
        if let Err(mpsc::error::TrySendError::Closed(_)) = inbox.try_send(heard) {
            return;
        }
    }
}

/// The gateway's announcements to `inbox` (dropped when it is full) until aborted.
async fn listen(
    token: Token,
    mut listener: pcp_natpmp::net::tokio::Listener,
    inbox: mpsc::Sender<Input>,
) {
    loop {
        match listener.next_within(LISTEN_SLICE).await {
            Ok(Some(heard)) => {
                if let Err(mpsc::error::TrySendError::Closed(_)) =
                    inbox.try_send(Input::Heard(heard))
                {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                let _ = inbox.try_send(Input::Completed(token, Completed::Deaf(e.into())));
                return;
            }
        }
    }
}
