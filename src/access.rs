//! Who may call what: the tier (key tier or licence, `x-vt-tier`) and the permission class
//! (`x-vt-permission`) of an operation or tool. Both are types, not strings: a tier is one of
//! the names in `spec/tiers.rs` (the one list), checked when the table and the tools are
//! compiled, and a permission is one of three variants.

use std::fmt;

/// Every tier and licence, from the most to the least widely available (`spec/tiers.rs`).
pub const TIERS: &[&str] = include!("../spec/tiers.rs");

/// A key tier or licence: an index into [`TIERS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tier(u8);

impl Tier {
    /// Any key.
    pub const PUBLIC: Tier = Tier::named("public");
    /// A premium key.
    pub const PREMIUM: Tier = Tier::named("premium");
    /// A Google Threat Intelligence licence.
    pub const GTI: Tier = Tier::named("gti");

    /// The tier called `name`; a name not in [`TIERS`] fails to compile in a constant (the
    /// generated operation table and the composite tools are constants) and panics elsewhere.
    pub const fn named(name: &str) -> Tier {
        let mut i = 0;
        while i < TIERS.len() {
            if eq(TIERS[i].as_bytes(), name.as_bytes()) {
                return Tier(i as u8);
            }
            i += 1;
        }
        panic!("not a tier of spec/tiers.rs")
    }

    /// The tier called `name`, if there is one.
    pub fn parse(name: &str) -> Option<Tier> {
        TIERS.iter().position(|t| *t == name).map(|i| Tier(i as u8))
    }

    /// Its name, as in `x-vt-tier`.
    pub fn as_str(self) -> &'static str {
        TIERS[self.0 as usize]
    }
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Tier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What a call does, and so what the server must be allowed to do for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Reads.
    Read,
    /// Sends content to VirusTotal, where others can see it (`--allow-submit`).
    Submit,
    /// Creates, changes or deletes something (`--allow-write`).
    Write,
}

impl Permission {
    /// Its name, as in `x-vt-permission`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Submit => "submit",
            Permission::Write => "write",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_round_trip_through_their_names() {
        for name in TIERS {
            assert_eq!(Tier::parse(name).unwrap().as_str(), *name);
            assert_eq!(Tier::named(name).as_str(), *name);
        }
        assert_eq!(Tier::parse("gold"), None);
        assert_eq!(Tier::PUBLIC.as_str(), "public");
    }
}
