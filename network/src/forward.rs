//! Living beside a host firewall that drops forwarded packets.
//!
//! Docker sets the iptables `FORWARD` policy to `DROP` and accepts only its own bridges'
//! traffic. In nftables a `drop` in any base chain is final, so no `accept` in mini's own table
//! can undo it: with Docker on the host, containers of mini's networks could neither be reached
//! through their published ports nor reach the outside. Docker reserves the `DOCKER-USER`
//! chain (jumped to first from `FORWARD`) for rules of others; mini puts two `ACCEPT` rules
//! per network there, each with a comment naming its network and bridge:
//!
//! ```text
//! -A DOCKER-USER -i mini0 -m comment --comment "mini network bridge (mini0): from its containers" -j ACCEPT
//! -A DOCKER-USER -o mini0 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment "mini network bridge (mini0): replies and published ports" -j ACCEPT
//! ```
//!
//! Without Docker but with a `FORWARD` policy of `DROP` (a hand-made firewall) the same rules go
//! at the top of `FORWARD`. With neither, nothing is added. The rules are made through the
//! `iptables` command, so they land in whichever backend (nf_tables or legacy) Docker itself
//! uses; written by hand because one `iptables -S` answers every question a container start
//! asks (the crates on offer run one process per question).

use std::process::Command;

use crate::error::{Error, Result};

/// A network whose bridge must be let through.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub network: &'a str,
    pub bridge: &'a str,
}

impl Access<'_> {
    /// The two rules, as arguments after `-I CHAIN`, with their comments.
    fn rules(&self) -> [(String, Vec<String>); 2] {
        let from = format!(
            "mini network {} ({}): from its containers",
            self.network, self.bridge
        );
        let to = format!(
            "mini network {} ({}): replies and published ports",
            self.network, self.bridge
        );
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        [
            (
                from.clone(),
                words(&[
                    "-i",
                    self.bridge,
                    "-m",
                    "comment",
                    "--comment",
                    &from,
                    "-j",
                    "ACCEPT",
                ]),
            ),
            (
                to.clone(),
                words(&[
                    "-o",
                    self.bridge,
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "RELATED,ESTABLISHED,DNAT",
                    "-m",
                    "comment",
                    "--comment",
                    &to,
                    "-j",
                    "ACCEPT",
                ]),
            ),
        ]
    }
}

/// Where accept rules are needed, from `iptables -S` of the filter table: Docker's
/// `DOCKER-USER` when it exists, else `FORWARD` when its policy drops, else nowhere.
pub fn target_chain(listing: &str) -> Option<&'static str> {
    if listing.lines().any(|l| l.trim() == "-N DOCKER-USER") {
        return Some("DOCKER-USER");
    }
    if listing.lines().any(|l| l.trim() == "-P FORWARD DROP") {
        return Some("FORWARD");
    }
    None
}

/// Whether the listing holds a rule in `chain` with this comment.
fn has_rule(listing: &str, chain: &str, comment: &str) -> bool {
    let quoted = format!("--comment \"{comment}\"");
    listing
        .lines()
        .any(|l| l.starts_with(&format!("-A {chain} ")) && l.contains(&quoted))
}

