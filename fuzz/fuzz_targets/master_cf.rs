//! Fuzz target `master_cf`: a Postfix master.cf (master(5)) read into
//! services; see `smx_migrate::fuzz::master_cf`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smx_migrate::fuzz::master_cf(data);
});
