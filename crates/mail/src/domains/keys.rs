//! DKIM keys for a sending domain: RSA-2048 (what every receiver verifies; Yahoo asks for
//! at least 1024 bits and recommends 2048) and optionally Ed25519 as a second signature
//! (RFC 8463; receivers that do not know it ignore it).
//!
//! `ring` signs but cannot make RSA keys, so the RSA crate makes them, once per domain;
//! only `ring` ever signs with them. The private halves are stored sealed with the master
//! key; the public halves are what the DNS records publish.

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use ring::{rand::SystemRandom, signature::Ed25519KeyPair};
use rsa::{pkcs1::EncodeRsaPrivateKey, pkcs8::EncodePublicKey};

use crate::dkim::{self, DkimError};

pub const RSA_BITS: usize = 2048;

/// A new key: its private half (DER, base64: PKCS#1 for RSA, PKCS#8 for Ed25519) and the
/// public half as the DKIM record's `p=`.
pub struct NewKey {
    pub private_b64: String,
    pub public_b64: String,
}

/// A new RSA-2048 key. Takes a moment: call it off the async threads.
pub fn rsa() -> Result<NewKey, DkimError> {
    let key = rsa::PrivateKey::new(&mut rand::rng(), RSA_BITS)
        .map_err(|e| DkimError::Key(e.to_string()))?;
    let private = key
        .to_pkcs1_der()
        .map_err(|e| DkimError::Key(e.to_string()))?;
    let public = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| DkimError::Key(e.to_string()))?;
    // What `ring` will sign with must load now, not at the first send.
    dkim::Key::rsa(private.as_bytes())?;
    Ok(NewKey {
        private_b64: B64.encode(private.as_bytes()),
        public_b64: B64.encode(public.as_bytes()),
    })
}

pub fn ed25519() -> Result<NewKey, DkimError> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|e| DkimError::Key(e.to_string()))?;
    Ok(NewKey {
        public_b64: dkim::ed25519_public(pkcs8.as_ref())?,
        private_b64: B64.encode(pkcs8.as_ref()),
    })
}

/// The signing key from its stored private half.
pub fn load(rsa: bool, private_b64: &str) -> Result<dkim::Key, DkimError> {
    let der = B64
        .decode(private_b64)
        .map_err(|e| DkimError::Key(e.to_string()))?;
    if rsa {
        dkim::Key::rsa(&der)
    } else {
        dkim::Key::ed25519(&der)
    }
}

#[cfg(test)]
mod tests {
    use ring::signature::{self, UnparsedPublicKey};

    use super::*;

    #[test]
    fn a_new_rsa_key_signs_and_its_published_half_verifies() {
        let key = rsa().expect("key");
        let signer = load(true, &key.private_b64).expect("load");
        let dkim::Key::Rsa(pair) = &signer else {
            panic!("not RSA")
        };
        assert_eq!(pair.public().modulus_len() * 8, RSA_BITS);
        let mut sig = vec![0u8; pair.public().modulus_len()];
        pair.sign(
            &signature::RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            b"data",
            &mut sig,
        )
        .expect("sign");
        // The published SPKI holds the PKCS#1 public key in its bit string: its last
        // `len` bytes are what ring verifies against.
        let spki = B64.decode(&key.public_b64).expect("b64");
        let pkcs1 = pair.public().as_ref();
        assert!(spki.ends_with(pkcs1));
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, pkcs1)
            .verify(b"data", &sig)
            .expect("verifies");
    }

    #[test]
    fn an_ed25519_key_publishes_its_raw_32_bytes() {
        let key = ed25519().expect("key");
        assert_eq!(B64.decode(&key.public_b64).expect("b64").len(), 32);
        assert!(load(false, &key.private_b64).is_ok());
        assert!(load(false, "not base64!").is_err());
    }
}
