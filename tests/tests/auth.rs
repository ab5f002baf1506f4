//! `mini login`, `logout` and pulls from registries that want credentials: HTTP basic auth
//! (htpasswd) and Docker Hub's bearer-token flow (a token service of the harness's own).

use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};

use mini_tests::host::text;
use mini_tests::{Registry, TestEnv, TokenServer};

/// `mini login -u USER --password-stdin SERVER`, the password written to its stdin.
fn login(env: &TestEnv, server: &str, user: &str, password: &str) -> Output {
    mini_tests::host::output_with_input(
        env.mini()
            .args(["login", "-u", user, "--password-stdin", server]),
        format!("{password}\n").as_bytes(),
    )
}

/// What every authenticated registry must do with mini's pull and login.
fn check_login_flow(env: &TestEnv, registry: &Registry) {
    let (user, password) = registry.credentials.clone().unwrap();
    registry.push(&["busybox"]);
    let reference = format!("{}/busybox", registry.addr);

    let out = env.run(&["pull", &reference]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "anonymous pulls are refused: {}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("mini login"),
        "{}",
        text(&out.stderr)
    );

    let out = login(env, &registry.addr, &user, "wrong");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("incorrect username or password"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !env.root.join("auth.json").exists(),
        "failed logins keep nothing"
    );

    let out = login(env, &registry.addr, &user, &password);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "Login Succeeded\n");
    let mode = std::fs::metadata(env.root.join("auth.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let out = env.run(&["pull", &reference]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("Status: Downloaded newer image"));

    let out = env.run(&["logout", &registry.addr]);
    assert_eq!(
        text(&out.stdout),
        format!("Removing login credentials for {}\n", registry.addr)
    );
    let out = env.run(&["logout", &registry.addr]);
    assert_eq!(
        text(&out.stdout),
        format!("Not logged in to {}\n", registry.addr)
    );
    let out = env.run(&["rmi", &reference]);
    assert!(out.status.success());
    let out = env.run(&["pull", &reference]);
    assert_eq!(out.status.code(), Some(1), "logged out, refused again");
}

#[test]
fn basic_auth_registries_need_a_login() {
    let env = TestEnv::new();
    let registry = Registry::start_with_basic_auth(&env.path("registry"), "lab", "s3cret pass");
    check_login_flow(&env, &registry);
    let out = env
        .mini()
        .args(["login", "--password-stdin", &registry.addr])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("Must provide --username with --password-stdin"));
    drop(registry);
}

#[test]
fn token_auth_registries_work_like_docker_hub() {
    let env = TestEnv::new();
    let tokens = TokenServer::start(&env.path("tokens"), "hub", "hub-password");
    let registry =
        Registry::start_with_token_auth(&env.path("registry"), &tokens, "hub", "hub-password");
    assert_eq!(registry.get_status("/v2/"), Some(401));
    check_login_flow(&env, &registry);
    drop(registry);
    drop(tokens);
}
