//! Fault injection: the failures the simulated world can be told to produce.
//!
//! A fault is one line of text, so the same spelling works in a `--fault` flag, in a script
//! and over HTTP (`POST /_sim/faults`). Tokens are separated by `:`.
//!
//! ```text
//! fault       = http-fault | cvm-fault
//! http-fault  = scope *(":" filter) ":" effect *(":" option)     (filters, effect and options in any order)
//! scope       = "phala"            the Phala Cloud API (/api/v1/...)
//!             | "gateway"          what the gateway serves (log endpoints, later app ports)
//! filter      = method             get | post | put | patch | delete   (default: any method)
//!             | "path=" glob       path below the scope, "*" = one segment, trailing "**" = the rest,
//!                                  e.g. path=/cvms/*/composition
//! effect      = "status=" code     answer with this HTTP status and a FastAPI-style body
//!             | "drop"             close the connection without answering
//!             | "slow=" duration   answer only after this delay (e.g. 500ms, 2s, 1m)
//! option      = "times=" n         fire n times, then disappear (default: until cleared)
//!             | "skip=" n          let the first n matching requests through
//!             | "after"            process the request first, then fail the answer
//!                                  (status= and drop only: "applied, but the answer was lost")
//! cvm-fault   = "cvm=" selector ":" ("never-ready" | "pull-fail") [":times=" n]
//!                                  selector: any CVM id form or name; applies to the next
//!                                  update/start/restart of that CVM
//! ```
//!
//! Examples: `phala:get:status=503:times=3`, `phala:patch:drop:after:times=1`,
//! `phala:slow=2s`, `phala:post:path=/cvms/*/restart:status=409`, `gateway:drop:times=1`,
//! `cvm=mux-server-prod:never-ready`, `cvm=openclaw-prod:pull-fail:times=1`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Which face of the world an HTTP fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Phala,
    Gateway,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Status(u16),
    Drop,
    Slow(#[serde(with = "duration_ms")] Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CvmCondition {
    /// The operation starts but the CVM never reaches `running`.
    NeverReady,
    /// Pulling the new images fails; the CVM ends in `error` with a boot error.
    PullFail,
}

/// A fault, as parsed from its text form. See the module docs for the grammar.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fault {
    Http {
        scope: Scope,
        /// Upper-case HTTP method, or `None` for any.
        method: Option<String>,
        path: Option<String>,
        effect: Effect,
        times: Option<u32>,
        skip: u32,
        after: bool,
    },
    Cvm {
        selector: String,
        condition: CvmCondition,
        times: Option<u32>,
    },
}

/// A fault text that does not parse, naming the bad token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultParseError {
    pub input: String,
    pub token: String,
    pub reason: String,
}

impl fmt::Display for FaultParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad fault {:?}: token {:?}: {}",
            self.input, self.token, self.reason
        )
    }
}

impl std::error::Error for FaultParseError {}

const HTTP_TOKENS: &str = "expected get|post|put|patch|delete, path=GLOB, status=CODE, drop, slow=DURATION, times=N, skip=N or after";

