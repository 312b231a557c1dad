//! Random bytes through the header parser, the token decoder, jsonwebtoken's validation and the
//! claim rules: never a panic, always a catalogue code.
#![no_main]

use funcgate::__private::{Rules, Signer, parse, rs256_key, token_from_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    let Ok(token) = token_from_header(Some(&header)) else {
        return;
    };
    let Ok(parsed) = parse(token) else {
        return;
    };
    let rules = Rules::single(vec!["api://app".into()], 300);
    let signer = Signer {
        metadata_issuer: "https://login.example/11111111-2222-4333-8444-555555555555/v2.0",
        key_issuer: None,
    };
    // A 2048-bit key nothing is signed with: every input goes through the crate's decode.
    let Ok(key) = rs256_key(&[0xC5; 256], &[1, 0, 1]) else {
        return;
    };
    let _ = parsed.validate(&key, &rules, signer, 1_800_000_000);
});
