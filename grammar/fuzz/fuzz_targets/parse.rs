//! Fuzz target: arbitrary bytes (as lossy UTF-8) through `check_str`, then
//! `show` and a re-read; see `smx_grammar::fuzz_check`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smx_grammar::fuzz_check(data);
});
