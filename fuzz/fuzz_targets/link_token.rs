//! Link token verification (src/crypto/link_token.rs): any string from a URL. Whatever verifies
//! must be exactly the token the ring would sign for its claims (no second encoding of a valid
//! token), and a token signed for fuzzed claims must verify to them.
#![no_main]

use std::sync::LazyLock;

use consilium::crypto::keyring::{KekId, KeyRing};
use consilium::crypto::{sign_link_token, verify_link_token};
use libfuzzer_sys::fuzz_target;

static RING: LazyLock<KeyRing> = LazyLock::new(|| {
    KeyRing::new(
        KekId::parse("k2").unwrap(),
        vec![
            (KekId::parse("k1").unwrap(), [1; 32]),
            (KekId::parse("k2").unwrap(), [2; 32]),
        ],
    )
    .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(claims) = verify_link_token(&RING, token) {
        if claims.kek_id == *RING.active_id() {
            assert_eq!(
                sign_link_token(&RING, claims.link_id, claims.expires_at),
                token,
                "a second encoding of a valid token verified"
            );
        }
    }
    if let Some(raw) = data.get(..24) {
        let link_id: [u8; 16] = raw[..16].try_into().unwrap();
        let expires_at = i64::from_be_bytes(raw[16..24].try_into().unwrap());
        let signed = sign_link_token(&RING, link_id, expires_at);
        let claims = verify_link_token(&RING, &signed).expect("a signed token verifies");
        assert_eq!((claims.link_id, claims.expires_at), (link_id, expires_at));
    }
});
