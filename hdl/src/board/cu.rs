//! The Alchitry Cu top: the pipeline driven by the control block over the FT2232H's
//! channel-B UART, plus reset and status LEDs.
//!
//! | pin | pad | |
//! |-----|-----|-|
//! | `clock` | P7 | 100 MHz |
//! | `reset_n` | P8 | reset button, active low (synchronized; plus a 16-clock power-on reset) |
//! | `usb_rx` | P14 | UART from the FTDI chip (FPGA input) |
//! | `usb_tx` | M9 | UART to the FTDI chip (FPGA output) |
//! | `led_heartbeat` | J11 | blinks at 1.5 Hz: the clock runs, the bitstream is loaded |
//! | `led_request` | K11 | a request was received |
//! | `led_frame` | K12 | an injected frame went through the pipeline |
//! | `led_rewrite` | K14 | the pipeline rewrote a frame |
//! | `led_error` | L12 | an error reply, or a UART framing error |
//! | `led_rx` | L14 | UART bytes arriving |
//! | `led_tx` | M12 | UART bytes leaving |
//! | `led_reset` | N14 | reset held |
//!
//! Activity LEDs stretch a one-clock event to 84–126 ms so it can be seen.
//! The control block and the pipeline are the shared [`Core`].
//! The checked-in `constraints/alchitry-cu.pcf` is what `generate_pcf` makes of this
//! top (a test compares them).

use super::status::BoardStatus;
use super::{pin, Core};
use crate::ctrl::control::default_build_id;
use crate::ctrl::uart::{UartRx, UartTx, CLOCKS_PER_BIT_4MBAUD};
use rust_hdl::prelude::*;


#[derive(LogicBlock)]
pub struct CuBoard<const N: usize> {
    pub clock: Signal<In, Clock>,
    pub reset_n: Signal<In, Bit>,
    pub usb_rx: Signal<In, Bit>,
    pub usb_tx: Signal<Out, Bit>,
    pub led_heartbeat: Signal<Out, Bit>,
    pub led_request: Signal<Out, Bit>,
    pub led_frame: Signal<Out, Bit>,
    pub led_rewrite: Signal<Out, Bit>,
    pub led_error: Signal<Out, Bit>,
    pub led_rx: Signal<Out, Bit>,
    pub led_tx: Signal<Out, Bit>,
    pub led_reset: Signal<Out, Bit>,
    pub uart_rx: UartRx,
    pub uart_tx: UartTx,
    pub core: Core<N>,
    status: BoardStatus,
}

impl<const N: usize> CuBoard<N> {
    /// The board at 4 Mbaud with the default build id: what the bitstream flow builds.
    pub fn new() -> Self {
        Self::with_options(CLOCKS_PER_BIT_4MBAUD, default_build_id())
    }

    /// `clocks_per_bit` at 100 MHz: 25 = 4 Mbaud, 50 = 2 Mbaud. `build_id` is what
    /// INFO reports.
    pub fn with_options(clocks_per_bit: u16, build_id: u32) -> Self {
        Self {
            clock: rust_hdl_bsp_alchitry_cu::pins::clock(),
            reset_n: pin("P8"),
            usb_rx: pin("P14"),
            usb_tx: pin("M9"),
            led_heartbeat: pin("J11"),
            led_request: pin("K11"),
            led_frame: pin("K12"),
            led_rewrite: pin("K14"),
            led_error: pin("L12"),
            led_rx: pin("L14"),
            led_tx: pin("M12"),
            led_reset: pin("N14"),
            uart_rx: UartRx::new(clocks_per_bit),
            uart_tx: UartTx::new(clocks_per_bit),
            core: Core::new(build_id),
            status: Default::default(),
        }
    }
}

