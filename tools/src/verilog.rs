//! The ports of a rust-hdl block's top module, read from the block itself (its top
//! scope's parameters) and from its generated Verilog, and checked against each other:
//! what the Icarus testbench and the Verilator shim are generated from.

use crate::runner::ToolError;
use rust_hdl::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortDir {
    Input,
    Output,
}

/// A top-level port, named as in the generated Verilog (`ns$name` inside an interface).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub name: String,
    pub dir: PortDir,
    pub width: usize,
    /// A `Clock` input: driven by the testbench, not recorded.
    pub is_clock: bool,
}

/// Visits the top scope's parameters (what becomes `module top`'s ports), in order.
struct TopPorts<'a> {
    depth: usize,
    namespace: Vec<String>,
    visit: &'a mut dyn FnMut(String, &dyn Atom),
}

impl Probe for TopPorts<'_> {
    fn visit_start_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth += 1;
    }
    fn visit_start_namespace(&mut self, name: &str, _node: &dyn Block) {
        if self.depth == 1 {
            self.namespace.push(name.to_string());
        }
    }
    fn visit_atom(&mut self, name: &str, signal: &dyn Atom) {
        if self.depth == 1 && signal.kind().is_parameter() {
            // rust-hdl flattens interface members as `ns$name` (same rule as its PCF writer).
            let mut full = self.namespace.join("$");
            if !full.is_empty() {
                full.push('$');
            }
            full.push_str(name);
            (self.visit)(full, signal);
        }
    }
    fn visit_end_namespace(&mut self, _name: &str, _node: &dyn Block) {
        if self.depth == 1 {
            self.namespace.pop();
        }
    }
    fn visit_end_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth -= 1;
    }
}

pub(crate) fn for_each_top_port<B: Block>(uut: &B, mut f: impl FnMut(String, &dyn Atom)) {
    let mut probe = TopPorts {
        depth: 0,
        namespace: vec![],
        visit: &mut f,
    };
    uut.accept("top", &mut probe);
}

/// The block's top-level ports in declaration order (call `connect_all` first). Only
/// plain bit vectors can be driven from outside.
pub fn block_ports<B: Block>(uut: &B) -> Result<Vec<PortSpec>, ToolError> {
    let mut ports = Vec::new();
    let mut bad = None;
    for_each_top_port(uut, |name, atom| {
        let d = atom.descriptor();
        let dir = match atom.kind() {
            AtomKind::InputParameter => PortDir::Input,
            AtomKind::OutputParameter | AtomKind::OutputPassthrough => PortDir::Output,
            _ => {
                bad.get_or_insert(ToolError::UnsupportedPort {
                    port: name.clone(),
                    why: "inout".into(),
                });
                return;
            }
        };
        if !matches!(d.kind, TypeKind::Bits(_)) {
            bad.get_or_insert(ToolError::UnsupportedPort {
                port: name.clone(),
                why: format!("type {} is not a plain bit vector", d.name),
            });
            return;
        }
        let is_clock = d.name == "clock";
        ports.push(PortSpec {
            name,
            dir,
            width: atom.bits(),
            is_clock,
        });
    });
    if let Some(e) = bad {
        return Err(e);
    }
    Ok(ports)
}

/// The Verilog's `module top` must declare exactly our ports, with our widths.
pub fn check_ports(ports: &[PortSpec], verilog: &str) -> Result<(), ToolError> {
    let declared = parse_top_ports(verilog).map_err(ToolError::PortsDiffer)?;
    for p in ports {
        match declared.iter().find(|d| d.name == p.name) {
            None => {
                return Err(ToolError::PortsDiffer(format!(
                    "`{}` is not a port of module top",
                    p.name
                )))
            }
            Some(d) if d.dir != p.dir || d.width != p.width => {
                return Err(ToolError::PortsDiffer(format!(
                    "`{}`: Rust {:?} {} bits, Verilog {:?} {} bits",
                    p.name, p.dir, p.width, d.dir, d.width
                )))
            }
            Some(_) => {}
        }
    }
    if let Some(d) = declared
        .iter()
        .find(|d| !ports.iter().any(|p| p.name == d.name))
    {
        return Err(ToolError::PortsDiffer(format!(
            "Verilog port `{}` is not in the Rust block",
            d.name
        )));
    }
    Ok(())
}

/// The ports of `module top(...)` as declared in rust-hdl's Verilog:
/// `input wire [7:0] a;`, `output reg b;`, `output wire [167:0] c;`.
pub fn parse_top_ports(verilog: &str) -> Result<Vec<PortSpec>, String> {
    let start = verilog
        .find("module top(")
        .ok_or("no `module top(` in the Verilog")?;
    let body = &verilog[start..];
    let end = body
        .find("endmodule")
        .ok_or("`module top` has no endmodule")?;
    let body = &body[..end];
    let header_end = body
        .find(';')
        .ok_or("`module top(` header is not terminated")?;
    let listed: Vec<&str> = body["module top(".len()..header_end]
        .trim_end()
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut ports = Vec::new();
    for line in body[header_end + 1..].lines() {
        let mut toks = line
            .trim()
            .trim_end_matches(';')
            .split_whitespace()
            .peekable();
        let dir = match toks.peek() {
            Some(&"input") => PortDir::Input,
            Some(&"output") => PortDir::Output,
            Some(&"inout") => return Err(format!("inout port in `{}`", line.trim())),
            _ => continue,
        };
        toks.next();
        let mut width = 1;
        let mut name = None;
        for t in toks {
            match t {
                "wire" | "reg" | "signed" => {}
                r if r.starts_with('[') => {
                    let inner = r.trim_start_matches('[').trim_end_matches(']');
                    let (hi, lo) = inner.split_once(':').ok_or_else(|| format!("range {r}"))?;
                    let hi: usize = hi.parse().map_err(|_| format!("range {r}"))?;
                    let lo: usize = lo.parse().map_err(|_| format!("range {r}"))?;
                    width = hi.abs_diff(lo) + 1;
                }
                n => name = Some(n.to_string()),
            }
        }
        let name = name.ok_or_else(|| format!("no name in `{}`", line.trim()))?;
        ports.push(PortSpec {
            name,
            dir,
            width,
            is_clock: false,
        });
    }
    if ports.len() != listed.len() || !ports.iter().all(|p| listed.contains(&p.name.as_str())) {
        return Err(format!(
            "port list {listed:?} does not match the declarations"
        ));
    }
    Ok(ports)
}