impl FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(input: &str) -> Result<Fault, FaultParseError> {
        let input = input.trim();
        let err = |token: &str, reason: &str| FaultParseError {
            input: input.to_string(),
            token: token.to_string(),
            reason: reason.to_string(),
        };
        let mut tokens = input.split(':');
        let first = tokens.next().unwrap_or_default();
        if let Some(selector) = first.strip_prefix("cvm=") {
            if selector.is_empty() {
                return Err(err(first, "cvm= needs a CVM name or id"));
            }
            let mut condition = None;
            let mut times = None;
            for token in tokens {
                match token {
                    "never-ready" | "pull-fail" if condition.is_some() => {
                        return Err(err(token, "only one condition per fault"));
                    }
                    "never-ready" => condition = Some(CvmCondition::NeverReady),
                    "pull-fail" => condition = Some(CvmCondition::PullFail),
                    t if t.starts_with("times=") => times = Some(parse_count(t, &err)?),
                    t => return Err(err(t, "expected never-ready, pull-fail or times=N")),
                }
            }
            let condition = condition
                .ok_or_else(|| err(first, "a cvm fault needs never-ready or pull-fail"))?;
            return Ok(Fault::Cvm {
                selector: selector.to_string(),
                condition,
                times,
            });
        }
        let scope = match first {
            "phala" => Scope::Phala,
            "gateway" => Scope::Gateway,
            _ => {
                return Err(err(
                    first,
                    "a fault starts with phala, gateway or cvm=<name-or-id>",
                ));
            }
        };
        let (mut method, mut path, mut effect, mut times, mut skip, mut after) =
            (None, None, None, None, 0, false);
        for token in tokens {
            let set_effect = |effect: &mut Option<Effect>, value: Effect| {
                if effect.is_some() {
                    Err(err(token, "only one of status=, drop and slow= per fault"))
                } else {
                    *effect = Some(value);
                    Ok(())
                }
            };
            match token {
                "get" | "post" | "put" | "patch" | "delete" => {
                    if method.is_some() {
                        return Err(err(token, "only one method per fault"));
                    }
                    method = Some(token.to_ascii_uppercase());
                }
                "drop" => set_effect(&mut effect, Effect::Drop)?,
                "after" => after = true,
                t if t.starts_with("path=") => {
                    let glob = &t["path=".len()..];
                    if !glob.starts_with('/') {
                        return Err(err(t, "the path must start with /"));
                    }
                    path = Some(glob.to_string());
                }
                t if t.starts_with("status=") => {
                    let code: u16 = t["status=".len()..]
                        .parse()
                        .ok()
                        .filter(|c| (400..=599).contains(c))
                        .ok_or_else(|| err(t, "status must be an HTTP error code, 400 to 599"))?;
                    set_effect(&mut effect, Effect::Status(code))?;
                }
                t if t.starts_with("slow=") => {
                    let d = crate::duration::parse(&t["slow=".len()..])
                        .ok()
                        .ok_or_else(|| err(t, "duration must look like 250ms, 2s or 1m"))?;
                    set_effect(&mut effect, Effect::Slow(d))?;
                }
                t if t.starts_with("times=") => times = Some(parse_count(t, &err)?),
                t if t.starts_with("skip=") => {
                    skip = t["skip=".len()..]
                        .parse()
                        .map_err(|_| err(t, "skip must be a whole number"))?;
                }
                t => return Err(err(t, HTTP_TOKENS)),
            }
        }
        let effect = effect
            .ok_or_else(|| err(input, "no effect: add status=CODE, drop or slow=DURATION"))?;
        if after && matches!(effect, Effect::Slow(_)) {
            return Err(err("after", "after applies to status= and drop, not slow="));
        }
        Ok(Fault::Http {
            scope,
            method,
            path,
            effect,
            times,
            skip,
            after,
        })
    }
}

fn parse_count(
    token: &str,
    err: &impl Fn(&str, &str) -> FaultParseError,
) -> Result<u32, FaultParseError> {
    token["times=".len()..]
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| err(token, "times must be a whole number above 0"))
}

pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Http {
                scope,
                method,
                path,
                effect,
                times,
                skip,
                after,
            } => {
                f.write_str(match scope {
                    Scope::Phala => "phala",
                    Scope::Gateway => "gateway",
                })?;
                if let Some(m) = method {
                    write!(f, ":{}", m.to_ascii_lowercase())?;
                }
                if let Some(p) = path {
                    write!(f, ":path={p}")?;
                }
                match effect {
                    Effect::Status(code) => write!(f, ":status={code}")?,
                    Effect::Drop => f.write_str(":drop")?,
                    Effect::Slow(d) => write!(f, ":slow={}", format_duration(*d))?,
                }
                if *after {
                    f.write_str(":after")?;
                }
                if *skip > 0 {
                    write!(f, ":skip={skip}")?;
                }
                if let Some(n) = times {
                    write!(f, ":times={n}")?;
                }
                Ok(())
            }
            Fault::Cvm {
                selector,
                condition,
                times,
            } => {
                write!(f, "cvm={selector}:")?;
                f.write_str(match condition {
                    CvmCondition::NeverReady => "never-ready",
                    CvmCondition::PullFail => "pull-fail",
                })?;
                if let Some(n) = times {
                    write!(f, ":times={n}")?;
                }
                Ok(())
            }
        }
    }
}

