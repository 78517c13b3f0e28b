//! `cargo xtask bench`: run on the lab's LAN host, it times, side by side in one run:
//!
//! 1. whole processes, alternating: time to a usable gateway, cold (`upnp --no-cache
//!    external-ip`), warm (`upnp external-ip`, the gateway found last), igd-next 0.18 (the
//!    peer program `bench/peer-igd-next`, named in IGD_BENCH_PEER), `upnpc -s` (miniupnpc)
//!    and a bare Python script doing the same exchanges (M-SEARCH, first answer, GET the
//!    description, POST GetExternalIPAddress); add + delete, a process each; peak memory;
//!    success counts under 30% packet loss (an nftables `numgen random` rule on the router);
//! 2. per action, in process: our `upnp_soap` client against the bare exchange (the same
//!    request bytes written to a TCP socket and the answer read to the end), for
//!    GetExternalIPAddress, AddPortMapping and DeletePortMapping; and the facade's
//!    `add_port_mapping` / `delete_port_mapping`, which make more than one exchange on purpose;
//! 3. the keeper (`upnp keep`): how long after a router restart the mapping is back, heard
//!    (the router's SSDP notifications) and polled (its notifications dropped by an nftables
//!    rule: the next check finds it); and the router's exchanges in a steady hour for one
//!    port, polled and heard, run at 1/20 scale (every interval and the lease divided by 20,
//!    three minutes for an hour; the router's own notifications unscaled).
//!
//! It prints a Markdown table (median and 90th percentile). With `IGD_BENCH_ONLY=keeper`,
//! only the keeper's rows.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab_tests::Lab;
use upnp_soap::actions::{
    Action, AddPortMapping, DeletePortMapping, GetExternalIpAddress, PortMapping, Protocol,
};
use upnp_soap::blocking::Client;
use upnp_soap::http::Config;
use url::Url;

const BARE_SCRIPT: &str = r#"
import re, socket, sys, urllib.request
st = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
s.settimeout(2)
s.sendto(("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: %s\r\n\r\n" % st).encode(), ("239.255.255.250", 1900))
data = s.recv(8192).decode()
location = re.search(r"(?im)^location:\s*(\S+)", data).group(1)
desc = urllib.request.urlopen(location).read().decode()
svc = re.search(r"<serviceType>(urn:schemas-upnp-org:service:WANIPConnection:\d)</serviceType>\s*<serviceId>[^<]*</serviceId>\s*<SCPDURL>[^<]*</SCPDURL>\s*<controlURL>([^<]+)</controlURL>", desc)
base = re.match(r"(http://[^/]+)", location).group(1)
body = '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:GetExternalIPAddress xmlns:u="%s"></u:GetExternalIPAddress></s:Body></s:Envelope>' % svc.group(1)
req = urllib.request.Request(base + svc.group(2), data=body.encode(), headers={"Content-Type": 'text/xml; charset="utf-8"', "SOAPAction": '"%s#GetExternalIPAddress"' % svc.group(1)})
answer = urllib.request.urlopen(req).read().decode()
print(re.search(r"<NewExternalIPAddress>([^<]*)<", answer).group(1))
"#;

