//! `portshare nft`: the table as a stateless nftables ruleset — the operating-system
//! embodiment of the unit, and the anchor `wire` is measured against.
//!
//! * Without interfaces: an `inet` table for the host that runs the servers. Incoming
//!   frames are rewritten in `prerouting` and outgoing ones in `output`, both at
//!   priority `raw` (before conntrack) with `notrack`, so no connection state is kept.
//! * With `--network` and `--server`: a `netdev` table whose ingress chain on each
//!   interface rewrites and forwards (`fwd to`) to the other — the kernel standing where
//!   `wire` stands. Everything else is forwarded unchanged (ARP, neighbour discovery,
//!   unmatched traffic).
//!
//! Per entry, lowest first, each rule terminal (`accept` / `fwd`) so a frame is
//! rewritten at most once, as in the CAM: incoming `daddr + dport → dport set`,
//! outgoing `saddr + sport → sport set`. UDP rules come in pairs: Linux's port rewrite
//! turns a zero ("no checksum") UDP checksum into a wrong non-zero one
//! (`nft_payload_csum_inet` has no zero check), so a guard rule first matches
//! `udp checksum 0` and writes the port with a raw payload write (`@th`), which
//! leaves the checksum alone (LIVE.md, measured). Every rule carries a counter and a
//! comment naming its entry (`nft list table … portshare` shows the hits).
//!
//! Not covered, unlike the hardware: VLAN-tagged frames whose tag the interface did not
//! strip pass unrewritten in the netdev form (nftables matches `ip` only on untagged frames).

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _, Result};
use portshare_host::table::{Entry, Table};

use crate::live::PortSpec;

/// The table's name in either family; `--apply` replaces it whole.
pub const TABLE_NAME: &str = "portshare";

#[derive(clap::Args, Debug)]
pub struct NftArgs {
    /// The port-sharing table (TOML); names are resolved as `load` resolves them.
    #[arg(value_name = "T.toml")]
    pub table: PathBuf,
    /// The network-side interface (with --server: a netdev ruleset forwarding between them).
    #[arg(long, value_name = "IF", requires = "server")]
    pub network: Option<String>,
    /// The server-side interface.
    #[arg(long, value_name = "IF", requires = "network")]
    pub server: Option<String>,
    /// Load the ruleset with `nft -f`, replacing a previous portshare table atomically
    /// (without it, the ruleset is printed).
    #[arg(long)]
    pub apply: bool,
}

/// Where the rules go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Form {
    /// The server host's own kernel.
    Inet,
    /// Forwarding between two interfaces.
    Netdev { network: String, server: String },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    In,
    Out,
}

fn family(a: IpAddr) -> (&'static str, IpAddr) {
    let a = a.to_canonical();
    (if a.is_ipv4() { "ip" } else { "ip6" }, a)
}

/// The rules of one entry in one direction, guard first; `end` is the terminal verdict.
fn entry_rules(index: usize, e: &Entry, way: Way, end: &str) -> Vec<String> {
    let (fam, addr) = family(e.address);
    let (addr_key, port_key, from, to) = match way {
        Way::In => ("daddr", "dport", e.shared_port, e.assigned_port),
        Way::Out => ("saddr", "sport", e.assigned_port, e.shared_port),
    };
    let comment = format!(
        "entry {}{}",
        index + 1,
        e.name.as_deref().map(|n| format!(" {n}")).unwrap_or_default()
    );
    // The port is the first (source) or second (destination) 16 bits of the L4 header.
    let raw_offset = if way == Way::In { 16 } else { 0 };
    let mut rules = vec![];
    for (proto, on) in [("tcp", e.protocol.tcp()), ("udp", e.protocol.udp())] {
        if !on {
            continue;
        }
        let m = format!("{fam} {addr_key} {addr} {proto} {port_key} {from}");
        if proto == "udp" {
            rules.push(format!(
                "{m} udp checksum 0 @th,{raw_offset},16 set {to} counter {end} comment \"{comment} (zero UDP checksum kept)\""
            ));
        }
        rules.push(format!("{m} {proto} {port_key} set {to} counter {end} comment \"{comment}\""));
    }
    rules
}

fn quoted(interface: &str) -> String {
    format!("\"{}\"", interface.replace('"', ""))
}

