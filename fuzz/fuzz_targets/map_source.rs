//! Fuzz target `map_source`: the input as a text map source (README §3.9.3)
//! in both conventions, through the parser of every map kind (access,
//! aliases, mailertable, qmgr_conf, passwords, plain) and texthash; see
//! `smx_maps::fuzz::map_source`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smx_maps::fuzz::map_source(data);
});
