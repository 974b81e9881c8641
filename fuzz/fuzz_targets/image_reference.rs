#![no_main]

use libfuzzer_sys::fuzz_target;
use sigward_oci::ImageReference;

fuzz_target!(|s: &str| {
    if let Ok(r) = ImageReference::parse(s) {
        assert_eq!(ImageReference::parse(&r.to_string()).as_ref(), Ok(&r));
    }
    if let Ok(r) = ImageReference::parse_strict(s) {
        assert_eq!(
            ImageReference::parse_strict(&r.to_string()).as_ref(),
            Ok(&r)
        );
    }
    let _ = ImageReference::parse_any(s);
    let _ = ImageReference::parse_docker_ref(s);
});
