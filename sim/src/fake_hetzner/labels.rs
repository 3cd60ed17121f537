//! Hetzner's label rules and label-selector language, so the fake validates labels and filters
//! `GET /servers?label_selector=…` exactly as the control plane will see the real API do.
//!
//! Labels: key = optional DNS-subdomain prefix + `/` + name (≤ 63 bytes, alphanumeric at both
//! ends, `-_.` inside); value = empty or the same shape as a name.
//!
//! Selectors (comma = AND): `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`.
//! `!=` and `notin` also match objects without the key (as in Kubernetes, whose selector syntax
//! Hetzner adopted). Whitespace around tokens is allowed. [`Selector`]'s `Display` is canonical
//! (no optional spaces, `==` written `=`), and parsing it gives the same selector back.

use std::collections::BTreeMap;
use std::fmt;

/// A server's labels.
pub type Labels = BTreeMap<String, String>;

const MAX_NAME: usize = 63;
const MAX_PREFIX: usize = 253;

/// Why a label key is invalid, or `Ok`.
pub fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() || prefix.len() > MAX_PREFIX {
            return Err(format!(
                "label key {key:?}: prefix must be 1 to {MAX_PREFIX} characters"
            ));
        }
        if !prefix.split('.').all(is_dns_label) {
            return Err(format!("label key {key:?}: prefix must be a DNS subdomain"));
        }
    }
    if name.is_empty() {
        return Err(format!("label key {key:?}: name must not be empty"));
    }
    if !is_label_word(name) {
        return Err(format!(
            "label key {key:?}: name must be at most {MAX_NAME} characters, start and end with a \
             letter or digit, and contain only letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// Why a label value is invalid, or `Ok`. Empty values are allowed.
pub fn validate_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_word(value) {
        Ok(())
    } else {
        Err(format!(
            "label value {value:?}: must be empty or at most {MAX_NAME} characters, start and end \
             with a letter or digit, and contain only letters, digits, '-', '_' and '.'"
        ))
    }
}

/// Every problem with a set of labels (empty when valid).
pub fn validate_labels(labels: &Labels) -> Vec<String> {
    labels
        .iter()
        .flat_map(|(k, v)| [validate_key(k).err(), validate_value(v).err()])
        .flatten()
        .collect()
}

fn is_label_word(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
}

/// One condition of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// `k=v` or `k==v`.
    Equals { key: String, value: String },
    /// `k!=v`: the key is absent or has another value.
    NotEquals { key: String, value: String },
    /// `k`.
    Exists { key: String },
    /// `!k`.
    NotExists { key: String },
    /// `k in (a,b)`.
    In { key: String, values: Vec<String> },
    /// `k notin (a,b)`: the key is absent or has none of the values.
    NotIn { key: String, values: Vec<String> },
}

impl Requirement {
    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::Equals { key, value } => labels.get(key) == Some(value),
            Requirement::NotEquals { key, value } => labels.get(key) != Some(value),
            Requirement::Exists { key } => labels.contains_key(key),
            Requirement::NotExists { key } => !labels.contains_key(key),
            Requirement::In { key, values } => labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn { key, values } => {
                labels.get(key).is_none_or(|v| !values.contains(v))
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Equals { key, value } => write!(f, "{key}={value}"),
            Requirement::NotEquals { key, value } => write!(f, "{key}!={value}"),
            Requirement::Exists { key } => write!(f, "{key}"),
            Requirement::NotExists { key } => write!(f, "!{key}"),
            Requirement::In { key, values } => write!(f, "{key} in ({})", values.join(",")),
            Requirement::NotIn { key, values } => write!(f, "{key} notin ({})", values.join(",")),
        }
    }
}

/// A parsed label selector: every requirement must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

