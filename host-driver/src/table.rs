//! The port-sharing table file (docs/semantics.md §2): TOML with one `[[entry]]` per entry →
//! validated entries → the hardware's `Slot`s.
//!
//! Two passes: toml (via serde) turns the text into a document, then each entry's
//! fields are checked here by hand, so that every error can name the file, the entry
//! (1-based index and its name) and the field — serde's own messages name none of them.

use crate::record::Slot;
use std::fmt;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

const KEYS: [&str; 5] = ["name", "address", "shared_port", "assigned_port", "protocol"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Both,
}

impl Protocol {
    pub fn tcp(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Both)
    }
    pub fn udp(self) -> bool {
        matches!(self, Protocol::Udp | Protocol::Both)
    }
    /// `both` overlaps `tcp` and `udp`.
    pub fn overlaps(self, other: Protocol) -> bool {
        (self.tcp() && other.tcp()) || (self.udp() && other.udp())
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Both => "both",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The domain name the address stands for (display only once resolved).
    pub name: Option<String>,
    pub address: IpAddr,
    pub shared_port: u16,
    pub assigned_port: u16,
    pub protocol: Protocol,
}

impl Entry {
    pub fn slot(&self) -> Slot {
        Slot::new(self.address, self.protocol.tcp(), self.protocol.udp(), self.shared_port, self.assigned_port)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Where the table came from (used in messages).
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

/// Errors; each names the file and, where there is one, the entry and the field.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    /// TOML syntax, or a document that is not a list of `[[entry]]` tables.
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: entry {index}{}: {field}: {message}", name_part(.name))]
    Entry { path: PathBuf, index: usize, name: Option<String>, field: String, message: String },
}

fn name_part(name: &Option<String>) -> String {
    match name {
        Some(n) => format!(" ({n:?})"),
        None => String::new(),
    }
}

impl Table {
    /// Reads and validates a table file for a unit that holds `capacity` entries.
    pub fn load(path: &Path, capacity: usize) -> Result<Table, TableError> {
        let text = std::fs::read_to_string(path).map_err(|error| TableError::Io { path: path.into(), error })?;
        Table::parse(&text, path, capacity)
    }

    /// Parses and validates table text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path, capacity: usize) -> Result<Table, TableError> {
        let file_err = |message: String| TableError::File { path: path.into(), message };
        let doc: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| format!(" (line {})", text[..s.start].matches('\n').count() + 1));
            file_err(format!("not valid TOML{}: {}", line.unwrap_or_default(), e.message().trim_end()))
        })?;
        if let Some(key) = doc.keys().find(|k| *k != "entry") {
            return Err(file_err(format!("unknown top-level key `{key}` (expected only [[entry]] tables)")));
        }
        let raw = match doc.get("entry") {
            None => Vec::new(),
            Some(toml::Value::Array(a)) => a.clone(),
            Some(other) => {
                return Err(file_err(format!("`entry` must be a list of [[entry]] tables, not {}", a(other))))
            }
        };
        let mut entries = Vec::with_capacity(raw.len());
        for (i, value) in raw.iter().enumerate() {
            let index = i + 1;
            let toml::Value::Table(t) = value else {
                return Err(TableError::Entry {
                    path: path.into(),
                    index,
                    name: None,
                    field: "entry".into(),
                    message: format!("must be a table, not {}", a(value)),
                });
            };
            entries.push(parse_entry(t, path, index)?);
        }
        let table = Table { path: path.into(), entries };
        table.validate(capacity)?;
        Ok(table)
    }

    /// A table made in code (e.g. from the flows of a capture), validated like a file.
    pub fn from_entries(path: &Path, entries: Vec<Entry>, capacity: usize) -> Result<Table, TableError> {
        let table = Table { path: path.into(), entries };
        table.validate(capacity)?;
        Ok(table)
    }

    fn entry_error(&self, i: usize, field: &str, message: String) -> TableError {
        TableError::Entry {
            path: self.path.clone(),
            index: i + 1,
            name: self.entries[i].name.clone(),
            field: field.into(),
            message,
        }
    }

    /// Capacity, then no two entries on the same (address, protocol, port) for either port.
    pub fn validate(&self, capacity: usize) -> Result<(), TableError> {
        if self.entries.len() > capacity {
            return Err(self.entry_error(
                capacity,
                "entry",
                format!("the hardware holds {capacity} entries; this table has {}", self.entries.len()),
            ));
        }
        for (j, b) in self.entries.iter().enumerate() {
            for (i, a) in self.entries[..j].iter().enumerate() {
                if a.address != b.address || !a.protocol.overlaps(b.protocol) {
                    continue;
                }
                let clash = |field: &str, port: u16, what: &str| {
                    self.entry_error(
                        j,
                        field,
                        format!(
                            "{port} is already the {field} of entry {}{} for {} {} — {what} would be ambiguous",
                            i + 1,
                            name_part(&a.name),
                            a.address,
                            overlap_name(a.protocol, b.protocol)
                        ),
                    )
                };
                if a.shared_port == b.shared_port {
                    return Err(clash("shared_port", b.shared_port, "incoming"));
                }
                if a.assigned_port == b.assigned_port {
                    return Err(clash("assigned_port", b.assigned_port, "outgoing"));
                }
            }
        }
        Ok(())
    }

    /// The slots to load, entry i into slot i.
    pub fn slots(&self) -> Vec<Slot> {
        self.entries.iter().map(Entry::slot).collect()
    }

    /// The table as a TOML file that `Table::parse` reads back to the same entries.
    pub fn to_toml(&self) -> String {
        let mut s = String::new();
        for e in &self.entries {
            s.push_str("[[entry]]\n");
            if let Some(n) = &e.name {
                s.push_str(&format!("name = {}\n", toml::Value::String(n.clone())));
            }
            s.push_str(&format!(
                "address = \"{}\"\nshared_port = {}\nassigned_port = {}\nprotocol = \"{}\"\n\n",
                e.address, e.shared_port, e.assigned_port, e.protocol
            ));
        }
        s
    }
}

