//! Fuzz target `main_cf`: a Postfix main.cf (seed 003) with the files of its
//! bundle, converted to smx.conf and maps; see `smx_migrate::fuzz::main_cf`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smx_migrate::fuzz::main_cf(data);
});
