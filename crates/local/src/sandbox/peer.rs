//! Which process is at the other end of a Runtime API connection.
//!
//! Every environment has a Runtime API of its own on an ephemeral loopback
//! port; whoever can talk to it can take that environment's invocations
//! (events carry request headers, cookies included) and answer them. The
//! Host and Origin rules keep web pages out, but not a simple
//! `<img src="http://127.0.0.1:PORT/2018-06-01/runtime/invocation/next">`
//! (no `Origin`, a loopback `Host`), nor another sandbox's code, which can
//! read the listening ports from `/proc/net/tcp`. A secret would stop both,
//! but the runtime clients (ownstak-runtime, the `lambda_runtime` crate,
//! awslambdaric) know only `AWS_LAMBDA_RUNTIME_API=host:port` and the
//! standard paths, so there is nowhere to put one.
//!
//! So the Runtime API asks the kernel who connected. TCP has no
//! `SO_PEERCRED`, but on Linux the client's socket is a row of
//! `/proc/net/tcp` (local address = the connection's remote end, remote
//! address = our end) with its inode, and a process holds that socket when
//! one of its `/proc/<pid>/fd` links reads `socket:[<inode>]`. A connection
//! is accepted when the socket is held by the environment's bootstrap
//! process or one of its descendants (found through the `PPid` of every
//! process in `/proc`), checked once per connection before any request on
//! it is served. Everything else — a browser, the test runner, another
//! environment's processes — is refused with 403. This holds for every
//! runtime client without changing it; it needs a Linux `/proc` (where the
//! sandboxes already run), and a connection it cannot attribute is refused.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

/// What the Runtime API learned about a connection: held by a process of
/// the environment, or why not. Put into every request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct Peer(Result<(), String>);

impl Peer {
    /// `Ok` when a process of the environment connected; else why not.
    pub(crate) fn verdict(&self) -> Result<(), &str> {
        self.0.as_ref().map(|_| ()).map_err(String::as_str)
    }

    /// Identifies the process behind a connection accepted at `local` from
    /// `remote`, for the environment whose bootstrap is `leader` (set once
    /// its process started).
    pub(super) async fn identify(local: SocketAddr, remote: SocketAddr, leader: Arc<OnceLock<u32>>) -> Peer {
        let Some(&pid) = leader.get() else {
            return Peer(Err("the environment's process has not started yet".to_owned()));
        };
        let checked = tokio::task::spawn_blocking(move || held_by_tree(pid, local, remote)).await;
        Peer(match checked {
            Ok(Ok(_holder)) => Ok(()),
            Ok(Err(why)) => Err(why),
            Err(e) => Err(format!("the connecting process could not be identified: {e}")),
        })
    }
}

/// The pid of the process in the tree of `leader` that holds the client
/// end of the connection `remote` → `local`, or why there is none.
pub(super) fn held_by_tree(leader: u32, local: SocketAddr, remote: SocketAddr) -> Result<u32, String> {
    let inode = client_socket_inode(local, remote)?;
    let link = format!("socket:[{inode}]");
    // The bootstrap itself is the runtime client almost always: look there first.
    if holds(leader, &link) {
        return Ok(leader);
    }
    for pid in descendants(leader) {
        if holds(pid, &link) {
            return Ok(pid);
        }
    }
    Err(format!("the connection from {remote} comes from a process outside that sandbox"))
}

/// The inode of the socket whose local address is `remote` and whose
/// remote address is `local`: the client's end of our connection.
fn client_socket_inode(local: SocketAddr, remote: SocketAddr) -> Result<u64, String> {
    let (local, remote) = (canonical(local), canonical(remote));
    let mut errors = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = match std::fs::read_to_string(table) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{table}: {e}"));
                continue;
            }
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(l), Some(r), Some(inode)) = (fields.get(1), fields.get(2), fields.get(9)) else { continue };
            if parse_addr(l) == Some(remote)
                && parse_addr(r) == Some(local)
                && let Ok(inode) = inode.parse::<u64>()
                && inode != 0
            {
                return Ok(inode);
            }
        }
    }
    if errors.len() == 2 {
        return Err(format!("the connecting process cannot be identified ({})", errors.join("; ")));
    }
    Err(format!(
        "the connection from {remote} is not in /proc/net/tcp (it was closed, or comes from another network namespace)"
    ))
}

/// An IPv4-mapped IPv6 address as the IPv4 address it stands for.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}

/// Parses an address of `/proc/net/tcp{,6}`: the IP as 32-bit words in
/// host byte order, in hex, then `:` and the port in hex.
fn parse_addr(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(canonical(SocketAddr::new(ip, port)))
}

/// Whether process `pid` has an open file descriptor linking to `link`.
fn holds(pid: u32, link: &str) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == link))
}

/// Every process descended from `leader`, nearest first.
fn descendants(leader: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if let Some(ppid) = parent_of(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut found = Vec::new();
    let mut queue = VecDeque::from([leader]);
    while let Some(pid) = queue.pop_front() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
            if !found.contains(&child) {
                found.push(child);
                queue.push_back(child);
            }
        }
    }
    found
}

/// The parent pid from `/proc/<pid>/stat` (`pid (comm) state ppid …`;
/// `comm` may hold spaces and parentheses, so read after the last `)`).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, Write as _};

    fn listener() -> std::net::TcpListener {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap()
    }

    #[test]
    fn proc_addresses_parse() {
        assert_eq!(parse_addr("0100007F:1F91"), Some("127.0.0.1:8081".parse().unwrap()));
        assert_eq!(parse_addr("0000000000000000FFFF00000100007F:0050"), Some("127.0.0.1:80".parse().unwrap()));
        assert_eq!(parse_addr("00000000000000000000000001000000:0016"), Some("[::1]:22".parse().unwrap()));
        assert_eq!(parse_addr("zz"), None);
    }

    #[test]
    fn a_connection_belongs_to_the_process_that_holds_it_and_its_ancestors_trees() {
        let l = listener();
        let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, remote) = l.accept().unwrap();
        let local = server.local_addr().unwrap();
        assert_eq!(held_by_tree(std::process::id(), local, remote), Ok(std::process::id()));

        // A process that merely exists (not an ancestor of the holder) does not own it.
        let mut other = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let err = held_by_tree(other.id(), local, remote).unwrap_err();
        assert!(err.contains("outside that sandbox"), "{err}");
        other.kill().unwrap();
        other.wait().unwrap();
        drop(client);
    }

    #[test]
    fn a_descendant_of_the_leader_may_connect() {
        let l = listener();
        let port = l.local_addr().unwrap().port();
        // The leader (bash) does not hold the socket; its subshell does, and
        // keeps it open until it reads a line from it.
        let script = format!("(exec 3<>/dev/tcp/127.0.0.1/{port}; echo hi >&3; read -r line <&3); true");
        let mut leader = std::process::Command::new("bash").args(["-c", &script]).spawn().unwrap();
        let (mut server, remote) = l.accept().unwrap();
        let mut greeting = String::new();
        std::io::BufReader::new(server.try_clone().unwrap()).read_line(&mut greeting).unwrap();
        assert_eq!(greeting, "hi\n", "the subshell is connected and waiting");
        let local = server.local_addr().unwrap();
        let holder = held_by_tree(leader.id(), local, remote).unwrap();
        assert_ne!(holder, leader.id(), "found in the subshell, not the leader");
        assert_eq!(parent_of(holder), Some(leader.id()));
        assert!(held_by_tree(std::process::id() + 1_000_000, local, remote).is_err(), "no such tree");
        server.write_all(b"bye\n").unwrap();
        assert!(leader.wait().unwrap().success());
    }
}