/// "an integer", "a string": the value's TOML type with its article.
fn a(v: &toml::Value) -> String {
    let t = v.type_str();
    let article = if t.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {t}")
}

fn overlap_name(a: Protocol, b: Protocol) -> &'static str {
    match (a.tcp() && b.tcp(), a.udp() && b.udp()) {
        (true, true) => "tcp and udp",
        (true, false) => "tcp",
        _ => "udp",
    }
}

/// Prints the table as aligned columns.
impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_w = self.entries.iter().filter_map(|e| e.name.as_ref().map(|n| n.len())).max().unwrap_or(1).max(4);
        let addr_w = self.entries.iter().map(|e| e.address.to_string().len()).max().unwrap_or(1).max(7);
        writeln!(f, "{:>3}  {:name_w$}  {:addr_w$}  {:8}  {:>6}  {:>8}", "#", "name", "address", "protocol", "shared", "assigned")?;
        for (i, e) in self.entries.iter().enumerate() {
            writeln!(
                f,
                "{:>3}  {:name_w$}  {:addr_w$}  {:8}  {:>6}  {:>8}",
                i + 1,
                e.name.as_deref().unwrap_or("-"),
                e.address.to_string(),
                e.protocol.as_str(),
                e.shared_port,
                e.assigned_port
            )?;
        }
        Ok(())
    }
}

fn parse_entry(t: &toml::Table, path: &Path, index: usize) -> Result<Entry, TableError> {
    // The name is read first so that every later error can show it.
    let name_value = t.get("name");
    let name = match name_value {
        Some(toml::Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let err = |field: &str, message: String| TableError::Entry {
        path: path.into(),
        index,
        name: name.clone(),
        field: field.into(),
        message,
    };
    if let Some(key) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(err(key, format!("unknown key (the keys are {})", KEYS.join(", "))));
    }
    match name_value {
        Some(toml::Value::String(s)) if s.trim().is_empty() => return Err(err("name", "is empty".into())),
        Some(toml::Value::String(_)) | None => {}
        Some(other) => return Err(err("name", format!("must be a string, not {}", a(other)))),
    }
    let address = match t.get("address") {
        Some(toml::Value::String(s)) => s
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| err("address", format!("{s:?} is not an IPv4 or IPv6 address")))?,
        Some(other) => return Err(err("address", format!("must be a string, not {}", a(other)))),
        None => match &name {
            Some(n) => resolve(n).map_err(|m| err("name", m))?,
            None => return Err(err("address", "missing (give `address`, or a `name` to resolve)".into())),
        },
    };
    let port = |field: &str| -> Result<u16, TableError> {
        match t.get(field) {
            Some(toml::Value::Integer(p)) if (1..=65535).contains(p) => Ok(*p as u16),
            Some(toml::Value::Integer(p)) => Err(err(field, format!("{p} is out of range 1-65535"))),
            Some(other) => Err(err(field, format!("must be an integer 1-65535, not {} ({other})", a(other)))),
            None => Err(err(field, "missing".into())),
        }
    };
    let shared_port = port("shared_port")?;
    let assigned_port = port("assigned_port")?;
    let protocol = match t.get("protocol") {
        None => Protocol::Both,
        Some(toml::Value::String(s)) => match s.as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "both" => Protocol::Both,
            _ => return Err(err("protocol", format!("{s:?} is not one of \"tcp\", \"udp\", \"both\""))),
        },
        Some(other) => return Err(err("protocol", format!("must be \"tcp\", \"udp\" or \"both\", not {}", a(other)))),
    };
    Ok(Entry { name, address, shared_port, assigned_port, protocol })
}

