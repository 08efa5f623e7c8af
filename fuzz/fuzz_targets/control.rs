//! Fuzz target `control`: the input as a client's bytes on the control socket
//! (smx-control(5)), as response and event lines, and as glob pairs; see
//! `smx_control::fuzz::control`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smx_control::fuzz::control(data);
});
