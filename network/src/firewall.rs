//! mini's nftables table: NAT for published ports and masquerade for networks, built with the
//! `nftables` crate's JSON schema and applied with `nft -j -f -`, one atomic batch per change.
//!
//! ```text
//! table ip mini
//!   set bridges      the bridges of mini's networks          (one element per network)
//!   set subnets      their subnets                           (one element per network)
//!   map published-any   proto . port : jump ctr-<id>          (ports published on every address)
//!   map published-addr  addr . proto . port : jump ctr-<id>   (ports published on one address)
//!   chain prerouting    nat, dstnat: packets to a local address (not 127/8) -> published
//!   chain output        nat, -100:   the host's own packets to a local address -> published
//!   chain published     the two verdict maps: one lookup, however many containers
//!   chain postrouting   nat, srcnat: masquerade what leaves a subnet, what the host sends from
//!                       127/8 into a bridge, and DNATed traffic from a container (hairpin)
//!   chain ctr-<id>      one per container with published ports: `dnat` rules with counters
//! ```
//!
//! Every element and rule a container or network owns carries its name in a comment, and its
//! chain is named by its id, so that `nft list table ip mini` says who owns what. Per-packet
//! cost is two map lookups; a change touches only its owner's chain and elements.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use nftables::expr::{
    Elem, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload,
    PayloadField, Prefix, Verdict, CT,
};
use nftables::schema::{
    Chain, Element, FlushObject, NfCmd, NfListObject, NfObject, Rule, Set, SetFlag, SetType,
    SetTypeValue, Table,
};
use nftables::stmt::{Counter, JumpTarget, Match, Operator, Statement, VerdictMap, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::ports::Published;

const FAMILY: NfFamily = NfFamily::IP;

/// A network as the firewall sees it.
#[derive(Debug, Clone)]
pub struct NetworkRules<'a> {
    pub name: &'a str,
    pub bridge: &'a str,
    pub subnet: Ipv4Net,
}

/// A container's published ports as the firewall sees them.
#[derive(Debug, Clone)]
pub struct ContainerRules<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub ip: Ipv4Addr,
    pub ports: &'a [Published],
}

/// The chain that holds a container's DNAT rules.
pub fn container_chain(id: &str) -> String {
    format!("ctr-{}", &id[..id.len().min(12)])
}

/// Builds batches for one table.
#[derive(Debug, Clone)]
pub struct Firewall {
    pub table: String,
}

fn s(text: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(text.into()))
}

fn field(protocol: &'static str, name: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: name.into(),
        },
    )))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn prefix(net: Ipv4Net) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(s(net.network().to_string())),
        len: u32::from(net.prefix_len()),
    }))
}

fn concat(items: Vec<Expression<'static>>) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(items))
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn elem(val: Expression<'static>, comment: &str) -> Expression<'static> {
    Expression::Named(NamedExpression::Elem(Elem {
        val: Box::new(val),
        timeout: None,
        expires: None,
        comment: Some(Cow::Owned(comment.to_string())),
        counter: None,
    }))
}

fn local_daddr() -> Statement<'static> {
    let mut flags = std::collections::HashSet::new();
    flags.insert(FibFlag::Daddr);
    matches(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags,
        })),
        Operator::EQ,
        s("local"),
    )
}

fn loopback() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8).expect("a valid prefix")
}

/// One command of a batch, as JSON.
fn command(cmd: NfCmd<'static>) -> Value {
    serde_json::to_value(NfObject::CmdObject(cmd)).expect("nft commands serialize")
}

fn add(object: NfListObject<'static>) -> Value {
    command(NfCmd::Add(object))
}

fn delete(object: NfListObject<'static>) -> Value {
    command(NfCmd::Delete(object))
}

fn flush(chain: Chain<'static>) -> Value {
    command(NfCmd::Flush(FlushObject::Chain(chain)))
}

impl Firewall {
    pub fn new(table: &str) -> Firewall {
        Firewall {
            table: table.to_string(),
        }
    }

