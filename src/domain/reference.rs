//! Case references shown to patients: `SMO-` and two groups of four Crockford base32 characters.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

/// Crockford's base32 alphabet: no I, L, O or U, so a reference read out by phone is unambiguous.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference(String);

impl Reference {
    /// A random reference (40 bits), not derived from time or sequence.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 8];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system random source failed");
        let chars: Vec<char> = bytes
            .iter()
            .map(|b| char::from(CROCKFORD[usize::from(b & 31)]))
            .collect();
        let first: String = chars[..4].iter().collect();
        let second: String = chars[4..].iter().collect();
        Self(format!("SMO-{first}-{second}"))
    }

    /// Parses a reference typed by a person: case-insensitive, with Crockford's
    /// substitutions (O→0, I/L→1).
    pub fn parse(raw: &str) -> Option<Self> {
        let upper = raw.trim().to_ascii_uppercase();
        let rest = upper.strip_prefix("SMO-")?;
        let (a, b) = rest.split_once('-')?;
        if a.len() != 4 || b.len() != 4 {
            return None;
        }
        let normalise = |s: &str| -> Option<String> {
            s.chars()
                .map(|c| match c {
                    'O' => Some('0'),
                    'I' | 'L' => Some('1'),
                    c if CROCKFORD.contains(&(c as u8)) && c.is_ascii() => Some(c),
                    _ => None,
                })
                .collect()
        };
        Some(Self(format!("SMO-{}-{}", normalise(a)?, normalise(b)?)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_references_have_the_documented_shape() {
        for _ in 0..200 {
            let r = Reference::generate();
            let s = r.as_str();
            assert_eq!(s.len(), 13);
            assert!(s.starts_with("SMO-"));
            assert_eq!(&s[8..9], "-");
            assert!(
                s[4..8]
                    .chars()
                    .chain(s[9..].chars())
                    .all(|c| CROCKFORD.contains(&(c as u8)))
            );
            assert_eq!(Reference::parse(s), Some(r));
        }
    }

    #[test]
    fn references_are_not_sequential() {
        let a = Reference::generate();
        let b = Reference::generate();
        assert_ne!(a, b);
    }

    #[test]
    fn parse_accepts_what_people_type() {
        assert_eq!(
            Reference::parse(" smo-7k3f-9qxo ").unwrap().as_str(),
            "SMO-7K3F-9QX0"
        );
        assert_eq!(Reference::parse("SMO-7K3F-9QX"), None);
        assert_eq!(Reference::parse("ABC-7K3F-9QX2"), None);
        assert_eq!(Reference::parse("SMO-7K3F-9QU2"), None);
    }
}