/// What to do with one request, as decided by the active faults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub delay: Duration,
    /// A failure to produce, and whether to produce it after processing the request.
    pub failure: Option<(Effect, bool)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ActiveFault {
    pub id: u64,
    pub fault: Fault,
    /// How many times it has fired.
    pub fired: u32,
    /// Matching requests seen before it fired (counts toward `skip`).
    pub seen: u32,
}

impl ActiveFault {
    fn remaining(&self) -> Option<u32> {
        match &self.fault {
            Fault::Http { times, .. } | Fault::Cvm { times, .. } => {
                times.map(|t| t.saturating_sub(self.fired))
            }
        }
    }
}

/// The faults in force. Exhausted faults disappear.
#[derive(Debug, Default)]
pub struct FaultSet {
    next_id: u64,
    active: Vec<ActiveFault>,
}

impl FaultSet {
    pub fn add(&mut self, fault: Fault) -> u64 {
        self.next_id += 1;
        self.active.push(ActiveFault {
            id: self.next_id,
            fault,
            fired: 0,
            seen: 0,
        });
        self.next_id
    }

    pub fn clear(&mut self) {
        self.active.clear();
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.active.len();
        self.active.retain(|f| f.id != id);
        before != self.active.len()
    }

    pub fn list(&self) -> &[ActiveFault] {
        &self.active
    }

    /// Decides the fate of one HTTP request in `scope` whose path (below the scope's prefix)
    /// is `path`. Every matching slow fault adds its delay; the first matching failure wins.
    pub fn decide(&mut self, scope: Scope, method: &str, path: &str) -> Decision {
        let mut decision = Decision::default();
        for active in self.active.iter_mut() {
            let Fault::Http {
                scope: s,
                method: m,
                path: p,
                effect,
                skip,
                after,
                ..
            } = &active.fault
            else {
                continue;
            };
            let matches = *s == scope
                && m.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
                && p.as_deref().is_none_or(|g| glob_match(g, path));
            if !matches || (decision.failure.is_some() && !matches!(effect, Effect::Slow(_))) {
                continue;
            }
            if active.seen < *skip {
                active.seen += 1;
                continue;
            }
            match effect {
                Effect::Slow(d) => decision.delay += *d,
                other => decision.failure = Some((*other, *after)),
            }
            active.fired += 1;
        }
        self.active.retain(|f| f.remaining() != Some(0));
        decision
    }

    /// Takes the CVM conditions that apply to an operation starting on a CVM; `is_cvm` tells
    /// whether a selector names it.
    pub fn take_cvm_conditions(&mut self, is_cvm: impl Fn(&str) -> bool) -> Vec<CvmCondition> {
        let mut out = Vec::new();
        for active in self.active.iter_mut() {
            if let Fault::Cvm {
                selector,
                condition,
                ..
            } = &active.fault
                && is_cvm(selector)
            {
                out.push(*condition);
                active.fired += 1;
            }
        }
        self.active.retain(|f| f.remaining() != Some(0));
        out
    }
}

/// `*` matches one path segment, a trailing `**` the rest of the path.
pub fn glob_match(glob: &str, path: &str) -> bool {
    let g: Vec<&str> = glob.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    for (i, seg) in g.iter().enumerate() {
        if *seg == "**" && i == g.len() - 1 {
            return p.len() >= i;
        }
        match p.get(i) {
            Some(ps) if *seg == "*" || seg == ps => {}
            _ => return false,
        }
    }
    g.len() == p.len()
}

