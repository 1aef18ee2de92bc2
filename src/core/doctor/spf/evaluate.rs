//! `check_host()` (RFC 7208 §4) for one address over a table of answers:
//! mechanisms in order, macros expanded, the lookup limits counted.

use super::*;

/// What a sender looks like to `check_host()`: its address, and the
/// envelope sender the macros read.
#[derive(Debug, Clone)]
pub struct Sender<'a> {
    pub ip: IpAddr,
    /// `local@domain` (MAIL FROM).
    pub address: &'a str,
}

struct Evaluation<'a> {
    answers: &'a Answers,
    sender: &'a Sender<'a>,
    lookups: usize,
    voids: usize,
}

/// `check_host(ip, domain, sender)` (§4): what a receiver concludes about
/// mail from `sender.ip` whose envelope domain is `domain`.
pub fn evaluate(answers: &Answers, domain: &str, sender: &Sender<'_>) -> Result<Outcome, Need> {
    let mut evaluation = Evaluation { answers, sender, lookups: 0, voids: 0 };
    evaluation.check_host(&normal_name(domain))
}

impl Evaluation<'_> {
    fn check_host(&mut self, domain: &str) -> Result<Outcome, Need> {
        let record = match select(self.answers, domain)? {
            Selected::None => return Ok(Outcome::None),
            Selected::Error(outcome) => return Ok(outcome),
            Selected::One(record) => record,
        };
        for directive in &record.directives {
            if directive.mechanism.queries_dns() {
                self.lookups += 1;
                if self.lookups > MAX_LOOKUPS {
                    return Ok(Outcome::PermError(format!("more than {MAX_LOOKUPS} DNS-querying terms")));
                }
            }
            match self.matches(&directive.mechanism, domain)? {
                Matched::No => {}
                Matched::Yes => {
                    return Ok(match directive.qualifier {
                        Qualifier::Pass => Outcome::Pass,
                        Qualifier::Fail => Outcome::Fail,
                        Qualifier::SoftFail => Outcome::SoftFail,
                        Qualifier::Neutral => Outcome::Neutral,
                    });
                }
                Matched::Stop(outcome) => return Ok(outcome),
            }
        }
        if let Some(redirect) = &record.redirect {
            self.lookups += 1;
            if self.lookups > MAX_LOOKUPS {
                return Ok(Outcome::PermError(format!("more than {MAX_LOOKUPS} DNS-querying terms")));
            }
            let target = match self.expand(redirect, domain) {
                Some(target) => target,
                None => return Ok(Outcome::PermError(format!("redirect={redirect}: macro expands to nothing"))),
            };
            return Ok(match self.check_host(&target)? {
                Outcome::None => Outcome::PermError(format!("redirect={target}: no SPF record there")),
                other => other,
            });
        }
        Ok(Outcome::Neutral)
    }

    fn matches(&mut self, mechanism: &Mechanism, domain: &str) -> Result<Matched, Need> {
        let ip = self.sender.ip;
        let target = |this: &Self, spec: &Option<String>| match spec {
            None => Some(domain.to_string()),
            Some(spec) => this.expand(spec, domain),
        };
        Ok(match mechanism {
            Mechanism::All => Matched::Yes,
            Mechanism::Ip4(net, n) => Matched::from(match ip {
                IpAddr::V4(ip) => in_v4(ip, *net, *n),
                IpAddr::V6(_) => false,
            }),
            Mechanism::Ip6(net, n) => Matched::from(match ip {
                IpAddr::V6(ip) => in_v6(ip, *net, *n),
                IpAddr::V4(_) => false,
            }),
            Mechanism::Include(spec) => {
                let Some(target) = self.expand(spec, domain) else { return Ok(Matched::No) };
                match self.check_host(&target)? {
                    Outcome::Pass => Matched::Yes,
                    Outcome::Fail | Outcome::SoftFail | Outcome::Neutral => Matched::No,
                    Outcome::None => {
                        Matched::Stop(Outcome::PermError(format!("include:{target}: no SPF record there")))
                    }
                    stop @ (Outcome::PermError(_) | Outcome::TempError(_)) => Matched::Stop(stop),
                }
            }
            Mechanism::A { domain: spec, v4, v6 } => {
                let Some(target) = target(self, spec) else { return Ok(Matched::No) };
                match self.addresses(&target)? {
                    Ok(found) => Matched::from(found.iter().any(|a| in_net(ip, *a, *v4, *v6))),
                    Err(stop) => Matched::Stop(stop),
                }
            }
            Mechanism::Mx { domain: spec, v4, v6 } => {
                let Some(target) = target(self, spec) else { return Ok(Matched::No) };
                let hosts = match self.answers.mx(&target)? {
                    Ok(records) => records.iter().filter(|r| !r.exchange.is_empty()).cloned().collect::<Vec<_>>(),
                    Err(Failure::NoDomain) => Vec::new(),
                    Err(Failure::Failed(why)) => {
                        return Ok(Matched::Stop(Outcome::TempError(format!("MX {target}: {why}"))));
                    }
                };
                if hosts.is_empty() && self.void()? {
                    return Ok(Matched::Stop(Outcome::PermError(format!("more than {MAX_VOID} void lookups"))));
                }
                if hosts.len() > MAX_MX_NAMES {
                    return Ok(Matched::Stop(Outcome::PermError(format!(
                        "mx:{target}: more than {MAX_MX_NAMES} MX names"
                    ))));
                }
                for host in hosts {
                    match self.answers.ips(&host.exchange)? {
                        Ok(found) if found.iter().any(|a| in_net(ip, *a, *v4, *v6)) => return Ok(Matched::Yes),
                        Ok(_) | Err(Failure::NoDomain) => {}
                        Err(Failure::Failed(why)) => {
                            return Ok(Matched::Stop(Outcome::TempError(format!("{}: {why}", host.exchange))));
                        }
                    }
                }
                Matched::No
            }
            // Reverse lookups are not asked (and `ptr` is deprecated, §5.5):
            // it matches nothing here.
            Mechanism::Ptr(_) => Matched::No,
            Mechanism::Exists(spec) => {
                let Some(target) = self.expand(spec, domain) else { return Ok(Matched::No) };
                match self.answers.ips(&target)? {
                    Ok(found) if found.iter().any(IpAddr::is_ipv4) => Matched::Yes,
                    Ok(_) | Err(Failure::NoDomain) => {
                        if self.void()? {
                            Matched::Stop(Outcome::PermError(format!("more than {MAX_VOID} void lookups")))
                        } else {
                            Matched::No
                        }
                    }
                    Err(Failure::Failed(why)) => Matched::Stop(Outcome::TempError(format!("{target}: {why}"))),
                }
            }
        })
    }

    /// The addresses of `target` of the sender's family; a void lookup
    /// counts, a failure stops the evaluation.
    fn addresses(&mut self, target: &str) -> Result<Result<Vec<IpAddr>, Outcome>, Need> {
        let v4 = self.sender.ip.is_ipv4();
        let found: Vec<IpAddr> = match self.answers.ips(target)? {
            Ok(found) => found.iter().copied().filter(|a| a.is_ipv4() == v4).collect(),
            Err(Failure::NoDomain) => Vec::new(),
            Err(Failure::Failed(why)) => return Ok(Err(Outcome::TempError(format!("{target}: {why}")))),
        };
        if found.is_empty() && self.void()? {
            return Ok(Err(Outcome::PermError(format!("more than {MAX_VOID} void lookups"))));
        }
        Ok(Ok(found))
    }

    /// Counts a void lookup; whether that is one too many.
    fn void(&mut self) -> Result<bool, Need> {
        self.voids += 1;
        Ok(self.voids > MAX_VOID)
    }

    /// A domain-spec with its macros expanded (§7); `None` when it comes to nothing.
    fn expand(&self, spec: &str, domain: &str) -> Option<String> {
        let (local, sender_domain) = self.sender.address.rsplit_once('@').unwrap_or(("postmaster", domain));
        let ip = self.sender.ip;
        let mut out = String::new();
        let mut chars = spec.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some('_') => out.push(' '),
                Some('-') => out.push_str("%20"),
                Some('{') => {
                    let inner: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    let m = parse_macro(&inner)?;
                    let value = match m.letter {
                        's' => self.sender.address.to_string(),
                        'l' => local.to_string(),
                        'o' | 'h' => sender_domain.to_string(),
                        'd' => domain.to_string(),
                        'i' => dotted(ip),
                        'v' => if ip.is_ipv4() { "in-addr" } else { "ip6" }.to_string(),
                        'c' => ip.to_string(),
                        _ => "unknown".to_string(),
                    };
                    out.push_str(&transform(&value, &m));
                }
                _ => return None,
            }
        }
        let out = out.trim_end_matches('.').to_string();
        // §7.3: a result longer than 253 characters loses labels on the left.
        let mut out = out.as_str();
        while out.len() > 253 {
            out = out.split_once('.').map(|(_, rest)| rest)?;
        }
        (!out.is_empty()).then(|| out.to_string())
    }
}

