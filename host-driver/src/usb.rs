//! The real board over USB: an FTDI UART channel driven through libusb (rusb), no
//! kernel serial driver involved. On the Alchitry Cu that is the FT2232H's channel B
//! (USB interface 1); channel A stays free for iceprog. The FTDI-specific values and
//! the pure logic (baud divisors, status stripping, device choice) are in `ftdi.rs`.
//!
//! Open sequence, as libftdi's `ftdi_usb_open_dev()` + `ftdi_set_*()` do it: detach
//! the kernel driver (ftdi_sio) from our interface only, claim it, SIO reset, bit mode
//! reset (plain UART), baud rate, 8N1, no flow control, latency timer, purge RX and TX.
//! The kernel driver is given the interface back on drop.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use rusb::{Context, Device, DeviceHandle, UsbContext};

use crate::ftdi::{self, BaudSetting, FtdiPart, UsbDeviceInfo, UsbSelector};
use crate::transport::Transport;

/// Where the udev rule lives in the repository, for permission errors.
pub const UDEV_RULE_PATH: &str = "host-driver/udev/99-alchitry-cu.rules";

/// Timeout of one vendor (control) request.
const CONTROL_TIMEOUT: Duration = Duration::from_millis(1000);
/// Timeout for reading string descriptors while enumerating.
const STRING_TIMEOUT: Duration = Duration::from_millis(200);
/// How many packets one bulk IN transfer asks for. Any short packet (including the
/// status-only one a real chip sends every latency period) ends a transfer early.
const PACKETS_PER_READ: usize = 8;

/// How to set up the UART.
#[derive(Clone, Copy, Debug)]
pub struct UartSettings {
    pub baud: u32,
    pub latency_ms: u8,
}

impl Default for UartSettings {
    fn default() -> Self {
        UartSettings {
            baud: ftdi::DEFAULT_BAUD,
            latency_ms: ftdi::DEFAULT_LATENCY_MS,
        }
    }
}

/// One endpoint as the interface descriptor gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointInfo {
    pub address: u8,
    pub bulk: bool,
    pub max_packet: u16,
}

/// The UART's endpoints and packet size, read from the descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UartEndpoints {
    pub ep_in: u8,
    pub ep_out: u8,
    /// Max packet size of the IN endpoint: 512 at high speed, 64 at full speed. The
    /// modem-status bytes repeat at this stride.
    pub max_packet: usize,
}

/// Finds the bulk IN and bulk OUT endpoints among an interface's endpoints.
pub fn uart_endpoints(endpoints: &[EndpointInfo]) -> Result<UartEndpoints, String> {
    let bulk_in = endpoints.iter().find(|e| e.bulk && e.address & 0x80 != 0);
    let bulk_out = endpoints.iter().find(|e| e.bulk && e.address & 0x80 == 0);
    match (bulk_in, bulk_out) {
        (Some(i), Some(o)) if i.max_packet as usize > ftdi::STATUS_LEN => Ok(UartEndpoints {
            ep_in: i.address,
            ep_out: o.address,
            max_packet: i.max_packet as usize,
        }),
        (Some(i), Some(_)) => Err(format!(
            "bulk IN endpoint 0x{:02x} has a max packet size of {}",
            i.address, i.max_packet
        )),
        _ => Err(format!(
            "no bulk IN + bulk OUT endpoint pair among {endpoints:?}"
        )),
    }
}

/// The BCD bcdDevice as the descriptor holds it (rusb hands it back decoded).
fn bcd_device(v: rusb::Version) -> u16 {
    let major = v.major() as u16;
    ((major / 10) << 12) | ((major % 10) << 8) | ((v.minor() as u16) << 4) | v.sub_minor() as u16
}

fn describe_usb_error(e: rusb::Error) -> &'static str {
    match e {
        rusb::Error::Access => "permission denied",
        rusb::Error::NoDevice => "device gone (unplugged?)",
        rusb::Error::Busy => "busy (claimed by another program)",
        rusb::Error::Timeout => "timed out",
        rusb::Error::Pipe => "stalled (request refused by the device)",
        _ => "USB error",
    }
}

fn permission_hint() -> String {
    format!(
        "install the udev rule {UDEV_RULE_PATH} (sudo cp {UDEV_RULE_PATH} /etc/udev/rules.d/ && \
         sudo udevadm control --reload && sudo udevadm trigger), then unplug and replug the board"
    )
}