mod duration_ms {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = <u64 as serde::Deserialize>::deserialize(d)?;
        Ok(Duration::from_millis(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_round_trip() {
        for text in [
            "phala:get:status=503:times=3",
            "phala:patch:drop:after:times=1",
            "phala:slow=2s",
            "phala:slow=250ms",
            "phala:post:path=/cvms/*/restart:status=409",
            "gateway:drop:skip=2:times=1",
            "cvm=mux-server-prod:never-ready",
            "cvm=openclaw-prod:pull-fail:times=1",
        ] {
            let fault: Fault = text.parse().unwrap();
            assert_eq!(fault.to_string(), text);
        }
        // Any order in, canonical order out.
        let f: Fault = "phala:times=2:status=429:get".parse().unwrap();
        assert_eq!(f.to_string(), "phala:get:status=429:times=2");
    }

    #[test]
    fn errors_name_the_bad_token() {
        let e = "phala:paatch:drop".parse::<Fault>().unwrap_err();
        assert_eq!(e.token, "paatch");
        assert!(e.to_string().contains("\"paatch\""));
        assert_eq!(
            "phala:status=200".parse::<Fault>().unwrap_err().token,
            "status=200"
        );
        assert_eq!(
            "phala:slow=fast".parse::<Fault>().unwrap_err().token,
            "slow=fast"
        );
        assert_eq!(
            "phala:get".parse::<Fault>().unwrap_err().reason,
            "no effect: add status=CODE, drop or slow=DURATION"
        );
        assert_eq!(
            "phala:drop:status=500".parse::<Fault>().unwrap_err().token,
            "status=500"
        );
        assert_eq!(
            "phala:slow=1s:after".parse::<Fault>().unwrap_err().token,
            "after"
        );
        assert_eq!("cloud:drop".parse::<Fault>().unwrap_err().token, "cloud");
        assert_eq!(
            "cvm=x:explode".parse::<Fault>().unwrap_err().token,
            "explode"
        );
        assert_eq!(
            "cvm=x:times=0:never-ready"
                .parse::<Fault>()
                .unwrap_err()
                .token,
            "times=0"
        );
    }

    #[test]
    fn decisions_count_skip_and_expire() {
        let mut set = FaultSet::default();
        set.add(
            "phala:get:path=/cvms/*:status=503:skip=1:times=2"
                .parse()
                .unwrap(),
        );
        set.add("phala:slow=10ms".parse().unwrap());
        let d = set.decide(Scope::Phala, "GET", "/cvms/abc");
        assert_eq!(
            d,
            Decision {
                delay: Duration::from_millis(10),
                failure: None
            }
        );
        assert_eq!(
            set.decide(Scope::Phala, "GET", "/cvms/abc").failure,
            Some((Effect::Status(503), false))
        );
        assert_eq!(set.decide(Scope::Phala, "POST", "/cvms/abc").failure, None);
        assert_eq!(
            set.decide(Scope::Phala, "GET", "/cvms/abc/composition")
                .failure,
            None
        );
        assert_eq!(set.decide(Scope::Gateway, "GET", "/cvms/abc").failure, None);
        assert!(
            set.decide(Scope::Phala, "GET", "/cvms/abc")
                .failure
                .is_some()
        );
        assert_eq!(
            set.decide(Scope::Phala, "GET", "/cvms/abc").failure,
            None,
            "expired after times=2"
        );
        assert_eq!(set.list().len(), 1);
    }

    #[test]
    fn globs() {
        assert!(glob_match("/cvms/*", "/cvms/x"));
        assert!(!glob_match("/cvms/*", "/cvms/x/start"));
        assert!(glob_match("/cvms/**", "/cvms/x/start"));
        assert!(glob_match("/cvms/*/composition", "/cvms/app_1/composition"));
        assert!(!glob_match("/apps", "/status/batch"));
    }
}
