//! Fuzz target `smx_conf`: arbitrary bytes (as lossy UTF-8) read as smx.conf
//! (sendmail X README §3.2 syntax), then written back with `show` and read
//! again; see `smx_grammar::fuzz_check`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smx_grammar::fuzz_check(data);
});
