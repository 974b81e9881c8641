#![no_main]

use libfuzzer_sys::fuzz_target;
use sigward_verify::payload::SimpleSigningPayload;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(p) = SimpleSigningPayload::parse(bytes) {
        assert_eq!(SimpleSigningPayload::parse(&p.to_bytes()).as_ref(), Ok(&p));
    }
});