fn main() {
    let lab = Lab::get();
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let upnp_bin = std::env::var("IGD_LAB_UPNP_BIN")
        .unwrap_or_else(|_| format!("{}/../target/release/upnp", env!("CARGO_MANIFEST_DIR")));

    println!("| measurement | runs | median | p90 |");
    println!("| --- | ---: | ---: | ---: |");
    if std::env::var("IGD_BENCH_ONLY").is_ok_and(|only| only == "keeper") {
        return keeper_rows(&lab, &upnp_bin);
    }

    // 1. Whole processes, side by side: ours, a peer program on igd-next, miniupnpc's
    //    `upnpc`, a bare script; alternating, one run of each in turn, so that drift in the
    //    router or the machine weighs on all alike.
    let wan = lab.wan_addr.to_string();
    let script = std::env::temp_dir().join("igd-bench-bare.py");
    std::fs::write(&script, BARE_SCRIPT).unwrap();
    let script = script.display().to_string();
    let peer = std::env::var("IGD_BENCH_PEER").unwrap_or_default();
    let warm_home = std::env::temp_dir().join("igd-bench-warm-cache");
    let _ = std::fs::remove_dir_all(&warm_home);
    let cold_home = std::env::temp_dir().join("igd-bench-cold-cache");
    let host = lab.host_addr.to_string();
    let job = |program: &str, args: &[&str], home: &std::path::Path, wanted: &str| {
        let out = Command::new(program)
            .args(args)
            .env("XDG_CACHE_HOME", home)
            .stderr(Stdio::null())
            .output();
        matches!(out, Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).contains(wanted))
    };
    let processes = (runs / 10).max(5);
    let to_gateway: Vec<(&str, Timed<'_>)> = vec![
        (
            "cold time to gateway: `upnp --no-cache external-ip` (ours)",
            Box::new(|| job(&upnp_bin, &["--no-cache", "external-ip"], &cold_home, &wan)),
        ),
        (
            "warm time to gateway: `upnp external-ip` (ours, the gateway found last)",
            Box::new(|| job(&upnp_bin, &["external-ip"], &warm_home, &wan)),
        ),
        (
            "time to gateway: igd-next 0.18 (`search_gateway`, `get_external_ip`)",
            Box::new(|| job(&peer, &["external-ip"], &cold_home, &wan)),
        ),
        (
            "time to gateway: `upnpc -s` (miniupnpc)",
            Box::new(|| job("upnpc", &["-m", &lab.lan_if, "-s"], &cold_home, &wan)),
        ),
        (
            "time to gateway: bare Python script",
            Box::new(|| job("python3", &[script.as_str()], &cold_home, &wan)),
        ),
    ];
    // Prime the warm cache.
    job(&upnp_bin, &["external-ip"], &warm_home, &wan);
    alternate(processes, &to_gateway);

    let add_delete: Vec<(&str, Timed<'_>)> = vec![
        (
            "add + delete, a process each, cold: `upnp --no-cache add|delete` (ours)",
            Box::new(|| {
                job(
                    &upnp_bin,
                    &["--no-cache", "add", "7611"],
                    &cold_home,
                    "added",
                ) && job(
                    &upnp_bin,
                    &["--no-cache", "delete", "7611"],
                    &cold_home,
                    "deleted",
                )
            }),
        ),
        (
            "add + delete, a process each, warm: `upnp add|delete` (ours)",
            Box::new(|| {
                job(&upnp_bin, &["add", "7612"], &warm_home, "added")
                    && job(&upnp_bin, &["delete", "7612"], &warm_home, "deleted")
            }),
        ),
        (
            "add + delete, a process each: igd-next 0.18",
            Box::new(|| {
                job(&peer, &["add", "7613"], &cold_home, "added")
                    && job(&peer, &["delete", "7613"], &cold_home, "deleted")
            }),
        ),
        (
            "add + delete, a process each: `upnpc -a|-d` (miniupnpc)",
            Box::new(|| {
                job(
                    "upnpc",
                    &["-m", &lab.lan_if, "-a", &host, "7614", "7614", "UDP"],
                    &cold_home,
                    "is redirected",
                ) && job(
                    "upnpc",
                    &["-m", &lab.lan_if, "-d", "7614", "UDP"],
                    &cold_home,
                    "UPNP_DeletePortMapping() returned : 0",
                )
            }),
        ),
    ];
    alternate(processes, &add_delete);

    // Peak memory (maximum resident set size, GNU time's %M) of a whole run, ours against
    // the others: the same job, median of 5.
    let rss_jobs: [(&str, &str, Vec<&str>); 3] = [
        (
            "peak RSS: `upnp --no-cache external-ip` (ours)",
            upnp_bin.as_str(),
            vec!["--no-cache", "external-ip"],
        ),
        (
            "peak RSS: igd-next 0.18",
            peer.as_str(),
            vec!["external-ip"],
        ),
        (
            "peak RSS: `upnpc -s` (miniupnpc)",
            "upnpc",
            vec!["-m", &lab.lan_if, "-s"],
        ),
    ];
    for (label, program, args) in &rss_jobs {
        let rss = |_: usize| {
            let out = Command::new("/usr/bin/time")
                .args(["-f", "%M"])
                .arg(program)
                .args(args)
                .stdout(Stdio::null())
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stderr);
            text.lines().last()?.trim().parse::<u64>().ok()
        };
        let mut kib: Vec<u64> = (0..5).filter_map(rss).collect();
        kib.sort();
        match kib.get(kib.len() / 2) {
            Some(median) => println!(
                "| {label} | {} | {:.1} MiB | |",
                kib.len(),
                *median as f64 / 1024.0
            ),
            None => println!("| {label} | 0 | not available | |"),
        }
    }

    // Under 30% loss: the router drops 30% of what it receives and sends on its LAN side
    // (an nftables `numgen random` rule: the lab's kernel has no netem). Success counts of
    // the cold job, each client with a 2 s search, alternating.
    {
        let _loss = Loss::start(&lab, 30);
        let lossy: Vec<(&str, Timed<'_>)> = vec![
            (
                "30% loss, time to gateway: ours (`--no-cache`, 2 s search)",
                Box::new(|| job(&upnp_bin, &["--no-cache", "external-ip"], &cold_home, &wan)),
            ),
            (
                "30% loss, time to gateway: igd-next 0.18 (2 s search)",
                Box::new(|| job(&peer, &["external-ip"], &cold_home, &wan)),
            ),
            (
                "30% loss, time to gateway: `upnpc -s` (miniupnpc, 2 s search)",
                Box::new(|| job("upnpc", &["-m", &lab.lan_if, "-s"], &cold_home, &wan)),
            ),
        ];
        success_counts(processes * 2, &lossy);
    }

    // 2. Per action, in process.
    let client = Client::new(&Config::default());
    let control = Url::parse(&format!(
        "http://{}:{}/ctl/IPConn",
        lab.router_addr, lab.http_port
    ))
    .unwrap();
    let service = format!(
        "urn:schemas-upnp-org:service:WANIPConnection:{}",
        lab.igd_version
    );
    let mut mapping = PortMapping::new(Protocol::Udp, 7601, lab.host_addr.to_string(), 7601);
    mapping.description = "bench".into();
    let delete = DeletePortMapping {
        remote_host: String::new(),
        external_port: 7601,
        protocol: Protocol::Udp,
    };
    let add = AddPortMapping(mapping);
    let actions: [(&str, Timed<'_>, Vec<u8>); 3] = [
        (
            "GetExternalIPAddress",
            Box::new(|| {
                client
                    .perform(&control, &service, &GetExternalIpAddress)
                    .is_ok()
            }),
            bare_request(&control, &GetExternalIpAddress.request(&service)),
        ),
        (
            "AddPortMapping",
            Box::new(|| client.perform(&control, &service, &add).is_ok()),
            bare_request(&control, &add.request(&service)),
        ),
        (
            "DeletePortMapping",
            Box::new(|| client.perform(&control, &service, &delete).is_ok()),
            bare_request(&control, &delete.request(&service)),
        ),
    ];
    let addr = (lab.router_addr, lab.http_port);
    for (name, ours, bare) in &actions {
        // Interleaved, alternating which goes first, so that drift in the router or the
        // machine weighs on both alike.
        let setup = || {
            if *name == "DeletePortMapping" {
                let _ = client.perform(&control, &service, &add);
            }
        };
        let (ours_times, bare_times) = time_pair(runs, setup, ours, || exchange(addr, bare));
        row(&format!("{name}: upnp-soap client (ours)"), &ours_times);
        row(&format!("{name}: bare exchange"), &bare_times);
    }

    // The facade: add_port_mapping makes three exchanges (look, add, read back) and
    // delete_port_mapping two (look, delete), on purpose.
    let upnp = upnp_igd::blocking::Upnp::new();
    let gateway = upnp.device_at(&lab.description_url());
    let request = upnp_igd::MappingRequest::new(7602);
    row(
        "igd add_port_mapping (3 exchanges)",
        &time_n(runs, || gateway.add_port_mapping(&request).is_ok()),
    );
    row(
        "igd delete_port_mapping (2 exchanges)",
        &time_with_setup(runs, &|| gateway.add_port_mapping(&request).is_ok(), || {
            gateway.delete_port_mapping(7602, "UDP").is_ok()
        }),
    );
    let _ = gateway.delete_port_mapping(7602, "UDP");
    let _ = client.perform(&control, &service, &delete);

    // 3. The keeper.
    keeper_rows(&lab, &upnp_bin);
}

