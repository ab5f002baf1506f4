//! The `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` a container sees, as Docker writes
//! them. They live in the container's folder and are bind-mounted over the image's files.

/// Docker's /etc/hosts for a container with its own network namespace: loopback and the IPv6
/// names, then one line per address of the container (`addresses` with `hostname`).
pub fn hosts(hostname: &str, addresses: &[String]) -> String {
    let mut text = String::from(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::\tip6-localnet\n\
         ff00::\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for address in addresses {
        text.push_str(&format!("{address}\t{hostname}\n"));
    }
    text
}

/// [`resolv_conf`], with `servers` (`--dns`) in place of the host's nameservers when given.
pub fn resolv_conf_with(host: &str, servers: &[String]) -> String {
    if servers.is_empty() {
        return resolv_conf(host);
    }
    let mut text: String = host
        .lines()
        .filter(|line| line.split_whitespace().next() != Some("nameserver"))
        .map(|line| format!("{line}\n"))
        .collect();
    for server in servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    text
}

/// The host's resolv.conf as a container should see it: nameservers on loopback (such as
/// systemd-resolved's 127.0.0.53) cannot be reached from another network namespace, so they
/// are dropped, and when none is left Google's public resolvers stand in, as Docker does.
pub fn resolv_conf(host: &str) -> String {
    let mut kept = Vec::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let server = words.next().unwrap_or("");
            if server.starts_with("127.") || server == "::1" {
                continue;
            }
            servers += 1;
        }
        kept.push(line.to_string());
    }
    if servers == 0 {
        kept.push("nameserver 8.8.8.8".into());
        kept.push("nameserver 8.8.4.4".into());
    }
    let mut text = kept.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_are_replaced() {
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\noptions edns0\n"),
            "options edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            resolv_conf("search lab\nnameserver 10.0.0.2\n"),
            "search lab\nnameserver 10.0.0.2\n"
        );
    }

    #[test]
    fn hosts_names_the_container() {
        let text = hosts("abc", &["10.1.0.2".into()]);
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(text.ends_with("10.1.0.2\tabc\n"));
    }
}