    fn chain(&self, name: &str) -> Chain<'static> {
        Chain {
            family: FAMILY,
            table: Cow::Owned(self.table.clone()),
            name: Cow::Owned(name.to_string()),
            ..Chain::default()
        }
    }

    fn base_chain(&self, name: &str, hook: NfHook, prio: i32) -> Chain<'static> {
        Chain {
            _type: Some(NfChainType::NAT),
            hook: Some(hook),
            prio: Some(prio),
            policy: Some(NfChainPolicy::Accept),
            ..self.chain(name)
        }
    }

    fn rule(&self, chain: &str, expr: Vec<Statement<'static>>, comment: &str) -> Value {
        add(NfListObject::Rule(Rule {
            family: FAMILY,
            table: Cow::Owned(self.table.clone()),
            chain: Cow::Owned(chain.to_string()),
            expr: Cow::Owned(expr),
            comment: Some(Cow::Owned(comment.to_string())),
            ..Rule::default()
        }))
    }

    fn set(&self, name: &str, set_type: SetType, interval: bool) -> Set<'static> {
        Set {
            family: FAMILY,
            table: Cow::Owned(self.table.clone()),
            name: Cow::Owned(name.to_string()),
            handle: None,
            set_type: SetTypeValue::Single(set_type),
            policy: None,
            flags: interval.then(|| [SetFlag::Interval].into_iter().collect()),
            elem: None,
            timeout: None,
            gc_interval: None,
            size: None,
            comment: None,
        }
    }

    /// A verdict map. The crate's schema has no `verdict` data type (nftables 0.6), so this
    /// one object is written as the JSON nft documents for it.
    fn verdict_map(&self, name: &str, key: &[SetType]) -> Value {
        let key = serde_json::to_value(key).expect("set types serialize");
        json!({"add": {"map": {
            "family": "ip", "table": self.table, "name": name, "type": key, "map": "verdict"
        }}})
    }

    fn element(&self, set: &str, elems: Vec<Expression<'static>>) -> NfListObject<'static> {
        NfListObject::Element(Element {
            family: FAMILY,
            table: Cow::Owned(self.table.clone()),
            name: Cow::Owned(set.to_string()),
            elem: Cow::Owned(elems),
        })
    }

    /// The table, its sets, maps and base chains, and the base chains' rules (flushed and
    /// written again, so that the batch is the same whether or not the table was there).
    pub fn base(&self) -> Vec<Value> {
        let mut out = vec![add(self.table())];
        out.push(add(NfListObject::Set(Box::new(self.set(
            "bridges",
            SetType::Ifname,
            false,
        )))));
        out.push(add(NfListObject::Set(Box::new(self.set(
            "subnets",
            SetType::Ipv4Addr,
            true,
        )))));
        out.push(self.verdict_map("published-any", &[SetType::InetProto, SetType::InetService]));
        out.push(self.verdict_map(
            "published-addr",
            &[SetType::Ipv4Addr, SetType::InetProto, SetType::InetService],
        ));
        let chains = [
            self.base_chain("prerouting", NfHook::Prerouting, -100),
            self.base_chain("output", NfHook::Output, -100),
            self.chain("published"),
            self.base_chain("postrouting", NfHook::Postrouting, 100),
        ];
        for chain in chains {
            out.push(add(NfListObject::Chain(chain.clone())));
            out.push(flush(chain));
        }
        let jump = |target: &str| {
            Statement::Jump(JumpTarget {
                target: Cow::Owned(target.to_string()),
            })
        };
        out.push(self.rule(
            "prerouting",
            vec![
                matches(field("ip", "daddr"), Operator::NEQ, prefix(loopback())),
                local_daddr(),
                jump("published"),
            ],
            "published ports, from other hosts and containers",
        ));
        out.push(self.rule(
            "output",
            vec![local_daddr(), jump("published")],
            "published ports, from this host",
        ));
        out.push(self.rule(
            "published",
            vec![Statement::VerdictMap(VerdictMap {
                key: concat(vec![
                    field("ip", "daddr"),
                    meta(MetaKey::L4proto),
                    field("th", "dport"),
                ]),
                data: s("@published-addr"),
            })],
            "ports published on one address",
        ));
        out.push(self.rule(
            "published",
            vec![Statement::VerdictMap(VerdictMap {
                key: concat(vec![meta(MetaKey::L4proto), field("th", "dport")]),
                data: s("@published-any"),
            })],
            "ports published on every address",
        ));
        let oifname = || meta(MetaKey::Oifname);
        out.push(self.rule(
            "postrouting",
            vec![
                matches(field("ip", "saddr"), Operator::EQ, s("@subnets")),
                matches(oifname(), Operator::NEQ, s("@bridges")),
                Statement::Masquerade(None),
            ],
            "containers to the outside",
        ));
        out.push(self.rule(
            "postrouting",
            vec![
                matches(oifname(), Operator::EQ, s("@bridges")),
                matches(field("ip", "saddr"), Operator::EQ, prefix(loopback())),
                Statement::Masquerade(None),
            ],
            "the host's 127.0.0.1 to a published port",
        ));
        out.push(self.rule(
            "postrouting",
            vec![
                matches(oifname(), Operator::EQ, s("@bridges")),
                matches(
                    Expression::Named(NamedExpression::CT(CT {
                        key: "status".into(),
                        family: None,
                        dir: None,
                    })),
                    Operator::IN,
                    s("dnat"),
                ),
                matches(field("ip", "saddr"), Operator::EQ, s("@subnets")),
                Statement::Masquerade(None),
            ],
            "a container to a published port (hairpin)",
        ));
        out
    }

    fn network_elements(&self, net: &NetworkRules) -> [(String, Expression<'static>); 2] {
        let comment = format!("network {}", net.name);
        [
            ("bridges".into(), elem(s(net.bridge), &comment)),
            ("subnets".into(), elem(prefix(net.subnet), &comment)),
        ]
    }

    /// A network's bridge and subnet added to a table whose base is in place: additions only,
    /// which the kernel commits at once (a batch that deletes anything, even the flush of a
    /// chain, waits for an RCU grace period: some 15 ms). It fails when the table's sets are
    /// missing, and [`Firewall::add_network`] is then the batch to apply.
    pub fn network_part(&self, net: &NetworkRules) -> Vec<Value> {
        let mut out = vec![add(self.table())];
        for (set, e) in self.network_elements(net) {
            out.push(add(self.element(&set, vec![e])));
        }
        out
    }

    /// Adds a network's bridge and subnet (to masquerade its traffic), with the table's base.
    pub fn add_network(&self, net: &NetworkRules) -> Vec<Value> {
        let mut out = self.base();
        for (set, e) in self.network_elements(net) {
            out.push(add(self.element(&set, vec![e])));
        }
        out
    }

    /// The whole table made anew, in one atomic batch: whatever was there (flushed by someone,
    /// or holding rules no one owns any more) is replaced by the rules of these networks and
    /// containers (`mini network reload`).
    pub fn reload(&self, nets: &[NetworkRules], ctrs: &[ContainerRules]) -> Vec<Value> {
        let mut out = vec![add(self.table()), delete(self.table())];
        out.extend(self.base());
        for net in nets {
            for (set, e) in self.network_elements(net) {
                out.push(add(self.element(&set, vec![e])));
            }
        }
        for c in ctrs.iter().filter(|c| !c.ports.is_empty()) {
            out.extend(self.container_part(c));
        }
        out
    }

    /// Removes a network's elements (added first, so that the batch holds whether or not they
    /// were there).
    pub fn remove_network(&self, net: &NetworkRules) -> Vec<Value> {
        let mut out = self.base();
        for (set, e) in self.network_elements(net) {
            out.push(add(self.element(&set, vec![e.clone()])));
            out.push(delete(self.element(&set, vec![e])));
        }
        out
    }

    fn port_elements(&self, c: &ContainerRules) -> Vec<(&'static str, Expression<'static>)> {
        let chain = container_chain(c.id);
        c.ports
            .iter()
            .map(|p| {
                let proto = s(p.proto.as_str());
                let port = Expression::Number(u32::from(p.host_port));
                let (map, key) = match p.host_ip {
                    None => ("published-any", concat(vec![proto, port])),
                    Some(ip) => (
                        "published-addr",
                        concat(vec![s(ip.to_string()), proto, port]),
                    ),
                };
                let entry = Expression::List(vec![
                    elem(key, &format!("container {} {p}", c.name)),
                    Expression::Verdict(Verdict::Jump(JumpTarget {
                        target: Cow::Owned(chain.clone()),
                    })),
                ]);
                (map, entry)
            })
            .collect()
    }

    /// A container's chain with one counted DNAT per published port, and its map elements.
    /// Adding an element that another container holds fails the whole batch (`File exists`):
    /// that is how a port already published is refused, atomically.
    pub fn add_container(&self, c: &ContainerRules) -> Vec<Value> {
        let mut out = self.base();
        out.extend(self.container_part(c));
        out
    }

    /// [`Firewall::add_container`] without the base.
    pub fn container_part(&self, c: &ContainerRules) -> Vec<Value> {
        let mut out = Vec::new();
        let chain = self.chain(&container_chain(c.id));
        out.push(add(NfListObject::Chain(chain.clone())));
        out.push(flush(chain.clone()));
        for p in c.ports {
            let mut expr = Vec::new();
            if let Some(ip) = p.host_ip {
                expr.push(matches(
                    field("ip", "daddr"),
                    Operator::EQ,
                    s(ip.to_string()),
                ));
            }
            expr.push(matches(
                meta(MetaKey::L4proto),
                Operator::EQ,
                s(p.proto.as_str()),
            ));
            expr.push(matches(
                field("th", "dport"),
                Operator::EQ,
                Expression::Number(u32::from(p.host_port)),
            ));
            expr.push(Statement::Counter(Counter::Anonymous(None)));
            expr.push(Statement::DNAT(Some(NAT {
                addr: Some(s(c.ip.to_string())),
                family: None,
                port: Some(Expression::Number(u32::from(p.container_port))),
                flags: None,
            })));
            out.push(self.rule(&chain.name, expr, &format!("container {} {p}", c.name)));
        }
        for (map, entry) in self.port_elements(c) {
            out.push(add(self.element(map, vec![entry])));
        }
        out
    }

    /// Removes a container's elements and chain. Each element is added before it is deleted,
    /// so the batch holds whether or not it was there; one that another container holds fails
    /// the batch, and [`apply_removal`] then removes what is this container's alone.
    pub fn remove_container(&self, c: &ContainerRules) -> Vec<Value> {
        let mut out = self.base();
        // The elements jump to the chain: it must be there for them to be added.
        out.push(add(NfListObject::Chain(self.chain(&container_chain(c.id)))));
        for (map, entry) in self.port_elements(c) {
            out.push(add(self.element(map, vec![entry.clone()])));
            out.push(delete(self.element(map, vec![entry])));
        }
        out.extend(self.drop_chain(c.id));
        out
    }

    fn drop_chain(&self, id: &str) -> Vec<Value> {
        let chain = self.chain(&container_chain(id));
        vec![
            add(NfListObject::Chain(chain.clone())),
            flush(chain.clone()),
            delete(NfListObject::Chain(chain)),
        ]
    }

    /// Removes a container's rules even when some of its ports were taken over by another
    /// container since (after a crash): element by element, skipping those not its own.
    pub fn apply_removal(&self, c: &ContainerRules) -> Result<()> {
        match apply(&self.remove_container(c)) {
            Ok(()) => Ok(()),
            Err(_) => {
                for (map, entry) in self.port_elements(c) {
                    let one = vec![
                        add(self.element(map, vec![entry.clone()])),
                        delete(self.element(map, vec![entry])),
                    ];
                    let mut batch = self.base();
                    batch.push(add(NfListObject::Chain(self.chain(&container_chain(c.id)))));
                    batch.extend(one);
                    if let Err(err) = apply(&batch) {
                        if !err.to_string().contains("File exists") {
                            return Err(err);
                        }
                    }
                }
                apply(&self.drop_chain(c.id))
            }
        }
    }

    /// Applies [`Firewall::remove_network`].
    pub fn remove_network_rules(&self, net: &NetworkRules) -> Result<()> {
        apply(&self.remove_network(net))
    }

    fn table(&self) -> NfListObject<'static> {
        NfListObject::Table(Table {
            family: FAMILY,
            name: Cow::Owned(self.table.clone()),
            handle: None,
        })
    }

    /// Deletes the whole table (it is gone already: fine).
    pub fn delete_table(&self) -> Result<()> {
        apply(&[add(self.table()), delete(self.table())])
    }
}

