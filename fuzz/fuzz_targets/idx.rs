//! IDX files, raw and gzip-compressed: arbitrary bytes through the header checks and the
//! bounded body read. Nothing may panic or allocate beyond the 1 GiB limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.idx");
    if let Ok(a) = nn::data::parse_idx(path, data) {
        assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
    }
    if let Ok(a) = nn::data::parse_idx_gz(path, data) {
        assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
    }
});