/// The system resolver (so /etc/hosts counts); the first address wins.
fn resolve(name: &str) -> Result<IpAddr, String> {
    match (name, 0u16).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| format!("{name:?} resolves to no address (and no `address` is given)")),
        Err(e) => Err(format!("cannot resolve {name:?} (and no `address` is given): {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "tables/web.toml";

    fn parse(text: &str) -> Result<Table, TableError> {
        Table::parse(text, Path::new(PATH), 64)
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("should be refused").to_string()
    }

    const GOOD: &str = r#"
[[entry]]
name = "alpha.example"
address = "192.0.2.10"
shared_port = 443
assigned_port = 8443
protocol = "tcp"

[[entry]]
address = "2001:db8::20"
shared_port = 53
assigned_port = 5353

[[entry]]
name = "alpha-udp"
address = "192.0.2.10"
shared_port = 443
assigned_port = 8443
protocol = "udp"
"#;

    #[test]
    fn good_table_parses_into_slots() {
        let t = parse(GOOD).unwrap();
        assert_eq!(t.entries.len(), 3);
        assert_eq!(t.entries[0].name.as_deref(), Some("alpha.example"));
        assert_eq!(t.entries[1].protocol, Protocol::Both);
        let s = t.slots();
        assert_eq!(s[0], Slot::new("192.0.2.10".parse().unwrap(), true, false, 443, 8443));
        assert_eq!(s[1], Slot::new("2001:db8::20".parse().unwrap(), true, true, 53, 5353));
        assert!(s[2].udp && !s[2].tcp && s[2].ipv4);
        let shown = t.to_string();
        assert!(shown.contains("alpha.example") && shown.contains("2001:db8::20") && shown.contains("8443"), "{shown}");
    }

    #[test]
    fn to_toml_reads_back_the_same_entries() {
        let t = parse(GOOD).unwrap();
        let back = parse(&t.to_toml()).unwrap();
        assert_eq!(back.entries, t.entries);
    }

    #[test]
    fn empty_file_is_an_empty_table() {
        assert!(parse("").unwrap().entries.is_empty());
    }

    #[test]
    fn port_out_of_range_names_file_entry_and_field() {
        let text = GOOD.replace("shared_port = 443\nassigned_port = 8443\nprotocol = \"udp\"", "shared_port = 70000\nassigned_port = 8443\nprotocol = \"udp\"");
        assert_eq!(error(&text), "tables/web.toml: entry 3 (\"alpha-udp\"): shared_port: 70000 is out of range 1-65535");
        let zero = "[[entry]]\naddress = \"192.0.2.1\"\nshared_port = 1\nassigned_port = 0\n";
        assert_eq!(error(zero), "tables/web.toml: entry 1: assigned_port: 0 is out of range 1-65535");
        let negative = "[[entry]]\naddress = \"192.0.2.1\"\nshared_port = -5\nassigned_port = 2\n";
        assert!(error(negative).contains("entry 1: shared_port: -5 is out of range"));
    }

    #[test]
    fn non_integer_port_is_refused() {
        for bad in ["\"443\"", "443.0", "true"] {
            let text = format!("[[entry]]\naddress = \"192.0.2.1\"\nshared_port = {bad}\nassigned_port = 2\n");
            let e = error(&text);
            assert!(e.starts_with("tables/web.toml: entry 1: shared_port: must be an integer 1-65535"), "{e}");
        }
    }

    #[test]
    fn missing_fields_are_named() {
        let e = error("[[entry]]\nname = \"x\"\naddress = \"192.0.2.1\"\nassigned_port = 2\n");
        assert_eq!(e, "tables/web.toml: entry 1 (\"x\"): shared_port: missing");
        let e = error("[[entry]]\naddress = \"192.0.2.1\"\nshared_port = 2\n");
        assert_eq!(e, "tables/web.toml: entry 1: assigned_port: missing");
        let e = error("[[entry]]\nshared_port = 1\nassigned_port = 2\n");
        assert!(e.starts_with("tables/web.toml: entry 1: address: missing"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = error("[[entry]]\nname = \"x\"\naddress = \"192.0.2.1\"\nshared_port = 1\nassigned_port = 2\nport = 3\n");
        assert!(e.starts_with("tables/web.toml: entry 1 (\"x\"): port: unknown key"), "{e}");
        let e = error("capacity = 3\n");
        assert!(e.starts_with("tables/web.toml: unknown top-level key `capacity`"), "{e}");
    }

    #[test]
    fn bad_address_protocol_and_name_types_are_refused() {
        let e = error("[[entry]]\naddress = \"192.0.2.300\"\nshared_port = 1\nassigned_port = 2\n");
        assert_eq!(e, "tables/web.toml: entry 1: address: \"192.0.2.300\" is not an IPv4 or IPv6 address");
        let e = error("[[entry]]\naddress = 17\nshared_port = 1\nassigned_port = 2\n");
        assert_eq!(e, "tables/web.toml: entry 1: address: must be a string, not an integer");
        let e = error("[[entry]]\naddress = \"192.0.2.1\"\nshared_port = 1\nassigned_port = 2\nprotocol = \"sctp\"\n");
        assert!(e.starts_with("tables/web.toml: entry 1: protocol: \"sctp\" is not one of"), "{e}");
        let e = error("[[entry]]\nname = 5\naddress = \"192.0.2.1\"\nshared_port = 1\nassigned_port = 2\n");
        assert_eq!(e, "tables/web.toml: entry 1: name: must be a string, not an integer");
        let e = error("[[entry]]\nname = \" \"\naddress = \"192.0.2.1\"\nshared_port = 1\nassigned_port = 2\n");
        assert!(e.contains("entry 1 (\" \"): name: is empty"), "{e}");
    }

    #[test]
    fn syntax_errors_and_wrong_shapes_name_the_file() {
        let e = error("[[entry]\n");
        assert!(e.starts_with("tables/web.toml: not valid TOML (line 1): "), "{e}");
        let e = error("entry = 3\n");
        assert!(e.starts_with("tables/web.toml: `entry` must be a list"), "{e}");
        let e = error("entry = [1]\n");
        assert_eq!(e, "tables/web.toml: entry 1: entry: must be a table, not an integer");
    }

    #[test]
    fn duplicate_shared_port_is_refused_and_both_overlaps() {
        let text = "[[entry]]\naddress = \"192.0.2.1\"\nshared_port = 443\nassigned_port = 1\nprotocol = \"tcp\"\n\
                    [[entry]]\nname = \"b\"\naddress = \"192.0.2.1\"\nshared_port = 443\nassigned_port = 2\n";
        let e = error(text);
        assert!(e.starts_with("tables/web.toml: entry 2 (\"b\"): shared_port: 443 is already the shared_port of entry 1"), "{e}");
        // tcp and udp do not overlap; another address does not clash.
        let ok = "[[entry]]\naddress = \"192.0.2.1\"\nshared_port = 443\nassigned_port = 1\nprotocol = \"tcp\"\n\
                  [[entry]]\naddress = \"192.0.2.1\"\nshared_port = 443\nassigned_port = 1\nprotocol = \"udp\"\n\
                  [[entry]]\naddress = \"192.0.2.2\"\nshared_port = 443\nassigned_port = 1\n";
        assert_eq!(parse(ok).unwrap().entries.len(), 3);
    }

    #[test]
    fn duplicate_assigned_port_is_refused() {
        let text = "[[entry]]\naddress = \"2001:db8::1\"\nshared_port = 443\nassigned_port = 8000\nprotocol = \"udp\"\n\
                    [[entry]]\naddress = \"2001:db8::1\"\nshared_port = 444\nassigned_port = 8000\nprotocol = \"both\"\n";
        let e = error(text);
        assert!(e.starts_with("tables/web.toml: entry 2: assigned_port: 8000 is already the assigned_port of entry 1 for 2001:db8::1 udp"), "{e}");
    }

    #[test]
    fn more_entries_than_capacity_says_the_capacity() {
        let mut text = String::new();
        for i in 0..17 {
            text.push_str(&format!("[[entry]]\naddress = \"192.0.2.{i}\"\nshared_port = 443\nassigned_port = 8443\n"));
        }
        let e = Table::parse(&text, Path::new(PATH), 16).unwrap_err().to_string();
        assert_eq!(e, "tables/web.toml: entry 17: entry: the hardware holds 16 entries; this table has 17");
        assert!(Table::parse(&text, Path::new(PATH), 64).is_ok());
    }

    #[test]
    fn name_without_address_is_resolved_by_the_system_resolver() {
        let t = parse("[[entry]]\nname = \"localhost\"\nshared_port = 1\nassigned_port = 2\n").unwrap();
        assert!(t.entries[0].address.is_loopback(), "{:?}", t.entries[0].address);
        assert_eq!(t.entries[0].name.as_deref(), Some("localhost"));
        let e = error("[[entry]]\nname = \"no-such-host.invalid\"\nshared_port = 1\nassigned_port = 2\n");
        assert!(e.starts_with("tables/web.toml: entry 1 (\"no-such-host.invalid\"): name: "), "{e}");
        assert!(e.contains("no-such-host.invalid"), "{e}");
    }

    #[test]
    fn missing_file_names_the_file() {
        let e = Table::load(Path::new("/nonexistent/t.toml"), 64).unwrap_err().to_string();
        assert!(e.starts_with("/nonexistent/t.toml: "), "{e}");
    }
}
