//! Fuzz target `smtp_session`: the input as a client's bytes in a whole
//! SMTP session over an in-memory pipe (DATA, BDAT, pipelining; README
//! §3.10); see `smxd::fuzz::smtp_session`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smxd::fuzz::smtp_session(data);
});