fn info_of(device: &Device<Context>) -> anyhow::Result<UsbDeviceInfo> {
    let desc = device
        .device_descriptor()
        .context("reading a device descriptor")?;
    let mut info = UsbDeviceInfo {
        bus: device.bus_number(),
        address: device.address(),
        vid: desc.vendor_id(),
        pid: desc.product_id(),
        bcd_device: bcd_device(desc.device_version()),
        ..Default::default()
    };
    // Strings need the device opened; only bother for FTDI parts.
    if info.vid == ftdi::FTDI_VID || ftdi::part_for(info.vid, info.pid).is_some() {
        match device.open() {
            Ok(h) => {
                let lang = h
                    .read_languages(STRING_TIMEOUT)
                    .ok()
                    .and_then(|l| l.first().copied());
                if let Some(lang) = lang {
                    info.manufacturer =
                        h.read_manufacturer_string(lang, &desc, STRING_TIMEOUT).ok();
                    info.product = h.read_product_string(lang, &desc, STRING_TIMEOUT).ok();
                    info.serial = h
                        .read_serial_number_string(lang, &desc, STRING_TIMEOUT)
                        .ok();
                }
            }
            Err(e) => info.open_error = Some(describe_usb_error(e).to_string()),
        }
    }
    Ok(info)
}

/// Every USB device on the system, with strings read for FTDI parts.
pub fn enumerate() -> anyhow::Result<Vec<UsbDeviceInfo>> {
    let ctx = usb_context()?;
    enumerate_in(&ctx).map(|v| v.into_iter().map(|(_, i)| i).collect())
}

/// A libusb context, or an error that says what we were about to look for.
fn usb_context() -> anyhow::Result<Context> {
    Context::new().map_err(|e| {
        anyhow!(
            "cannot use USB to look for {} (libusb: {e}; is /dev/bus/usb there, e.g. in a container?)",
            ftdi::wanted_parts()
        )
    })
}

fn enumerate_in(ctx: &Context) -> anyhow::Result<Vec<(Device<Context>, UsbDeviceInfo)>> {
    let list = ctx
        .devices()
        .with_context(|| format!("listing USB devices to look for {}", ftdi::wanted_parts()))?;
    let mut out = Vec::new();
    for device in list.iter() {
        let info = info_of(&device)?;
        out.push((device, info));
    }
    Ok(out)
}

/// An open FTDI UART channel.
pub struct UsbTransport {
    handle: DeviceHandle<Context>,
    interface: u8,
    endpoints: UartEndpoints,
    port_index: u16,
    reattach_kernel_driver: bool,
    label: String,
    baud: BaudSetting,
    /// Reused buffer for raw IN transfers.
    raw: Vec<u8>,
}

impl UsbTransport {
    /// Finds the device `selector` names, claims its UART channel and sets it up.
    pub fn open(selector: &UsbSelector, settings: UartSettings) -> anyhow::Result<UsbTransport> {
        let ctx = usb_context()?;
        let found = enumerate_in(&ctx)?;
        let infos: Vec<UsbDeviceInfo> = found.iter().map(|(_, i)| i.clone()).collect();
        let chosen = ftdi::select_device(&infos, selector)?;
        let (device, info) = found
            .into_iter()
            .find(|(_, i)| i == chosen)
            .expect("the chosen device comes from this list");
        let part =
            ftdi::part_for(info.vid, info.pid).expect("select_device returns known parts only");
        Self::open_device(device, &info, part, settings)
    }

