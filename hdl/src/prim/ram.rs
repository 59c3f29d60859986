//! A one-clock simple dual-port block RAM (one write port, one registered read port)
//! whose read of the address being written in the same clock is *don't care*.
//!
//! rust-hdl's `RAM` promises the old word on such a collision. iCE40 block RAM makes no
//! promise, so yosys keeps the old-word semantics with a bypass beside every RAM: the
//! write data and a collision flag in flip-flops and a mux on every read bit (for the
//! CAM's two 64-bit RAMs alone ~300 logic cells). Blocks that never use a colliding
//! read don't need it: this RAM tells yosys so (`no_rw_check`), and in rust-hdl's
//! simulator a colliding read returns the old word inverted, so any test that reaches a
//! design depending on one fails (and the Icarus co-simulation, which returns the old
//! word, disagrees with it) instead of the board misbehaving.
//!
//! The generated Verilog zeroes the RAM in an `initial` block, as configuration does on
//! the iCE40 (so a second simulator sees no X).

use rust_hdl::core::timing::TimingInfo;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct BlockRam<const W: usize, const A: usize> {
    pub clock: Signal<In, Clock>,
    pub read_address: Signal<In, Bits<A>>,
    /// The word at the `read_address` of the previous edge (inverted if that edge
    /// also wrote there).
    pub read_data: Signal<Out, Bits<W>>,
    pub write_address: Signal<In, Bits<A>>,
    pub write_data: Signal<In, Bits<W>>,
    pub write_enable: Signal<In, Bit>,
    _words: Box<Vec<Bits<W>>>,
}

impl<const W: usize, const A: usize> Default for BlockRam<W, A> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            write_enable: Default::default(),
            _words: Box::new(vec![Bits::default(); 1 << A]),
        }
    }
}

impl<const W: usize, const A: usize> Logic for BlockRam<W, A> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let read = self.read_address.val().index();
            let old = self._words[read];
            let collides = self.write_enable.val() && self.write_address.val() == self.read_address.val();
            self.read_data.next = if collides { !old } else { old };
            if self.write_enable.val() {
                self._words[self.write_address.val().index()] = self.write_data.val();
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "\
// A read of the address being written is don't care (see hdl/src/prim/ram.rs).
(* no_rw_check *)
reg[{msb}:0] mem[{last}:0];
integer i;
initial begin
   for (i = 0; i <= {last}; i = i + 1) mem[i] = {W}'d0;
end

always @(posedge clock) begin
   read_data <= mem[read_address];
end

always @(posedge clock) begin
   if (write_enable) begin
      mem[write_address] <= write_data;
   end
end
",
            msb = W - 1,
            last = (1usize << A) - 1,
        ))
    }

    fn timing(&self) -> Vec<TimingInfo> {
        vec![
            TimingInfo {
                name: "ram_read".into(),
                clock: "clock".into(),
                inputs: vec!["read_address".into()],
                outputs: vec!["read_data".into()],
            },
            TimingInfo {
                name: "ram_write".into(),
                clock: "clock".into(),
                inputs: vec!["write_address".into(), "write_data".into(), "write_enable".into()],
                outputs: vec![],
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_tools::clocking::*;

    fn tick(ram: &mut BlockRam<8, 4>) {
        edge(ram, |r| &mut r.clock, false);
        edge(ram, |r| &mut r.clock, true);
    }

    #[test]
    fn reads_the_word_written_on_an_earlier_edge_and_poisons_a_collision() {
        let mut ram = BlockRam::<8, 4>::default();
        ram.connect_all();
        ram.write_enable.next = true;
        ram.write_address.next = 3.into();
        ram.write_data.next = 0x5A.into();
        ram.read_address.next = 3.into();
        tick(&mut ram);
        // Collision: the old word (0) inverted.
        assert_eq!(ram.read_data.val(), Bits::<8>::from(0xFF));
        ram.write_enable.next = false;
        tick(&mut ram);
        assert_eq!(ram.read_data.val(), Bits::<8>::from(0x5A));
        ram.write_enable.next = true;
        ram.write_address.next = 4.into();
        ram.write_data.next = 0x11.into();
        tick(&mut ram);
        // A write elsewhere leaves the read alone.
        assert_eq!(ram.read_data.val(), Bits::<8>::from(0x5A));
    }

    #[test]
    fn verilog_is_accepted_by_yosys() {
        let mut ram = BlockRam::<8, 4>::default();
        ram.connect_all();
        yosys_validate(&format!("portshare-hdl-{}-blockram", std::process::id()), &generate_verilog(&ram)).unwrap();
    }
}
