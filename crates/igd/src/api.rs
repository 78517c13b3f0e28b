//! Godot's API, written once for both drivers: each method builds the machine of its
//! operation ([`crate::machine`], [`crate::ops`]) and runs it with the driver's executor.
//! [`crate::blocking`] expands [`godot_api!`] with plain calls, `tokio` with `async` ones and
//! `.await`; that is their only difference. No I/O here.

/// Godot's `UPNP` and `UPNPDevice` methods, the PCP/NAT-PMP client and `keep_pmp`, for a
/// driver module that has `Upnp`, `UpnpDevice`, `Found`, `Executor`, `run(exec, machine)`
/// and `keeper(machine, exec) -> Result<KeeperHandle, Error>`. Called as
/// `godot_api!({} {})` (blocking) or `godot_api!({async} {.await})`.
macro_rules! godot_api {
    ({$($async:tt)*} {$($await:tt)*}) => {
        impl Upnp {
            fn executor(&self) -> Executor {
                Executor::new(self.client.clone())
            }

            /// Godot's `discover`: clear the list, search for `options.timeout` ms and probe
            /// each answering device (while the search goes on, several at once). The number of
            /// devices found, or [`Error::NoDevices`]. Ends by `options.timeout` +
            /// [`Limits::probe`](crate::Limits::probe).
            pub $($async)* fn discover(&mut self, options: &DiscoverOptions) -> Result<usize, Error> {
                self.clear_devices();
                let discovery = self.discovery(Goal::Every, options, Instant::now())?;
                let found = run(&mut self.executor(), discovery)$($await)*?;
                self.set_devices(found);
                Ok(self.get_device_count())
            }

            /// Find one gateway quickly: probe each device as soon as it answers and stop at
            /// the first valid gateway with a public address; else, once the search and the
            /// probes are over, the best one found: a valid one, else one that is
            /// [usable](Device::is_usable) though its connection says it is not connected or
            /// its status is unknown (check [`Device::is_valid_gateway`] to tell). Unlike
            /// `discover`, it does not wait out the timeout when a good gateway answers
            /// early. The devices probed become the device list.
            pub $($async)* fn find_gateway(
                &mut self,
                options: &DiscoverOptions,
            ) -> Result<&UpnpDevice, Error> {
                self.clear_devices();
                let discovery = self.discovery(Goal::FirstPublic, options, Instant::now())?;
                let found = run(&mut self.executor(), discovery)$($await)*?;
                self.set_devices(found);
                self.usable_gateway()
            }

            /// A device from a description URL the user gave (no discovery), probed within
            /// [`Limits::probe`](crate::Limits::probe).
            pub $($async)* fn device_at(&self, description_url: &str) -> UpnpDevice {
                let probe = self.probe_at(description_url, Instant::now());
                let device = run(&mut self.executor(), probe)$($await)*;
                self.device(crate::facade::probed(description_url, device))
            }

            /// Rebuild a gateway found before (`saved`: the [`Device`] of a probe, e.g.
            /// written and read back with feature `serde`) with one exchange instead of a
            /// search (`Probe::revalidate` says what is checked), within
            /// [`Limits::revalidate`](crate::Limits::revalidate). When it answers, it becomes
            /// the device list, as `find_gateway` leaves it; else the list is left empty and
            /// the error says why: search then.
            pub $($async)* fn revalidate(&mut self, saved: Device) -> Result<&UpnpDevice, Error> {
                let url = saved.description_url.clone();
                let probe = self.revalidation(saved, Instant::now());
                let device = run(&mut self.executor(), probe)$($await)*;
                self.revalidated(crate::facade::probed(&url, device))
            }

            /// Godot's `query_external_address`, on the gateway.
            pub $($async)* fn query_external_address(&self) -> Result<IpAddr, Error> {
                self.get_gateway()?.query_external_address()$($await)*
            }

            /// Godot's `add_port_mapping`, on the gateway.
            pub $($async)* fn add_port_mapping(
                &self,
                request: &MappingRequest,
            ) -> Result<Granted, Error> {
                self.get_gateway()?.add_port_mapping(request)$($await)*
            }

            /// Godot's `delete_port_mapping`, on the gateway.
            pub $($async)* fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
                self.get_gateway()?.delete_port_mapping(port, proto)$($await)*
            }

            /// Keep ports open until stopped (see [`crate::keeper`]): it starts from the
            /// gateway of `get_gateway` when there is one, and finds one as `find` and
            /// [`Keep::via`] say otherwise (and whenever the gateway stops answering; with
            /// [`Via::Auto`] through any way, changing way when needed). Refuses a `keep` that
            /// [`Keep::validate`] refuses, before anything is sent.
            pub fn keep(&self, keep: Keep, find: Find) -> Result<KeeperHandle, Error> {
                keeper(self.keeper(keep, find)?, self.executor())
            }

            /// Whether a mapping whose external side is `external` makes us reachable, as the
            /// STUN server at `server` sees it ([`crate::reach`]): a Binding request sent
            /// from `bind` (our address and the mapped internal port, which must be free:
            /// [`Error::StunSocket`] otherwise), then, where the server has another address,
            /// one it answers from there. Nothing is sent to anyone else. Ends within
            /// `within` (e.g. [`crate::ops::DEFAULT_REACH_TIME`]).
            pub $($async)* fn check_reachability(
                &self,
                bind: std::net::SocketAddr,
                server: std::net::SocketAddr,
                external: std::net::SocketAddr,
                within: std::time::Duration,
            ) -> Result<crate::ops::ReachReport, Error> {
                let now = Instant::now();
                let deadline = crate::limits::later(now, within);
                // Two random transaction IDs (the OS's random source, as PCP's nonces).
                let transactions = [pcp_natpmp::Nonce::random()?.0, pcp_natpmp::Nonce::random()?.0];
                let machine =
                    crate::ops::ReachRun::new(bind, server, external, transactions, now, deadline);
                run(&mut self.executor(), machine)$($await)*
            }

            /// Find a gateway the way `via` says: with [`Via::Auto`], a UPnP search and a PCP
            /// / NAT-PMP probe of `gateway` (the default gateway when `None`) at once,
            /// preferring UPnP, then PCP, then NAT-PMP ([`crate::pmp`] says why). Godot's
            /// methods keep UPnP only.
            pub $($async)* fn find_way(
                &mut self,
                options: &DiscoverOptions,
                via: Via,
                gateway: Option<IpAddr>,
            ) -> Result<Found, Error> {
                self.clear_devices();
                let machine = self.find_way_op(options, via, gateway, Instant::now())?;
                let mut exec = self.executor();
                let way = run(&mut exec, machine)$($await)*?;
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

        impl UpnpDevice {
            fn executor(&self) -> Executor {
                Executor::new(self.client.clone())
            }

            /// Godot's `query_external_address`, within [`Limits::call`](crate::Limits::call).
            pub $($async)* fn query_external_address(&self) -> Result<IpAddr, Error> {
                run(&mut self.executor(), self.external_address_op(Instant::now())?)$($await)*
            }

            /// Godot's `add_port_mapping`: validate, look at the port (another client's
            /// mapping is never replaced), add with fallbacks, read back what was granted.
            pub $($async)* fn add_port_mapping(&self, request: &MappingRequest) -> Result<Granted, Error> {
                run(&mut self.executor(), self.add_op(request, Instant::now())?)$($await)*
            }

            /// Godot's `delete_port_mapping` (only a mapping to us).
            pub $($async)* fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
                let delete = self.delete_op(port, proto, Instant::now())?;
                run(&mut self.executor(), delete)$($await)*
            }

            /// `add_port_mapping`, then, when `upstream` says where to look (by default
            /// when this gateway's external address is private: behind an ISP box), the same
            /// external port on the router in front, forwarded to this gateway's external
            /// address ([`crate::upstream`], [`crate::ops::AddThroughRun`]). An error only
            /// when this gateway refuses; what happened in front is
            /// [`Through::upstream`](crate::upstream::Through::upstream), and
            /// [`Through::reachable_at`](crate::upstream::Through::reachable_at) is the
            /// address to give peers.
            pub $($async)* fn add_port_mapping_through(
                &self,
                request: &MappingRequest,
                upstream: crate::upstream::Upstream,
            ) -> Result<crate::upstream::Through, Error> {
                let add = self.add_through_op(request, upstream, Instant::now())?;
                run(&mut self.executor(), add)$($await)*
            }

            /// The router in front of this gateway, as `upstream` says where to look (see
            /// `add_port_mapping_through`): [`Beyond::Done`](crate::upstream::Beyond::Done)
            /// with it, and, when it is an IGD, as a device of its own (whose mappings point
            /// at this gateway's external address); or why there is none.
            pub $($async)* fn router_in_front(
                &self,
                upstream: crate::upstream::Upstream,
            ) -> crate::upstream::Beyond<Option<UpnpDevice>> {
                let find = self.find_upstream_op(upstream, Instant::now());
                let found = run(&mut self.executor(), find)$($await)*;
                crate::upstream::Beyond::found(found, |router| self.with_device(router))
            }

            /// Remove what `add_port_mapping_through` made: in front first (only a mapping
            /// to this gateway's external address), then here (only a mapping to us).
            pub $($async)* fn delete_port_mapping_through(
                &self,
                port: i64,
                proto: &str,
                upstream: crate::upstream::Upstream,
            ) -> Result<crate::upstream::Removed, Error> {
                let delete = self.delete_through_op(port, proto, upstream, Instant::now())?;
                run(&mut self.executor(), delete)$($await)*
            }

            /// Every mapping on the gateway (see `ListSequence`), at most
            /// [`Limits::list_entries`](crate::Limits::list_entries), within
            /// [`Limits::list`](crate::Limits::list).
            pub $($async)* fn list_port_mappings(&self) -> Result<Vec<PortMapping>, Error> {
                run(&mut self.executor(), self.list_op(Instant::now())?)$($await)*
            }

            /// The gateway's IPv6 firewall: whether it is on, and whether pinholes may be
            /// opened.
            pub $($async)* fn firewall_status(&self) -> Result<FirewallStatus, Error> {
                let status = self.pinhole_op(GetFirewallStatus, Instant::now())?;
                run(&mut self.executor(), status)$($await)*
            }

            /// Open an IPv6 pinhole (to our own global address unless the request names one):
            /// checked before anything is sent (the client global unicast, the port not 0, the
            /// lease in range), within
            /// [`Limits::call`](crate::Limits::call).
            pub $($async)* fn open_pinhole(&self, request: &PinholeRequest) -> Result<Pinhole, Error> {
                run(&mut self.executor(), self.open_pinhole_op(request, Instant::now()))$($await)*
            }

            /// Give a pinhole its lease again (from now).
            pub $($async)* fn renew_pinhole(&self, pinhole: &Pinhole) -> Result<(), Error> {
                let update = UpdatePinhole {
                    unique_id: pinhole.unique_id,
                    lease_time: crate::pinhole::lease_time(pinhole.lease)?,
                };
                run(&mut self.executor(), self.pinhole_op(update, Instant::now())?)$($await)*
            }

            /// Close a pinhole.
            pub $($async)* fn close_pinhole(&self, unique_id: u16) -> Result<(), Error> {
                let close = self.pinhole_op(DeletePinhole { unique_id }, Instant::now())?;
                run(&mut self.executor(), close)$($await)*
            }

            /// How many packets a pinhole has let in.
            pub $($async)* fn pinhole_packets(&self, unique_id: u16) -> Result<u32, Error> {
                let count = self.pinhole_op(GetPinholePackets { unique_id }, Instant::now())?;
                run(&mut self.executor(), count)$($await)*
            }

            /// Whether traffic has come through a pinhole.
            pub $($async)* fn pinhole_working(&self, unique_id: u16) -> Result<bool, Error> {
                let check = self.pinhole_op(CheckPinholeWorking { unique_id }, Instant::now())?;
                crate::pinhole::working(run(&mut self.executor(), check)$($await)*)
            }
        }

        /// A client of a gateway's PCP or NAT-PMP service (UDP 5351): map, unmap, and its
        /// external address, each within [`Limits::call`](crate::Limits::call).
        #[derive(Debug)]
        pub struct PmpClient {
            exec: Executor,
            session: Session,
            gateway: SocketAddr,
            limits: crate::Limits,
        }

        impl PmpClient {
            /// A client of the gateway `target` names speaking `way`, not probed. An IPv6
            /// gateway opens pinholes to our global address ([`Target`] says how).
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
            pub $($async)* fn probe(
                target: Target,
                way: Way,
                limits: &crate::Limits,
            ) -> Result<PmpClient, Error> {
                let mut client = PmpClient::new(target, way, limits)?;
                let method = client.run(client.session.probe())$($await)*?;
                client.session.probed(method);
                Ok(client)
            }

            /// The way it speaks (after a probe: the one the gateway answered).
            pub fn method(&self) -> Method {
                self.session.method()
            }

            /// The gateway's address and port.
            pub fn gateway(&self) -> SocketAddr {
                self.gateway
            }

            /// Our address and port, where its requests leave from.
            pub fn local(&self) -> SocketAddr {
                self.session.local()
            }

            /// The nonce `upnp add` and `upnp delete` agree on for `protocol`
            /// `port` (internal) from our address (PCP: the same nonce finds the same mapping
            /// again from another process).
            pub fn derived_nonce(&self, protocol: crate::keeper::Protocol, port: u16) -> pcp_natpmp::Nonce {
                self.session.derived_nonce(protocol, port)
            }

            /// Map (PCP, or NAT-PMP and then the external address).
            pub $($async)* fn add(&mut self, mapping: PmpMapping) -> Result<PmpGranted, Error> {
                self.run(self.session.add(mapping))$($await)*
            }

            /// Unmap (PCP with the mapping's nonce, or NAT-PMP).
            pub $($async)* fn delete(&mut self, mapping: PmpMapping) -> Result<Method, Error> {
                self.run(self.session.delete(mapping))$($await)*
            }

            /// The gateway's external address.
            pub $($async)* fn external_ip(&mut self) -> Result<PmpAddress, Error> {
                let nonce = pcp_natpmp::Nonce::random()?;
                self.run(self.session.external(nonce))$($await)*
            }

            /// Keep ports open through this gateway until stopped (see [`crate::keeper`]), the way this client speaks. The gateway's
            /// announcements are listened for where the platform lets us bind UDP 5350.
            pub fn keep(self, keep: Keep) -> Result<KeeperHandle, Error> {
                let seed = pcp_natpmp::Nonce::random()?;
                let (session, gateway, limits) = (self.session, self.gateway, &self.limits);
                let machine = KeepMachine::of_pmp_client(keep, session, gateway, limits, seed)?;
                keeper(machine, self.exec)
            }

            /// Run `sequence` to its end, every exchange by one deadline.
            $($async)* fn run<S: PmpSequence>(&mut self, sequence: S) -> Result<S::Output, Error> {
                let machine = PmpRun::new(sequence, self.limits.call, Instant::now());
                run(&mut self.exec, machine)$($await)*
            }
        }

        /// Keep ports open through PCP or NAT-PMP (`way`) at the gateway `target` names (a
        /// default gateway is looked up again whenever the gateway is lost; an IPv6 one holds
        /// pinholes to our global address, see [`Target`]), until stopped; see
        /// `PmpClient::keep`. Unlike it, nothing is asked before the keeper starts: a gateway
        /// that does not answer is reported as [`Event::Failed`](crate::keeper::Event::Failed)
        /// and tried again.
        pub fn keep_pmp(
            keep: Keep,
            way: Way,
            target: Target,
            limits: &crate::Limits,
        ) -> Result<KeeperHandle, Error> {
            let seed = pcp_natpmp::Nonce::random()?;
            let machine = KeepMachine::new_pmp(keep, way, target, limits, seed)?;
            keeper(machine, Executor::new(Client::new(&upnp_soap::http::Config::default())))
        }
    };
}

pub(crate) use godot_api;