    fn open_device(
        device: Device<Context>,
        info: &UsbDeviceInfo,
        part: &'static FtdiPart,
        settings: UartSettings,
    ) -> anyhow::Result<UsbTransport> {
        let label = format!("{} on {}", part.name, info.summary());
        let chip = info.chip().ok_or_else(|| {
            anyhow!(
                "{label}: unknown FTDI chip revision bcdDevice 0x{:04x}",
                info.bcd_device
            )
        })?;
        let baud = ftdi::baud_setting(chip, settings.baud, part.port_index)
            .with_context(|| label.clone())?;
        if settings.latency_ms == 0 {
            bail!("latency timer must be 1-255 ms");
        }

        let handle = device.open().map_err(|e| match e {
            rusb::Error::Access => {
                anyhow!("permission denied opening {label}: {}", permission_hint())
            }
            e => anyhow!("opening {label}: {} ({e})", describe_usb_error(e)),
        })?;
        let config = match device.active_config_descriptor() {
            Ok(c) => c,
            Err(_) => {
                // Unconfigured: take the first configuration, as libftdi does.
                let first = device
                    .config_descriptor(0)
                    .with_context(|| format!("{label}: reading configuration 0"))?;
                handle
                    .set_active_configuration(first.number())
                    .with_context(|| {
                        format!("{label}: setting configuration {}", first.number())
                    })?;
                device
                    .active_config_descriptor()
                    .with_context(|| format!("{label}: reading the configuration"))?
            }
        };
        let endpoints: Vec<EndpointInfo> = config
            .interfaces()
            .find(|i| i.number() == part.interface)
            .and_then(|i| i.descriptors().next())
            .ok_or_else(|| {
                anyhow!(
                    "{label}: has no USB interface {} (the UART channel)",
                    part.interface
                )
            })?
            .endpoint_descriptors()
            .map(|e| EndpointInfo {
                address: e.address(),
                bulk: e.transfer_type() == rusb::TransferType::Bulk,
                max_packet: e.max_packet_size(),
            })
            .collect();
        let endpoints = uart_endpoints(&endpoints)
            .map_err(|e| anyhow!("{label}, interface {}: {e}", part.interface))?;

        // Detach ftdi_sio from our interface only: channel A (and its /dev/ttyUSB) stays.
        let mut reattach_kernel_driver = false;
        if handle.kernel_driver_active(part.interface).unwrap_or(false) {
            handle
                .detach_kernel_driver(part.interface)
                .with_context(|| {
                    format!(
                        "{label}: detaching the kernel driver from interface {}",
                        part.interface
                    )
                })?;
            reattach_kernel_driver = true;
        }
        let mut t = UsbTransport {
            handle,
            interface: part.interface,
            endpoints,
            port_index: part.port_index,
            reattach_kernel_driver,
            label,
            baud,
            raw: vec![0; endpoints.max_packet * PACKETS_PER_READ],
        };
        // From here on Drop gives the interface back.
        t.handle.claim_interface(t.interface).map_err(|e| match e {
            rusb::Error::Busy => anyhow!(
                "{}: interface {} is in use by another program (iceprog? a serial terminal on /dev/ttyUSB*?)",
                t.label,
                t.interface
            ),
            rusb::Error::Access => anyhow!("permission denied claiming {}: {}", t.label, permission_hint()),
            e => anyhow!("{}: claiming interface {}: {}", t.label, t.interface, describe_usb_error(e)),
        })?;
        t.setup(settings)?;
        Ok(t)
    }

    fn vendor_out_raw(&self, request: u8, value: u16, index: u16) -> rusb::Result<()> {
        self.handle
            .write_control(
                ftdi::REQTYPE_OUT,
                request,
                value,
                index,
                &[],
                CONTROL_TIMEOUT,
            )
            .map(|_| ())
    }

    fn vendor_out(&self, request: u8, value: u16, index: u16, what: &str) -> anyhow::Result<()> {
        self.vendor_out_raw(request, value, index).map_err(|e| {
            anyhow!(
                "{}: {what} (FTDI request 0x{request:02x}) failed: {}",
                self.label,
                describe_usb_error(e)
            )
        })
    }

    fn setup(&mut self, settings: UartSettings) -> anyhow::Result<()> {
        let port = self.port_index;
        self.vendor_out(ftdi::SIO_RESET_REQUEST, ftdi::SIO_RESET_SIO, port, "reset")?;
        // Channel B may have been left in a bit-bang/MPSSE mode; put it back to UART.
        // A chip with no bit modes stalls the request (QEMU's FT232 does): it is a
        // UART already, so a stall is not an error here.
        match self.vendor_out_raw(
            ftdi::SIO_SET_BITMODE_REQUEST,
            ftdi::BITMODE_RESET_UART,
            port,
        ) {
            Ok(()) | Err(rusb::Error::Pipe) => {}
            Err(e) => bail!(
                "{}: bit mode reset (FTDI request 0x0b) failed: {}",
                self.label,
                describe_usb_error(e)
            ),
        }
        self.vendor_out(
            ftdi::SIO_SET_BAUDRATE_REQUEST,
            self.baud.value,
            self.baud.index,
            "set baud rate",
        )?;
        self.vendor_out(ftdi::SIO_SET_DATA_REQUEST, ftdi::DATA_8N1, port, "set 8N1")?;
        self.vendor_out(
            ftdi::SIO_SET_FLOW_CTRL_REQUEST,
            0,
            ftdi::FLOW_CTRL_NONE | port,
            "disable flow control",
        )?;
        self.vendor_out(
            ftdi::SIO_SET_LATENCY_TIMER_REQUEST,
            settings.latency_ms as u16,
            port,
            "set latency timer",
        )?;
        self.vendor_out(
            ftdi::SIO_RESET_REQUEST,
            ftdi::SIO_RESET_PURGE_RX,
            port,
            "purge RX",
        )?;
        self.vendor_out(
            ftdi::SIO_RESET_REQUEST,
            ftdi::SIO_RESET_PURGE_TX,
            port,
            "purge TX",
        )?;
        Ok(())
    }