/// `%{i}`: dotted quad, or dotted nibbles for IPv6.
fn dotted(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let hex: String = v6.octets().iter().map(|b| format!("{b:02x}")).collect();
            hex.chars().map(String::from).collect::<Vec<_>>().join(".")
        }
    }
}

fn transform(value: &str, m: &Macro) -> String {
    let delimiters: &[char] = if m.delimiters.is_empty() { &['.'] } else { &m.delimiters };
    let mut parts: Vec<&str> = value.split(delimiters).collect();
    if m.reverse {
        parts.reverse();
    }
    if let Some(keep) = m.keep
        && parts.len() > keep
    {
        parts = parts.split_off(parts.len() - keep);
    }
    parts.join(".")
}

enum Matched {
    No,
    Yes,
    /// The evaluation ends here with this outcome.
    Stop(Outcome),
}

impl From<bool> for Matched {
    fn from(yes: bool) -> Matched {
        if yes { Matched::Yes } else { Matched::No }
    }
}

fn in_net(ip: IpAddr, net: IpAddr, v4: u8, v6: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => in_v4(ip, net, v4),
        (IpAddr::V6(ip), IpAddr::V6(net)) => in_v6(ip, net, v6),
        _ => false,
    }
}

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, n: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(n.min(32))).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, n: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(n.min(128))).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}