/// A `upnp --json keep` process and the kinds of the events it prints, as they come.
struct Keeping {
    child: std::process::Child,
    events: std::sync::mpsc::Receiver<String>,
}

impl Keeping {
    fn start(upnp_bin: &str, args: &[&str]) -> Keeping {
        let mut child = Command::new(upnp_bin)
            .args(["--json", "--no-cache", "keep"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("upnp keep");
        let stdout = child.stdout.take().expect("its stdout");
        let (tx, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let kind = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v["event"]["kind"].as_str().map(str::to_owned));
                if tx.send(kind.unwrap_or_default()).is_err() {
                    return;
                }
            }
        });
        Keeping { child, events }
    }

    /// Wait for an event of `kind`, at most `limit`: when it came.
    fn until(&self, kind: &str, limit: Duration) -> Option<Instant> {
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.events.recv_timeout(left) {
                Ok(k) if k == kind => return Some(Instant::now()),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

impl Drop for Keeping {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The keeper's rows: heal time after a router restart, heard and polled; the router's
/// exchanges in a steady hour for one port, polled and heard.
fn keeper_rows(lab: &Lab, upnp_bin: &str) {
    // Heal time, with the defaults (check 60 s): `runs` restarts, each timed from the router
    // listening again to the `remapped` event.
    let heal = |label: &str, runs: usize, blocked: bool| {
        let _blocked = blocked.then(|| lab.notifications_blocked());
        let keeping = Keeping::start(upnp_bin, &["7620"]);
        if keeping.until("mapped", Duration::from_secs(10)).is_none() {
            println!("| {label} | 0 | not available | |");
            return;
        }
        let mut times = Vec::new();
        for _ in 0..runs {
            std::thread::sleep(Duration::from_millis(500));
            lab.restart_router();
            let answering = Instant::now();
            if let Some(at) = keeping.until("remapped", Duration::from_secs(90)) {
                times.push(at - answering);
            }
        }
        times.sort();
        match times.is_empty() {
            true => println!("| {label} | 0 | not available | |"),
            false => row(label, &times),
        }
    };
    heal(
        "keeper: mapping back after a router restart, heard (`upnp keep`, defaults)",
        10,
        false,
    );
    heal(
        "keeper: the same, the router's notifications dropped (polled: 60 s check)",
        3,
        true,
    );
    // A steady hour at 1/20 scale (lease 3600 s, check 60 s, quiet check 300 s, all / 20):
    // the router's connections counted (one per exchange) from the first mapping on.
    let hour = |label: &str, quiet: &str| {
        let keeping = Keeping::start(
            upnp_bin,
            &[
                "7621",
                "--lease",
                "180",
                "--check",
                "3",
                "--quiet-check",
                quiet,
            ],
        );
        if keeping.until("mapped", Duration::from_secs(10)).is_none() {
            println!("| {label} | 0 | not available | |");
            return;
        }
        let connections = lab.count_connections();
        std::thread::sleep(Duration::from_secs(180));
        let made = connections.dropped();
        drop(keeping);
        println!("| {label} | 1 | {made} exchanges | |");
    };
    hour(
        "keeper: router exchanges in a steady hour, one port, polled every minute (1/20 scale)",
        "3",
    );
    hour(
        "keeper: the same, heard (defaults: checked every 5 min while heard; 1/20 scale)",
        "15",
    );
}

/// A call to time: whether it succeeded.
type Timed<'a> = Box<dyn Fn() -> bool + 'a>;

/// Run each job `runs` times, one of each in turn, and print a row per job (a job that
/// never succeeds is "not available").
fn alternate(runs: usize, jobs: &[(&str, Timed<'_>)]) {
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); jobs.len()];
    let mut failed = vec![0usize; jobs.len()];
    for _ in 0..runs {
        for (i, (_, job)) in jobs.iter().enumerate() {
            let start = Instant::now();
            if job() {
                times[i].push(start.elapsed());
            } else {
                failed[i] += 1;
            }
        }
    }
    for (i, (name, _)) in jobs.iter().enumerate() {
        times[i].sort();
        if times[i].is_empty() {
            println!("| {name} | 0 | not available | |");
        } else {
            if failed[i] > 0 {
                eprintln!("{name}: {} runs failed", failed[i]);
            }
            row(name, &times[i]);
        }
    }
}

/// Run each job `runs` times, in turn, and print how many succeeded and their median time.
fn success_counts(runs: usize, jobs: &[(&str, Timed<'_>)]) {
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); jobs.len()];
    for _ in 0..runs {
        for (i, (_, job)) in jobs.iter().enumerate() {
            let start = Instant::now();
            if job() {
                times[i].push(start.elapsed());
            }
        }
    }
    for (i, (name, _)) in jobs.iter().enumerate() {
        times[i].sort();
        let median = times[i]
            .get(times[i].len() / 2)
            .map_or("-".to_owned(), |d| show(*d));
        println!(
            "| {name} | {runs} | {}/{runs} succeeded | median {median} |",
            times[i].len()
        );
    }
}

/// Packet loss on the router's LAN side while it lives: an nftables table of its own, in
/// the router's namespace, dropping `percent`% of what comes in and goes out on the LAN.
struct Loss {
    ns: String,
}

impl Loss {
    fn start(lab: &Lab, percent: u32) -> Loss {
        let ns = lab.rtr_ns.clone();
        let lan = &lab.router_lan_if;
        let rules = format!(
            "table inet igdbench {{
  chain in {{ type filter hook input priority -300; iifname \"{lan}\" numgen random mod 100 < {percent} drop; }}
  chain out {{ type filter hook output priority -300; oifname \"{lan}\" numgen random mod 100 < {percent} drop; }}
}}"
        );
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &ns, "nft", "delete", "table", "inet", "igdbench",
            ])
            .stderr(Stdio::null())
            .status();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft");
        child
            .stdin
            .take()
            .expect("nft's stdin")
            .write_all(rules.as_bytes())
            .expect("write the loss rules");
        assert!(child.wait().expect("nft").success(), "the loss rules load");
        Loss { ns }
    }
}

impl Drop for Loss {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &self.ns, "nft", "delete", "table", "inet", "igdbench",
            ])
            .status();
    }
}