    /// The baud rate the chip really runs at.
    pub fn baud(&self) -> u32 {
        self.baud.actual
    }

    pub fn endpoints(&self) -> UartEndpoints {
        self.endpoints
    }

    /// Time to push `bytes` through the UART at the configured rate (10 bits a byte).
    fn wire_time(&self, bytes: usize) -> Duration {
        Duration::from_micros((bytes as u64 * 10 * 1_000_000) / self.baud.actual.max(1) as u64)
    }
}

/// The receive loop behind `recv`, apart from the USB handle so it can be tested:
/// `read` does one bulk IN transfer into its buffer with a timeout. Status-only
/// packets (a real chip sends one every latency period when it has nothing) do not
/// end the wait; data, the deadline or an error does.
fn receive(
    raw: &mut [u8],
    max_packet: usize,
    buf: &mut Vec<u8>,
    timeout: Duration,
    mut read: impl FnMut(&mut [u8], Duration) -> rusb::Result<usize>,
    label: &str,
) -> anyhow::Result<usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = at_least_1ms(deadline.saturating_duration_since(Instant::now()));
        let n = match read(raw, left) {
            Ok(n) => n,
            Err(rusb::Error::Timeout) => 0,
            Err(e) => bail!("reading from {label}: {}", describe_usb_error(e)),
        };
        let got = ftdi::strip_modem_status(&raw[..n], max_packet, buf)
            .with_context(|| format!("reading from {label}"))?;
        if got > 0 || Instant::now() >= deadline {
            return Ok(got);
        }
    }
}