impl Selector {
    pub fn parse(input: &str) -> Result<Selector, SelectorError> {
        Parser { input, pos: 0 }.selector()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

/// A malformed selector: where parsing stopped and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector at byte {at}: {reason}")]
pub struct SelectorError {
    pub at: usize,
    pub reason: String,
}

/// A recursive-descent parser over the selector's bytes. Every loop consumes at least one byte
/// per iteration, so parsing is linear in the input.
struct Parser<'a> {
    input: &'a str,
    pos: usize,
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/')
}

fn is_value_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

impl<'a> Parser<'a> {
    fn selector(mut self) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            self.skip_ws();
            requirements.push(self.requirement()?);
            self.skip_ws();
            match self.peek() {
                None => break,
                Some(b',') => self.pos += 1,
                Some(_) => return Err(self.error("expected ',' or the end of the selector")),
            }
        }
        Ok(Selector { requirements })
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        if self.eat("!") {
            self.skip_ws();
            let key = self.key()?;
            return Ok(Requirement::NotExists { key });
        }
        let key = self.key()?;
        let skipped = self.skip_ws();
        if self.eat("==") || self.eat("=") {
            self.skip_ws();
            let value = self.value()?;
            return Ok(Requirement::Equals { key, value });
        }
        if self.eat("!=") {
            self.skip_ws();
            let value = self.value()?;
            return Ok(Requirement::NotEquals { key, value });
        }
        if skipped > 0 {
            if self.keyword("notin") {
                let values = self.set()?;
                return Ok(Requirement::NotIn { key, values });
            }
            if self.keyword("in") {
                let values = self.set()?;
                return Ok(Requirement::In { key, values });
            }
        }
        Ok(Requirement::Exists { key })
    }

    /// `word` followed by whitespace or `(`.
    fn keyword(&mut self, word: &str) -> bool {
        let rest = &self.input.as_bytes()[self.pos..];
        if rest.starts_with(word.as_bytes())
            && rest
                .get(word.len())
                .is_some_and(|&b| b == b'(' || b.is_ascii_whitespace())
        {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn set(&mut self) -> Result<Vec<String>, SelectorError> {
        self.skip_ws();
        if !self.eat("(") {
            return Err(self.error("expected '(' to open a set of values"));
        }
        let mut values = Vec::new();
        loop {
            self.skip_ws();
            let at = self.pos;
            let value = self.value()?;
            if value.is_empty() {
                return Err(SelectorError {
                    at,
                    reason: "expected a value in the set".into(),
                });
            }
            values.push(value);
            self.skip_ws();
            if self.eat(")") {
                return Ok(values);
            }
            if !self.eat(",") {
                return Err(self.error("expected ',' or ')' in a set of values"));
            }
        }
    }

    fn key(&mut self) -> Result<String, SelectorError> {
        let at = self.pos;
        let key = self.take_while(is_key_byte);
        if key.is_empty() {
            return Err(self.error("expected a label key"));
        }
        validate_key(key).map_err(|reason| SelectorError { at, reason })?;
        Ok(key.to_string())
    }

    /// A possibly empty value.
    fn value(&mut self) -> Result<String, SelectorError> {
        let at = self.pos;
        let value = self.take_while(is_value_byte);
        validate_value(value).map_err(|reason| SelectorError { at, reason })?;
        Ok(value.to_string())
    }

    fn take_while(&mut self, pred: fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(pred) {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    fn skip_ws(&mut self) -> usize {
        self.take_while(|b| b.is_ascii_whitespace()).len()
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.input.as_bytes()[self.pos..].starts_with(token.as_bytes()) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.as_bytes().get(self.pos).copied()
    }

    fn error(&self, reason: &str) -> SelectorError {
        SelectorError {
            at: self.pos,
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn each_selector_form_filters_as_documented() {
        let web = labels(&[("role", "web"), ("fleet.example/user", "u1")]);
        let db = labels(&[("role", "db")]);
        let bare = labels(&[]);
        let cases: &[(&str, [bool; 3])] = &[
            ("role=web", [true, false, false]),
            ("role==web", [true, false, false]),
            ("role!=web", [false, true, true]),
            ("role", [true, true, false]),
            ("!role", [false, false, true]),
            ("role in (web,db)", [true, true, false]),
            ("role in (cache)", [false, false, false]),
            ("role notin (web)", [false, true, true]),
            ("fleet.example/user=u1", [true, false, false]),
            ("role=web, fleet.example/user", [true, false, false]),
            ("role, !fleet.example/user", [false, true, false]),
            ("  role  in  ( web , db ) ,!missing ", [true, true, false]),
        ];
        for (selector, expected) in cases {
            let s = sel(selector);
            let got = [s.matches(&web), s.matches(&db), s.matches(&bare)];
            assert_eq!(&got, expected, "{selector}");
        }
    }

    #[test]
    fn an_empty_value_is_a_value() {
        let s = sel("role=");
        assert!(s.matches(&labels(&[("role", "")])));
        assert!(!s.matches(&labels(&[("role", "x")])));
    }

    #[test]
    fn malformed_selectors_are_rejected() {
        for bad in [
            "",
            ",",
            "role=web,",
            "=web",
            "role=web=db",
            "role in web",
            "role in ()",
            "role in (web",
            "role in (web,)",
            "role notin",
            "!",
            "!role=web",
            "-role",
            "role=-web",
            "role=web db",
            "a/b/c",
            "role==(web)",
            "role@x",
            &"k".repeat(64),
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn label_rules() {
        assert!(validate_key("role").is_ok());
        assert!(validate_key("fleet.example.com/machine-id").is_ok());
        assert!(validate_key("a_b.c-d").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("/role").is_err());
        assert!(validate_key("-role").is_err());
        assert!(validate_key("role-").is_err());
        assert!(validate_key("Fleet-Example.com/role").is_ok());
        assert!(validate_key("bad_prefix/role").is_err());
        assert!(validate_key(&"r".repeat(64)).is_err());
        assert!(validate_value("").is_ok());
        assert!(validate_value("v1.2_3-x").is_ok());
        assert!(validate_value("with space").is_err());
        assert!(validate_value(&"v".repeat(64)).is_err());
        assert_eq!(
            validate_labels(&labels(&[("ok", "ok"), ("bad key", "bad value")])).len(),
            2
        );
    }

    fn key_strategy() -> impl Strategy<Value = String> {
        let name = "[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,8}[a-zA-Z0-9])?";
        let prefix = "[a-z0-9]{1,6}(\\.[a-z0-9]{1,6}){0,2}";
        (proptest::option::of(prefix), name).prop_map(|(prefix, name)| match prefix {
            Some(p) => format!("{p}/{name}"),
            None => name,
        })
    }

    fn value_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,8}[a-zA-Z0-9])?"
        ]
    }

    fn set_strategy() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec("[a-z0-9]([a-z0-9_.-]{0,4}[a-z0-9])?", 1..4)
    }

    fn requirement_strategy() -> impl Strategy<Value = Requirement> {
        prop_oneof![
            (key_strategy(), value_strategy())
                .prop_map(|(key, value)| Requirement::Equals { key, value }),
            (key_strategy(), value_strategy())
                .prop_map(|(key, value)| Requirement::NotEquals { key, value }),
            key_strategy().prop_map(|key| Requirement::Exists { key }),
            key_strategy().prop_map(|key| Requirement::NotExists { key }),
            (key_strategy(), set_strategy())
                .prop_map(|(key, values)| Requirement::In { key, values }),
            (key_strategy(), set_strategy())
                .prop_map(|(key, values)| Requirement::NotIn { key, values }),
        ]
    }

    fn selector_strategy() -> impl Strategy<Value = Selector> {
        proptest::collection::vec(requirement_strategy(), 1..5)
            .prop_map(|requirements| Selector { requirements })
    }

    fn labels_strategy() -> impl Strategy<Value = Labels> {
        proptest::collection::btree_map(key_strategy(), value_strategy(), 0..5)
    }

    proptest! {
        #[test]
        fn display_then_parse_gives_the_same_selector(s in selector_strategy()) {
            let text = s.to_string();
            prop_assert_eq!(Selector::parse(&text), Ok(s), "{}", text);
        }

        #[test]
        fn optional_whitespace_does_not_change_the_meaning(
            s in selector_strategy(),
            l in labels_strategy(),
        ) {
            let spaced = s
                .to_string()
                .replace(',', " , ")
                .replace('(', "( ")
                .replace(')', " )")
                .replace("!=", " != ");
            let reparsed = Selector::parse(&format!("  {spaced}  ")).unwrap();
            prop_assert_eq!(&reparsed, &s);
            prop_assert_eq!(reparsed.matches(&l), s.matches(&l));
        }

        #[test]
        fn a_selector_of_a_label_sets_own_pairs_matches_it(l in labels_strategy()) {
            prop_assume!(!l.is_empty());
            let text = l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            prop_assert!(Selector::parse(&text).unwrap().matches(&l));
            for key in l.keys() {
                let negated = format!("!{key}");
                prop_assert!(!Selector::parse(&negated).unwrap().matches(&l));
                prop_assert!(Selector::parse(key).unwrap().matches(&l));
            }
        }

        #[test]
        fn negations_are_complements(r in requirement_strategy(), l in labels_strategy()) {
            let negated = match r.clone() {
                Requirement::Equals { key, value } => Requirement::NotEquals { key, value },
                Requirement::NotEquals { key, value } => Requirement::Equals { key, value },
                Requirement::Exists { key } => Requirement::NotExists { key },
                Requirement::NotExists { key } => Requirement::Exists { key },
                Requirement::In { key, values } => Requirement::NotIn { key, values },
                Requirement::NotIn { key, values } => Requirement::In { key, values },
            };
            prop_assert_ne!(r.matches(&l), negated.matches(&l));
        }

        #[test]
        fn arbitrary_input_never_panics(input in "\\PC{0,40}") {
            let _ = Selector::parse(&input);
        }

        #[test]
        fn a_forbidden_character_anywhere_is_rejected(
            s in selector_strategy(),
            at in any::<proptest::sample::Index>(),
            bad in prop_oneof![Just('@'), Just('"'), Just(';'), Just('*'), Just('#')],
        ) {
            let mut text = s.to_string();
            let i = at.index(text.len() + 1);
            text.insert(i, bad);
            prop_assert!(Selector::parse(&text).is_err(), "{}", text);
        }
    }
}
