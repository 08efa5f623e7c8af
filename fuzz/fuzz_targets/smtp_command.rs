//! Fuzz target `smtp_command`: every line of the input through the SMTP
//! command parser and the MAIL/RCPT path and parameter parsers (RFC 5321
//! §4.1); see `smxd::fuzz::smtp_command`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smxd::fuzz::smtp_command(data);
});