/// The filter table as `iptables -S` prints it; None when there is no `iptables` to ask (then
/// there is no iptables firewall to live beside either).
fn listing() -> Option<String> {
    let out = Command::new("iptables").args(["-w", "-S"]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn iptables(args: &[String]) -> Result<()> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .map_err(|err| Error::Firewall(format!("running iptables: {err}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Firewall(format!(
        "iptables {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Lets the network's traffic through a dropping `FORWARD` chain (see the module's text).
/// Cheap when all is in place: one `iptables -S`.
pub fn ensure(access: &Access) -> Result<()> {
    let Some(text) = listing() else {
        return Ok(());
    };
    let Some(chain) = target_chain(&text) else {
        return Ok(());
    };
    for (comment, rule) in access.rules() {
        if !has_rule(&text, chain, &comment) {
            let mut args = vec!["-I".to_string(), chain.to_string(), "1".to_string()];
            args.extend(rule);
            iptables(&args)?;
        }
    }
    Ok(())
}

/// Splits a line of `iptables -S` into its words (double quotes group, as the shell would).
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

/// The `-D` commands that remove this network's rules from a listing, wherever they are.
fn removals(listing: &str, access: &Access) -> Vec<Vec<String>> {
    let comments: Vec<String> = access.rules().into_iter().map(|(c, _)| c).collect();
    listing
        .lines()
        .filter(|l| l.starts_with("-A "))
        .filter(|l| {
            comments
                .iter()
                .any(|c| l.contains(&format!("--comment \"{c}\"")))
        })
        .map(|l| {
            let mut words = split_words(l);
            words[0] = "-D".to_string();
            words
        })
        .collect()
}

/// The bridge a rule of mini's names in its comment (`mini network NAME (BRIDGE): ...`).
fn bridge_of(line: &str) -> Option<&str> {
    let comment = line.split("--comment \"mini network ").nth(1)?;
    let (_, rest) = comment.split_once(" (")?;
    let (bridge, _) = rest.split_once("): ")?;
    Some(bridge)
}

/// The `-D` commands that remove mini's rules whose bridge `exists` says is gone.
fn vanished(listing: &str, exists: impl Fn(&str) -> bool) -> Vec<Vec<String>> {
    listing
        .lines()
        .filter(|l| l.starts_with("-A "))
        .filter(|l| bridge_of(l).is_some_and(|bridge| !exists(bridge)))
        .map(|l| {
            let mut words = split_words(l);
            words[0] = "-D".to_string();
            words
        })
        .collect()
}

/// Removes mini's rules for bridges that are gone (deleted by hand, or by a mini that died
/// half way), whichever instance made them: a rule for a missing link lets nothing through
/// today, but would let through whatever link takes its name tomorrow (`network reload`,
/// `system reset`).
pub fn remove_vanished() -> Result<()> {
    let Some(text) = listing() else {
        return Ok(());
    };
    for args in vanished(&text, crate::link::exists) {
        iptables(&args)?;
    }
    Ok(())
}

/// Removes the network's rules (`mini network rm`); none there is fine.
pub fn remove(access: &Access) -> Result<()> {
    let Some(text) = listing() else {
        return Ok(());
    };
    for args in removals(&text, access) {
        iptables(&args)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docker's filter table with one mini rule in it, as `iptables -S` prints it.
    const DOCKER: &str = "-P INPUT ACCEPT
-P FORWARD DROP
-P OUTPUT ACCEPT
-N DOCKER
-N DOCKER-ISOLATION-STAGE-1
-N DOCKER-ISOLATION-STAGE-2
-N DOCKER-USER
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-USER -i mini0 -m comment --comment \"mini network bridge (mini0): from its containers\" -j ACCEPT
-A DOCKER-USER -j RETURN
";

    const ACCESS: Access = Access {
        network: "bridge",
        bridge: "mini0",
    };

    #[test]
    fn docker_user_first_then_a_dropping_forward_then_nothing() {
        assert_eq!(target_chain(DOCKER), Some("DOCKER-USER"));
        assert_eq!(
            target_chain("-P INPUT ACCEPT\n-P FORWARD DROP\n"),
            Some("FORWARD")
        );
        assert_eq!(target_chain("-P FORWARD ACCEPT\n"), None);
    }

    #[test]
    fn present_rules_are_found_by_their_comment_in_their_chain() {
        let [(from, _), (to, _)] = ACCESS.rules();
        assert!(has_rule(DOCKER, "DOCKER-USER", &from));
        assert!(!has_rule(DOCKER, "DOCKER-USER", &to));
        assert!(!has_rule(DOCKER, "FORWARD", &from));
    }

    #[test]
    fn removal_turns_the_listed_rule_into_a_delete_with_the_comment_whole() {
        let removals = removals(DOCKER, &ACCESS);
        assert_eq!(
            removals,
            vec![vec![
                "-D",
                "DOCKER-USER",
                "-i",
                "mini0",
                "-m",
                "comment",
                "--comment",
                "mini network bridge (mini0): from its containers",
                "-j",
                "ACCEPT"
            ]]
        );
        let other = Access {
            network: "bridge",
            bridge: "mini1",
        };
        assert!(super::removals(DOCKER, &other).is_empty());
    }

    #[test]
    fn rules_of_vanished_bridges_are_found_by_the_bridge_their_comment_names() {
        assert_eq!(
            bridge_of(DOCKER.lines().nth(10).unwrap()),
            Some("mini0"),
            "{DOCKER}"
        );
        assert_eq!(bridge_of("-A FORWARD -o docker0 -j DOCKER"), None);
        assert!(vanished(DOCKER, |b| b == "mini0").is_empty());
        let gone = vanished(DOCKER, |_| false);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0][..4], ["-D", "DOCKER-USER", "-i", "mini0"]);
    }
}