/// The ruleset (without the replace preamble).
pub fn ruleset(table: &Table, form: &Form) -> String {
    let mut s = format!(
        "# portshare: {} ({} entries), stateless, lowest entry first\n",
        table.path.display(),
        table.entries.len()
    );
    let chain = |name: &str, hook: &str, way: Way, end: &str, fallthrough: Option<&str>| {
        let mut c = format!("\tchain {name} {{\n\t\t{hook}\n");
        for (i, e) in table.entries.iter().enumerate() {
            for r in entry_rules(i, e, way, end) {
                c += &format!("\t\t{r}\n");
            }
        }
        if let Some(f) = fallthrough {
            c += &format!("\t\t{f}\n");
        }
        c += "\t}\n";
        c
    };
    match form {
        Form::Inet => {
            s += &format!("table inet {TABLE_NAME} {{\n");
            s += &chain(
                "incoming",
                "type filter hook prerouting priority raw; policy accept;",
                Way::In,
                "notrack accept",
                None,
            );
            s += &chain("outgoing", "type filter hook output priority raw; policy accept;", Way::Out, "notrack accept", None);
        }
        Form::Netdev { network, server } => {
            let (n, sv) = (quoted(network), quoted(server));
            s += &format!("table netdev {TABLE_NAME} {{\n");
            let to_server = format!("fwd to {sv}");
            let to_network = format!("fwd to {n}");
            s += &chain(
                "network",
                &format!("type filter hook ingress device {n} priority 0; policy accept;"),
                Way::In,
                &to_server,
                Some(&format!("counter {to_server} comment \"everything else, unchanged\"")),
            );
            s += &chain(
                "server",
                &format!("type filter hook ingress device {sv} priority 0; policy accept;"),
                Way::Out,
                &to_network,
                Some(&format!("counter {to_network} comment \"everything else, unchanged\"")),
            );
        }
    }
    s += "}\n";
    s
}

/// What `nft -f` gets: a previous portshare table of either family is deleted and the
/// new one created in the same transaction (`table X` first makes the delete safe when
/// there is none), so traffic sees the old ruleset or the new one, never neither.
pub fn replacing(ruleset: &str) -> String {
    let mut s = String::new();
    for fam in ["inet", "netdev"] {
        s += &format!("table {fam} {TABLE_NAME}\ndelete table {fam} {TABLE_NAME}\n");
    }
    s + ruleset
}