/// The HTTP request our client would send, as bytes.
fn bare_request(control: &Url, request: &upnp_soap::ActionRequest) -> Vec<u8> {
    let body = request.encode().unwrap();
    format!(
        "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n\
         SOAPAction: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        control.path(),
        control.host_str().unwrap(),
        control.port().unwrap(),
        request.soap_action().unwrap(),
        body.len()
    )
    .into_bytes()
}

/// Write the bytes, read the answer to the end; whether it was a 200.
fn exchange(addr: (std::net::Ipv4Addr, u16), request: &[u8]) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(request).is_err() {
        return false;
    }
    let mut answer = Vec::with_capacity(1024);
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200")
}

/// Time `a` and `b` `runs` times each, interleaved, each after an untimed `setup`.
fn time_pair(
    runs: usize,
    setup: impl Fn(),
    a: impl Fn() -> bool,
    b: impl Fn() -> bool,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut ta, mut tb) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    let timed = |f: &dyn Fn() -> bool| {
        setup();
        let start = Instant::now();
        assert!(f(), "a benchmarked call failed");
        start.elapsed()
    };
    for i in 0..runs {
        if i % 2 == 0 {
            ta.push(timed(&a));
            tb.push(timed(&b));
        } else {
            tb.push(timed(&b));
            ta.push(timed(&a));
        }
    }
    ta.sort();
    tb.sort();
    (ta, tb)
}

fn time_n(runs: usize, f: impl Fn() -> bool) -> Vec<Duration> {
    time_with_setup(runs, &|| true, f)
}

fn time_with_setup(runs: usize, setup: &dyn Fn() -> bool, f: impl Fn() -> bool) -> Vec<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        setup();
        let start = Instant::now();
        let ok = f();
        let elapsed = start.elapsed();
        assert!(ok, "a benchmarked call failed");
        times.push(elapsed);
    }
    times.sort();
    times
}

fn row(name: &str, sorted: &[Duration]) {
    let pick = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    println!(
        "| {name} | {} | {} | {} |",
        sorted.len(),
        show(pick(0.5)),
        show(pick(0.9))
    );
}

fn show(d: Duration) -> String {
    if d >= Duration::from_millis(10) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    }
}
