//! Fuzz target `sendmail_mc`: a sendmail.mc (seed 001) with the files of its
//! bundle, converted to smx.conf and maps; see
//! `smx_migrate::fuzz::sendmail_mc`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smx_migrate::fuzz::sendmail_mc(data);
});
