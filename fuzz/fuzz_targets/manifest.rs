#![no_main]

use libfuzzer_sys::fuzz_target;
use sigward_oci::manifest::Manifest;

fuzz_target!(|bytes: &[u8]| {
    if let Ok((m, media_type)) = Manifest::parse(bytes, None) {
        let printed = match &m {
            Manifest::Image(image) => serde_json::to_vec(image),
            Manifest::Index(index) => serde_json::to_vec(index),
        }
        .expect("a parsed manifest serialises");
        let reparsed = Manifest::parse(&printed, Some(&media_type)).map(|(m, _)| m);
        assert_eq!(reparsed.as_ref(), Ok(&m));
    }
});