/// At least 1 ms: rusb turns a 0 ms timeout into "wait forever".
fn at_least_1ms(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

impl Transport for UsbTransport {
    fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let mut sent = 0;
        while sent < bytes.len() {
            let rest = &bytes[sent..];
            // The chip accepts data as fast as its FIFO drains at the baud rate.
            let timeout = Duration::from_millis(1000) + self.wire_time(rest.len()) * 2;
            match self.handle.write_bulk(self.endpoints.ep_out, rest, timeout) {
                Ok(0) => bail!("{}: bulk OUT accepted no data", self.label),
                Ok(n) => sent += n,
                Err(rusb::Error::Timeout) => bail!(
                    "timed out after {timeout:?} writing to {} ({sent} of {} bytes sent): is the board's UART \
                     (bitstream loaded?) reading?",
                    self.label,
                    bytes.len()
                ),
                Err(e) => bail!("writing to {}: {}", self.label, describe_usb_error(e)),
            }
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> anyhow::Result<usize> {
        let (handle, ep_in) = (&self.handle, self.endpoints.ep_in);
        receive(
            &mut self.raw,
            self.endpoints.max_packet,
            buf,
            timeout,
            |raw, left| handle.read_bulk(ep_in, raw, left),
            &self.label,
        )
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}

impl Drop for UsbTransport {
    fn drop(&mut self) {
        let _ = self.handle.release_interface(self.interface);
        if self.reattach_kernel_driver {
            let _ = self.handle.attach_kernel_driver(self.interface);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_come_from_the_descriptors() {
        // The FT2232H's channel B at high speed, as the Alchitry Cu presents it.
        let cu_b = [
            EndpointInfo {
                address: 0x83,
                bulk: true,
                max_packet: 512,
            },
            EndpointInfo {
                address: 0x04,
                bulk: true,
                max_packet: 512,
            },
        ];
        assert_eq!(
            uart_endpoints(&cu_b),
            Ok(UartEndpoints {
                ep_in: 0x83,
                ep_out: 0x04,
                max_packet: 512
            })
        );
        // QEMU's FT232, full speed, OUT listed first.
        let qemu = [
            EndpointInfo {
                address: 0x02,
                bulk: true,
                max_packet: 64,
            },
            EndpointInfo {
                address: 0x81,
                bulk: true,
                max_packet: 64,
            },
        ];
        assert_eq!(
            uart_endpoints(&qemu),
            Ok(UartEndpoints {
                ep_in: 0x81,
                ep_out: 0x02,
                max_packet: 64
            })
        );
        // An interrupt IN endpoint is not the data pipe.
        let odd = [
            EndpointInfo {
                address: 0x81,
                bulk: false,
                max_packet: 8,
            },
            EndpointInfo {
                address: 0x02,
                bulk: true,
                max_packet: 64,
            },
        ];
        assert!(uart_endpoints(&odd).is_err());
        assert!(uart_endpoints(&[]).is_err());
    }

    #[test]
    fn bcd_device_round_trips_through_rusb_version() {
        for raw in [0x0200u16, 0x0400, 0x0500, 0x0700, 0x0900, 0x1000] {
            assert_eq!(bcd_device(rusb::Version::from_bcd(raw)), raw);
        }
    }

    /// A fake bulk IN endpoint: each call hands out the next canned transfer.
    fn canned(
        transfers: Vec<rusb::Result<Vec<u8>>>,
    ) -> impl FnMut(&mut [u8], Duration) -> rusb::Result<usize> {
        let mut it = transfers.into_iter();
        move |raw, left| {
            assert!(
                left >= Duration::from_millis(1),
                "never a 0 ms (= endless) timeout"
            );
            match it.next() {
                Some(Ok(t)) => {
                    raw[..t.len()].copy_from_slice(&t);
                    Ok(t.len())
                }
                Some(Err(e)) => Err(e),
                None => {
                    // Like a real chip with nothing to say: a status-only packet
                    // each latency period.
                    std::thread::sleep(Duration::from_millis(1));
                    raw[..2].copy_from_slice(&[0x01, 0x60]);
                    Ok(2)
                }
            }
        }
    }

    #[test]
    fn receive_waits_through_status_only_packets() {
        let mut raw = vec![0; 512 * 8];
        let mut buf = Vec::new();
        let read = canned(vec![
            Ok(vec![0x01, 0x60]),
            Ok(vec![0x01, 0x60]),
            Ok(vec![0x01, 0x60, 0xc0, 0x05]),
        ]);
        let n = receive(
            &mut raw,
            512,
            &mut buf,
            Duration::from_secs(5),
            read,
            "board",
        )
        .unwrap();
        assert_eq!((n, buf.as_slice()), (2, &[0xc0, 0x05][..]));

        // Nothing but status packets: 0 once the time is up, and not much later.
        let started = Instant::now();
        let n = receive(
            &mut raw,
            512,
            &mut buf,
            Duration::from_millis(30),
            canned(vec![]),
            "board",
        )
        .unwrap();
        assert_eq!(n, 0);
        assert!(started.elapsed() >= Duration::from_millis(30));

        // A libusb timeout is "nothing yet", not an error.
        let read = canned(vec![Err(rusb::Error::Timeout), Ok(vec![0x01, 0x60, 7])]);
        assert_eq!(
            receive(
                &mut raw,
                64,
                &mut buf,
                Duration::from_secs(5),
                read,
                "board"
            )
            .unwrap(),
            1
        );
        assert_eq!(buf.last(), Some(&7));
    }

    #[test]
    fn receive_errors_name_the_device() {
        let mut raw = vec![0; 64 * 8];
        let mut buf = vec![1, 2];
        let e = receive(
            &mut raw,
            64,
            &mut buf,
            Duration::from_secs(1),
            canned(vec![Err(rusb::Error::NoDevice)]),
            "Alchitry Cu on USB 1:7",
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("Alchitry Cu on USB 1:7")
                && format!("{e:#}").contains("unplugged"),
            "{e:#}"
        );
        // A framing error in the line status: an error, and nothing appended.
        let e = receive(
            &mut raw,
            64,
            &mut buf,
            Duration::from_secs(1),
            canned(vec![Ok(vec![0x01, 0x68, 9, 9])]),
            "board",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("framing error"), "{e:#}");
        assert_eq!(buf, vec![1, 2]);
    }

    #[test]
    fn zero_timeouts_never_mean_forever() {
        assert_eq!(at_least_1ms(Duration::ZERO), Duration::from_millis(1));
        assert_eq!(
            at_least_1ms(Duration::from_millis(5)),
            Duration::from_millis(5)
        );
    }
}
