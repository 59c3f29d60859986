//! The fixed verify session (`portshare_sim::verify`, what `portshare build --verify`
//! runs through the bitstream; tests/build.rs runs it there): its table and frames.
//! (The 64-entry board netlist's run of the session at its UART pins is written but
//! not in this commit: it was not seen to pass within the session's time.)

use portshare_sim::verify;

/// The session's table has what it promises: IPv4 and IPv6 entries, bytes SLIP must
/// escape, entries the frames hit in both directions.
#[test]
fn the_verify_session_table_and_frames_cover_what_it_claims() {
    let frames = verify::frames().unwrap();
    assert!(frames.len() >= 50);
    let slots = verify::table(&frames, 64);
    assert_eq!(slots.len(), 64);
    assert!(slots.iter().any(|s| s.ipv4) && slots.iter().any(|s| !s.ipv4));
    let records: Vec<u8> = slots.iter().flat_map(|s| s.to_record()).collect();
    assert!(records.contains(&0xC0) && records.contains(&0xDB));
    for dir in [portshare_host::Direction::Incoming, portshare_host::Direction::Outgoing] {
        let rewritten = frames
            .iter()
            .filter(|(f, d)| *d == dir && matches!(portshare_sim::model::process_frame(f, dir, &slots).outcome, portshare_sim::model::Outcome::Rewritten { .. }))
            .count();
        assert!(rewritten >= 5, "{dir}: {rewritten} frames rewritten");
    }
}