impl<const N: usize> Default for CuBoard<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Logic for CuBoard<N> {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, uart_rx, uart_tx, core, status);
        self.status.reset_n.next = self.reset_n.val();
        self.uart_rx.reset.next = self.status.reset.val();
        self.uart_rx.rx.next = self.usb_rx.val();
        self.uart_tx.reset.next = self.status.reset.val();
        self.usb_tx.next = self.uart_tx.tx.val();

        self.core.reset.next = self.status.reset.val();
        self.core.rx_data.next = self.uart_rx.data.val();
        self.core.rx_valid.next = self.uart_rx.valid.val();
        self.core.rx_error.next = self.uart_rx.frame_error.val();
        self.uart_tx.data.next = self.core.tx_data.val();
        self.uart_tx.valid.next = self.core.tx_valid.val();
        self.core.tx_ready.next = self.uart_tx.ready.val();
        // No Ethernet ports on this board.
        self.core.eth_in_data.next = 0.into();
        self.core.eth_in_valid.next = false;
        self.core.eth_in_last.next = false;
        self.core.eth_in_direction.next = false;
        self.core.eth_in_fcs_bad.next = false;
        // No Ethernet ports: READ_PORT answers OUT_OF_RANGE.
        self.core.has_ports.next = false;
        self.core.port.value.next = 0.into();
        self.core.port.done.next = false;
        self.core.eth_out_ready.next = true;

        // LEDs.
        self.status.event0.next = self.core.request_pulse.val();
        self.status.event1.next = self.core.inject_pulse.val();
        self.status.event2.next = self.core.rewrite_pulse.val();
        self.status.event3.next = self.core.error_pulse.val() | self.uart_rx.frame_error.val();
        self.status.event4.next = self.uart_rx.valid.val();
        self.status.event5.next = self.uart_tx.valid.val() & self.uart_tx.ready.val();
        self.led_heartbeat.next = self.status.heartbeat.val();
        self.led_request.next = self.status.lit0.val();
        self.led_frame.next = self.status.lit1.val();
        self.led_rewrite.next = self.status.lit2.val();
        self.led_error.next = self.status.lit3.val();
        self.led_rx.next = self.status.lit4.val();
        self.led_tx.next = self.status.lit5.val();
        self.led_reset.next = self.status.reset.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_hdl::fpga::toolchains::icestorm::generate_pcf;

    fn pcf_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../constraints/alchitry-cu.pcf")
    }

    #[test]
    fn checked_in_pcf_is_what_the_design_generates() {
        let mut uut = CuBoard::<16>::new();
        uut.connect_all();
        let generated = generate_pcf(&uut);
        if std::env::var_os("PORTSHARE_WRITE_PCF").is_some() {
            std::fs::write(pcf_path(), &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(pcf_path()).expect("constraints/alchitry-cu.pcf (PORTSHARE_WRITE_PCF=1 writes it)");
        assert_eq!(checked_in, generated);
        // Independent of N, and with the Alchitry Cu's pads (README, "Pins").
        let mut big = CuBoard::<128>::new();
        big.connect_all();
        assert_eq!(generate_pcf(&big), generated);
        for line in ["set_io clock P7", "set_io reset_n P8", "set_io usb_rx P14", "set_io usb_tx M9", "set_io led_heartbeat J11", "set_io led_reset N14"] {
            assert!(generated.lines().any(|l| l == line), "missing `{line}`");
        }
        let leds: Vec<&str> = generated.lines().filter(|l| l.starts_with("set_io led_")).map(|l| l.rsplit(' ').next().unwrap()).collect();
        assert_eq!(leds, ["J11", "K11", "K12", "K14", "L12", "L14", "M12", "N14"]);
    }

    #[test]
    fn board_top_generates_valid_verilog() {
        let mut uut = CuBoard::<16>::new();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-cuboard", std::process::id()), &generate_verilog(&uut)).unwrap();
    }

    fn tick(uut: &mut CuBoard<16>) {
        uut.clock.next = true.into();
        portshare_tools::clocking::settle(uut);
        uut.clock.next = false.into();
        portshare_tools::clocking::settle(uut);
    }

    #[test]
    fn reset_is_held_after_power_on_and_follows_the_button_through_the_synchronizer() {
        let mut uut = CuBoard::<16>::new();
        uut.connect_all();
        uut.reset_n.next = true;
        uut.usb_rx.next = true;
        portshare_tools::clocking::settle(&mut uut);
        let mut held = uut.led_reset.val() as usize;
        for _ in 0..40 {
            tick(&mut uut);
            if uut.led_reset.val() {
                held += 1;
            }
        }
        assert_eq!(held, 16, "power-on reset: from configuration through the 16th clock edge");
        assert!(uut.usb_tx.val(), "UART line idles high");
        uut.reset_n.next = false;
        tick(&mut uut);
        tick(&mut uut);
        assert!(!uut.led_reset.val(), "two synchronizer stages and a register: not yet");
        tick(&mut uut);
        assert!(uut.led_reset.val());
        uut.reset_n.next = true;
        for _ in 0..3 {
            tick(&mut uut);
        }
        assert!(!uut.led_reset.val());
    }

    /// Serializes bytes 8N1 at `cpb` clocks per bit: one line level per clock.
    fn serialize(bytes: &[u8], cpb: usize) -> Vec<bool> {
        portshare_host::uart8n1::serialize(bytes).iter().by_vals().flat_map(|bit| std::iter::repeat(bit).take(cpb)).collect()
    }

    /// Decodes an 8N1 line (one level per clock), sampling mid-bit.
    fn deserialize(line: &[bool], cpb: usize) -> Vec<u8> {
        let (mut out, mut t) = (Vec::new(), 1);
        while t < line.len() {
            if line[t - 1] && !line[t] && t + 10 * cpb <= line.len() {
                let mid = |k: usize| line[t + k * cpb + cpb / 2];
                assert!(!mid(0) && mid(9), "8N1 frame at clock {t}");
                out.push((1..=8).fold(0u8, |acc, k| acc | ((mid(k) as u8) << (k - 1))));
                t += 9 * cpb + cpb / 2;
            } else {
                t += 1;
            }
        }
        out
    }

    /// The same `usb_rx` waveform through the Rust simulation of `CuBoard` and through
    /// Icarus Verilog running its generated Verilog: `usb_tx` must match clock for
    /// clock, and decode to the protocol's replies. This ties the tested Rust model to
    /// the Verilog that becomes the bitstream (operator precedence, widths, latches).
    #[test]
    fn generated_verilog_matches_the_rust_simulation_under_icarus() {
        use portshare_host::protocol::{Deframed, Reply, Request, SlipDecoder};
        let cpb = CLOCKS_PER_BIT_4MBAUD as usize;
        let requests = [
            Request::Info,
            Request::WriteEntry { index: 3, record: [0xC0; 21] },
            Request::ReadEntry { index: 3 },
            Request::ReadEntry { index: 16 },
            Request::Inject { direction: portshare_host::Direction::Outgoing, frame: (0..64).map(|i| (i * 37) as u8).collect() },
        ];
        let mut line = vec![true; 40];
        for (seq, r) in requests.iter().enumerate() {
            line.extend(serialize(&r.encode(seq as u8), cpb));
            // Quiet until the reply is surely out (reply no longer than request + 30).
            line.extend(std::iter::repeat(true).take((2 * r.encode(0).len() + 40) * 10 * cpb));
        }

        // Rust simulation.
        let mut uut = CuBoard::<16>::new();
        uut.connect_all();
        uut.reset_n.next = true;
        let mut rust_tx = Vec::with_capacity(line.len());
        for &l in &line {
            uut.usb_rx.next = l;
            tick_board(&mut uut);
            rust_tx.push(uut.usb_tx.val());
        }

        // Icarus.
        let dir = std::env::temp_dir().join(format!("portshare-hdl-icarus-board-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut uut = CuBoard::<16>::new();
        uut.connect_all();
        std::fs::write(dir.join("dut.v"), generate_verilog(&uut)).unwrap();
        let rx: String = line.iter().map(|&l| if l { "1\n" } else { "0\n" }).collect();
        std::fs::write(dir.join("rx.mem"), rx).unwrap();
        let tb = format!(
            r#"`timescale 1ns/1ps
module tb;
  reg clock = 0; reg reset_n = 1; reg usb_rx = 1;
  wire usb_tx, l0, l1, l2, l3, l4, l5, l6, l7;
  top dut(.clock(clock), .reset_n(reset_n), .usb_rx(usb_rx), .usb_tx(usb_tx),
    .led_heartbeat(l0), .led_request(l1), .led_frame(l2), .led_rewrite(l3),
    .led_error(l4), .led_rx(l5), .led_tx(l6), .led_reset(l7));
  reg line [0:{n}];
  integer i, f;
  initial begin
    $readmemb("rx.mem", line);
    f = $fopen("tx.txt", "w");
    for (i = 0; i < {len}; i = i + 1) begin
      usb_rx = line[i];
      #5 clock = 1;
      #5 clock = 0;
      $fwrite(f, "%b", usb_tx);
    end
    $fclose(f);
    $finish;
  end
endmodule
"#,
            n = line.len() - 1,
            len = line.len()
        );
        std::fs::write(dir.join("tb.v"), tb).unwrap();
        // Through the tools crate's one runner: a missing Icarus is named with its package.
        use portshare_tools::runner::{run, IVERILOG, VVP};
        let run = |tool, args: &[&str]| run(tool, args, &dir).unwrap_or_else(|e| panic!("{e}"));
        run(IVERILOG, &["-g2005", "-o", "tb.vvp", "tb.v", "dut.v"]);
        run(VVP, &["-n", "tb.vvp"]);
        let icarus_tx: Vec<bool> = std::fs::read_to_string(dir.join("tx.txt")).unwrap().trim().chars().map(|c| c == '1').collect();
        let _ = std::fs::remove_dir_all(&dir);

        assert_eq!(icarus_tx.len(), rust_tx.len());
        if let Some(t) = (0..rust_tx.len()).find(|&t| rust_tx[t] != icarus_tx[t]) {
            panic!("usb_tx differs first at clock {t} (rust {}, icarus {})", rust_tx[t], icarus_tx[t]);
        }
        let mut dec = SlipDecoder::new();
        let replies: Vec<Reply> = dec
            .push(&deserialize(&rust_tx, cpb))
            .into_iter()
            .map(|p| match p {
                Deframed::Packet(b) => Reply::decode(&b).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(replies.len(), requests.len());
        for (seq, (r, q)) in replies.iter().zip(&requests).enumerate() {
            assert_eq!((r.command, r.seq), (q.command(), seq as u8));
        }
        assert_eq!(replies[0].payload[0], portshare_host::protocol::PROTOCOL_VERSION);
        assert_eq!(replies[3].status, portshare_host::protocol::STATUS_OUT_OF_RANGE);
        assert_eq!(replies[4].payload.len(), 64);
    }

    fn tick_board(uut: &mut CuBoard<16>) {
        uut.clock.next = true.into();
        portshare_tools::clocking::settle(uut);
        uut.clock.next = false.into();
        portshare_tools::clocking::settle(uut);
    }
}