pub fn run(a: NftArgs) -> Result<()> {
    let form = match (a.network, a.server) {
        (Some(network), Some(server)) => {
            for n in [&network, &server] {
                match n.parse::<PortSpec>() {
                    Ok(PortSpec::Interface(_)) => {}
                    _ => bail!("`{n}`: an interface name (1-15 bytes)"),
                }
            }
            if network == server {
                bail!("--network and --server are both `{network}`");
            }
            Form::Netdev { network, server }
        }
        _ => Form::Inet,
    };
    // nftables has no table size; the entries are checked for clashes as for a board.
    let table = Table::load(&a.table, usize::MAX)?;
    let rules = ruleset(&table, &form);
    if !a.apply {
        print!("{rules}");
        return Ok(());
    }
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!("`nft` not found: install the Debian package `nftables`"),
            _ => anyhow::anyhow!("running nft: {e}"),
        })?;
    child
        .stdin
        .take()
        .context("nft's stdin")?
        .write_all(replacing(&rules).as_bytes())
        .context("writing the ruleset to nft")?;
    let status = child.wait().context("waiting for nft")?;
    if !status.success() {
        bail!(
            "nft -f refused the ruleset ({status}); the previous ruleset is unchanged. Loading rules needs CAP_NET_ADMIN (root); \
             `portshare nft {}` without --apply prints what was sent",
            a.table.display()
        );
    }
    let family = if form == Form::Inet { "inet" } else { "netdev" };
    println!(
        "applied table {family} {TABLE_NAME}: {} entries from {}",
        table.entries.len(),
        a.table.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn table() -> Table {
        let text = r#"
[[entry]]
name = "alpha.example"
address = "192.0.2.10"
shared_port = 443
assigned_port = 8443
protocol = "tcp"

[[entry]]
address = "192.0.2.10"
shared_port = 8443
assigned_port = 9443
protocol = "tcp"

[[entry]]
name = "delta.example"
address = "2001:db8::53"
shared_port = 53
assigned_port = 5353
"#;
        Table::parse(text, Path::new("t.toml"), 64).unwrap()
    }

    fn rules(s: &str) -> Vec<&str> {
        s.lines().map(str::trim).filter(|l| l.contains(" set ")).collect()
    }

    #[test]
    fn inet_rules_follow_the_table_lowest_entry_first() {
        let s = ruleset(&table(), &Form::Inet);
        let r = rules(&s);
        let want = [
            "ip daddr 192.0.2.10 tcp dport 443 tcp dport set 8443 counter notrack accept comment \"entry 1 alpha.example\"",
            "ip daddr 192.0.2.10 tcp dport 8443 tcp dport set 9443 counter notrack accept comment \"entry 2\"",
            "ip6 daddr 2001:db8::53 tcp dport 53 tcp dport set 5353 counter notrack accept comment \"entry 3 delta.example\"",
            "ip6 daddr 2001:db8::53 udp dport 53 udp checksum 0 @th,16,16 set 5353 counter notrack accept comment \"entry 3 delta.example (zero UDP checksum kept)\"",
            "ip6 daddr 2001:db8::53 udp dport 53 udp dport set 5353 counter notrack accept comment \"entry 3 delta.example\"",
            "ip saddr 192.0.2.10 tcp sport 8443 tcp sport set 443 counter notrack accept comment \"entry 1 alpha.example\"",
            "ip saddr 192.0.2.10 tcp sport 9443 tcp sport set 8443 counter notrack accept comment \"entry 2\"",
            "ip6 saddr 2001:db8::53 tcp sport 5353 tcp sport set 53 counter notrack accept comment \"entry 3 delta.example\"",
            "ip6 saddr 2001:db8::53 udp sport 5353 udp checksum 0 @th,0,16 set 53 counter notrack accept comment \"entry 3 delta.example (zero UDP checksum kept)\"",
            "ip6 saddr 2001:db8::53 udp sport 5353 udp sport set 53 counter notrack accept comment \"entry 3 delta.example\"",
        ];
        assert_eq!(r, want);
        // Incoming rules sit in prerouting, outgoing in output, both before conntrack.
        let pre = s.find("hook prerouting priority raw").unwrap();
        let out = s.find("hook output priority raw").unwrap();
        assert!(pre < s.find(want[0]).unwrap() && s.find(want[4]).unwrap() < out && out < s.find(want[5]).unwrap());
        assert!(!s.contains("ct ") && !s.contains("nat"), "stateless: no conntrack, no NAT\n{s}");
    }

    #[test]
    fn netdev_rules_forward_between_the_interfaces() {
        let s = ruleset(&table(), &Form::Netdev { network: "vbc".into(), server: "vbs".into() });
        assert!(s.starts_with("# portshare: t.toml (3 entries)"));
        let net = s.find("chain network {\n\t\ttype filter hook ingress device \"vbc\"").unwrap();
        let srv = s.find("chain server {\n\t\ttype filter hook ingress device \"vbs\"").unwrap();
        let (incoming, outgoing) = (&s[net..srv], &s[srv..]);
        for l in incoming.lines().map(str::trim).filter(|l| l.starts_with("ip")) {
            assert!((l.contains("dport set") || l.contains("@th,16,16 set")) && l.contains("fwd to \"vbs\""), "{l}");
        }
        for l in outgoing.lines().map(str::trim).filter(|l| l.starts_with("ip")) {
            assert!((l.contains("sport set") || l.contains("@th,0,16 set")) && l.contains("fwd to \"vbc\""), "{l}");
        }
        // Everything the table does not name goes through unchanged, last.
        let last = |c: &str| c.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('}')).last().unwrap().to_string();
        assert!(last(incoming).starts_with("counter fwd to \"vbs\""), "{incoming}");
        assert!(last(outgoing).starts_with("counter fwd to \"vbc\""), "{outgoing}");
        assert_eq!(rules(incoming).len(), 5);
        assert_eq!(rules(outgoing).len(), 5);
    }

    #[test]
    fn every_udp_rewrite_has_its_zero_checksum_guard_first() {
        for form in [Form::Inet, Form::Netdev { network: "a".into(), server: "b".into() }] {
            let s = ruleset(&table(), &form);
            let r = rules(&s);
            for (i, l) in r.iter().enumerate() {
                if l.contains("udp dport set") || l.contains("udp sport set") {
                    assert!(r[i - 1].contains("udp checksum 0 @th,"), "{l}");
                }
                // Each rule ends the chain for its frame: one rewrite per frame.
                assert!(l.contains("accept") || l.contains("fwd to"), "{l}");
            }
        }
    }

    #[test]
    fn apply_replaces_either_family_in_one_transaction() {
        let s = replacing("table inet portshare {\n}\n");
        assert_eq!(
            s,
            "table inet portshare\ndelete table inet portshare\ntable netdev portshare\ndelete table netdev portshare\ntable inet portshare {\n}\n"
        );
    }
}
