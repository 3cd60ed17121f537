//! Durations in scenario files: `"90s"`, `"15m"`, `"2h"`, `"1d"` or sums like `"1h30m"`.
//! A string, never a bare number, so a file never leaves its unit to be guessed.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest duration any scenario field accepts (a week of simulated time).
pub const MAX: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub Duration);

impl SimDuration {
    pub fn secs(s: u64) -> Self {
        SimDuration(Duration::from_secs(s))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration (write e.g. \"90s\", \"15m\", \"2h\")".into());
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                if digits.len() >= 9 {
                    return Err(format!("duration {text:?} is too long"));
                }
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => {
                    return Err(format!(
                        "duration {text:?}: unknown unit {c:?} (use s, m, h or d)"
                    ));
                }
            };
            if digits.is_empty() {
                return Err(format!("duration {text:?}: unit {c:?} without a number"));
            }
            let n: u64 = digits.parse().map_err(|_| format!("duration {text:?}"))?;
            digits.clear();
            total = total.saturating_add(n.saturating_mul(unit));
        }
        if !digits.is_empty() {
            return Err(format!(
                "duration {text:?}: number without a unit (write e.g. \"{digits}s\")"
            ));
        }
        let d = Duration::from_secs(total);
        if d > MAX {
            return Err(format!("duration {text:?} exceeds the 7-day maximum"));
        }
        Ok(SimDuration(d))
    }

    /// The canonical text: the largest unit that divides the duration exactly.
    pub fn encode(&self) -> String {
        let s = self.0.as_secs();
        match s {
            0 => "0s".into(),
            s if s % 86_400 == 0 => format!("{}d", s / 86_400),
            s if s % 3600 == 0 => format!("{}h", s / 3600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        }
    }
}

impl Serialize for SimDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for SimDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SimDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_sums() {
        assert_eq!(SimDuration::parse("90s").unwrap().0.as_secs(), 90);
        assert_eq!(SimDuration::parse("1h30m").unwrap().0.as_secs(), 5400);
        assert_eq!(SimDuration::parse("2d").unwrap().encode(), "2d");
        assert!(SimDuration::parse("10").is_err());
        assert!(SimDuration::parse("5x").is_err());
        assert!(SimDuration::parse("8d").is_err());
        assert!(SimDuration::parse("h").is_err());
    }
}