/// The JSON document `nft -j -f -` reads.
pub fn to_json(objects: &[Value]) -> String {
    json!({ "nftables": objects }).to_string()
}

/// Applies a batch atomically with `nft -j -f -`. nft's own words come back in the error.
pub fn apply(objects: &[Value]) -> Result<()> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let json = to_json(objects);
    let mut child = Command::new("nft")
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| {
            Error::Firewall(format!(
                "running nft (is the nftables package installed?): {err}"
            ))
        })?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let written = stdin.write_all(json.as_bytes());
    drop(stdin);
    let output = child
        .wait_with_output()
        .map_err(|err| Error::Firewall(format!("running nft: {err}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // nft says `internal:0:0-0: Error: Could not process rule: File exists`.
    let first = stderr
        .lines()
        .find_map(|l| l.split_once("Error: ").map(|(_, e)| e))
        .unwrap_or(stderr.trim());
    written.map_err(|err| Error::Firewall(format!("writing to nft: {err}")))?;
    Err(Error::Firewall(format!("nft: {first}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Proto;

    /// Compares a batch with `testdata/<name>.json` (nft's JSON, one command per line).
    /// `MINI_UPDATE_GOLDEN=1` rewrites the file instead; review the diff before committing.
    fn golden(name: &str, batch: &[Value]) {
        let text: String = batch.iter().map(|c| format!("{c}\n")).collect();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(format!("{name}.json"));
        if std::env::var_os("MINI_UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            expected,
            "{name}: the batch differs from {}",
            path.display()
        );
    }

    fn w1_ports() -> [Published; 2] {
        [
            Published {
                host_ip: None,
                host_port: 8080,
                container_port: 80,
                proto: Proto::Tcp,
            },
            Published {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 5353,
                container_port: 53,
                proto: Proto::Udp,
            },
        ]
    }

    #[test]
    fn batches_match_the_golden_text() {
        let fw = Firewall::new("mini");
        let net = NetworkRules {
            name: "bridge",
            bridge: "mini0",
            subnet: "172.18.0.0/16".parse().unwrap(),
        };
        let ports = w1_ports();
        let w1 = ContainerRules {
            id: "3f2a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeef",
            name: "w1",
            ip: "172.18.0.2".parse().unwrap(),
            ports: &ports,
        };
        golden("base", &fw.base());
        golden("add_network", &fw.add_network(&net)[fw.base().len()..]);
        // The quick batch of a connect: the same elements, no base (so nothing flushed).
        let quick = fw.network_part(&net);
        assert_eq!(quick[0], add(fw.table()));
        assert_eq!(&quick[1..], &fw.add_network(&net)[fw.base().len()..]);
        assert!(!to_json(&quick).contains("flush"));
        golden(
            "remove_network",
            &fw.remove_network(&net)[fw.base().len()..],
        );
        golden("add_container", &fw.add_container(&w1)[fw.base().len()..]);
        golden(
            "remove_container",
            &fw.remove_container(&w1)[fw.base().len()..],
        );
        let reload = fw.reload(std::slice::from_ref(&net), std::slice::from_ref(&w1));
        assert_eq!(reload[2..2 + fw.base().len()], fw.base()[..]);
        golden("reload", &reload[..2]);
        golden("reload_parts", &reload[2 + fw.base().len()..]);
    }

    #[test]
    fn chains_are_named_by_the_short_id() {
        assert_eq!(container_chain("3f2a1b2c3d4e5f6071"), "ctr-3f2a1b2c3d4e");
    }
}
