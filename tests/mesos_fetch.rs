//! `mesos::fetch_state` against fake Mesos masters on loopback addresses.

mod support;

use std::time::Duration;

use mesos2ns1::mesos::{FetchError, MesosError, MesosOptions, fetch_state};
use support::fake_mesos::{FakeMaster, Mode, minimal_state, state_with_leader, unused_addr};

fn opts(masters: &[String]) -> MesosOptions {
    MesosOptions {
        masters: masters.to_vec(),
        https: false,
        ca_file: None,
        credentials: None,
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(3),
        max_state_bytes: 1 << 30,
        deadline: None,
    }
}

/// A small state with an agent and a task, naming `leader_addr` as leader;
/// `tag` makes the bodies of different fakes tell apart.
fn state(leader_addr: &str, tag: &str) -> String {
    let base = serde_json::json!({
        "hostname": tag,
        "frameworks": [{
            "name": "marathon",
            "pid": "scheduler-1@127.0.0.1:41000",
            "tasks": [{
                "id": "web.1", "name": "web", "slave_id": "S1", "state": "TASK_RUNNING",
                "resources": {"ports": "[31000-31001]"}, "statuses": []
            }]
        }],
        "slaves": [{"id": "S1", "pid": "slave(1)@127.0.0.1:5051"}]
    });
    state_with_leader(leader_addr, &base)
}

fn state_url(addr: &str) -> String {
    format!("http://{addr}/master/state")
}

fn all_failed(err: MesosError) -> Vec<(String, FetchError)> {
    match err {
        MesosError::AllFailed(failures) => failures
            .into_iter()
            .map(|failure| (failure.master, failure.error))
            .collect(),
        other => panic!("expected AllFailed, got {other:?}"),
    }
}

/// A fake that serves a proper leader state tagged "good".
fn good_master() -> FakeMaster {
    let master = FakeMaster::start();
    master.set_state(state(&master.addr(), "good"));
    master
}

#[test]
fn the_leader_answers_directly() {
    let master = FakeMaster::start();
    let body = state(&master.addr(), "leader");
    master.set_state(body.clone());

    let fetched = fetch_state(&opts(&[master.addr()])).unwrap();

    assert_eq!(fetched.body, body.as_bytes());
    assert_eq!(fetched.url, state_url(&master.addr()));
    assert_eq!(fetched.leader, format!("master@{}", master.addr()));
    assert_eq!(master.requests(), ["GET /master/state"]);
    let request = &master.received()[0];
    assert_eq!(
        request.header("user-agent"),
        Some(concat!("mesos2ns1/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(request.header("authorization"), None);
}

#[test]
fn explicit_http_scheme_entries_work() {
    let master = good_master();
    let fetched = fetch_state(&opts(&[format!("http://{}/", master.addr())])).unwrap();
    assert_eq!(fetched.url, state_url(&master.addr()));
}

#[test]
fn first_master_down_second_answers() {
    let down = unused_addr();
    let master = good_master();

    let fetched = fetch_state(&opts(&[down, master.addr()])).unwrap();

    assert_eq!(fetched.url, state_url(&master.addr()));
    assert_eq!(master.requests(), ["GET /master/state"]);
}

#[test]
fn a_master_switched_down_refuses_until_it_is_back() {
    let master = good_master();
    master.set_mode(Mode::Down);
    let failures = all_failed(fetch_state(&opts(&[master.addr()])).unwrap_err());
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0].1.to_string().ends_with("connection refused"),
        "{}",
        failures[0].1
    );

    master.set_mode(Mode::Serve);
    let fetched = fetch_state(&opts(&[master.addr()])).unwrap();
    assert_eq!(fetched.url, state_url(&master.addr()));
}

#[test]
fn all_masters_down_names_each_master_on_one_line() {
    let (a, b) = (unused_addr(), unused_addr());

    let err = fetch_state(&opts(&[a.clone(), b.clone()])).unwrap_err();
    let message = err.to_string();

    assert_eq!(
        message,
        format!(
            "no usable state from any Mesos master: \
             {a}: GET http://{a}/master/state: connection refused; \
             {b}: GET http://{b}/master/state: connection refused"
        )
    );
    assert!(!message.contains('\n'));
    assert_eq!(all_failed(err).len(), 2);
}

#[test]
fn a_non_leader_redirect_is_followed_to_the_leader() {
    let leader = FakeMaster::start();
    let body = state(&leader.addr(), "leader");
    leader.set_state(body.clone());
    let follower = FakeMaster::start();
    follower.set_state(state(&leader.addr(), "follower"));
    follower.set_mode(Mode::RedirectTo(leader.addr()));

    let fetched = fetch_state(&opts(&[follower.addr()])).unwrap();

    assert_eq!(fetched.url, state_url(&leader.addr()));
    assert_eq!(fetched.body, body.as_bytes());
    assert_eq!(follower.requests(), ["GET /master/state"]);
    // The answer came from the leader itself: no second fetch.
    assert_eq!(leader.requests(), ["GET /master/state"]);
}

#[test]
fn a_non_leader_state_leads_to_a_refetch_from_the_leader_on_the_same_port() {
    let (follower, leader) = FakeMaster::start_pair_same_port("127.0.0.2");
    follower.set_state(state(&leader.addr(), "follower"));
    let body = state(&leader.addr(), "leader");
    leader.set_state(body.clone());

    let fetched = fetch_state(&opts(&[follower.addr()])).unwrap();

    assert_eq!(fetched.url, state_url(&leader.addr()));
    assert_eq!(fetched.body, body.as_bytes());
    assert_eq!(fetched.leader, format!("master@{}", leader.addr()));
    assert_eq!(follower.requests(), ["GET /master/state"]);
    assert_eq!(leader.requests(), ["GET /master/state"]);
}

#[test]
fn the_leader_refetch_uses_the_port_that_answered_not_the_pid_port() {
    let (follower, leader) = FakeMaster::start_pair_same_port("127.0.0.2");
    // Mesos-DNS re-fetches from the leader's host on the port it used.
    follower.set_state(state("127.0.0.2:1", "follower"));
    leader.set_state(state("127.0.0.2:1", "leader"));

    let fetched = fetch_state(&opts(&[follower.addr()])).unwrap();

    assert_eq!(fetched.url, state_url(&leader.addr()));
    assert_eq!(fetched.leader, "master@127.0.0.2:1");
    assert_eq!(leader.requests(), ["GET /master/state"]);
}

#[test]
fn a_failed_leader_refetch_fails_that_master_and_the_next_is_tried() {
    let (follower, leader) = FakeMaster::start_pair_same_port("127.0.0.2");
    follower.set_state(state(&leader.addr(), "follower"));
    leader.set_mode(Mode::Down);

    let err = fetch_state(&opts(&[follower.addr()])).unwrap_err();
    let message = err.to_string();
    let failures = all_failed(err);
    assert_eq!(failures.len(), 1);
    assert!(
        matches!(&failures[0].1, FetchError::LeaderFailed { leader: l, .. }
            if *l == format!("master@{}", leader.addr())),
        "{:?}",
        failures[0].1
    );
    assert!(
        message.contains(&format!(
            "GET http://{}/master/state: connection refused",
            leader.addr()
        )),
        "{message}"
    );

    // The non-leader's own state is never used: the next master answers.
    let good = good_master();
    let fetched = fetch_state(&opts(&[follower.addr(), good.addr()])).unwrap();
    assert_eq!(fetched.url, state_url(&good.addr()));
}

#[test]
fn garbage_is_an_error_and_the_next_master_is_tried() {
    let html = FakeMaster::start();
    html.set_mode(Mode::Garbage);

    let failures = all_failed(fetch_state(&opts(&[html.addr()])).unwrap_err());
    assert!(
        matches!(failures[0].1, FetchError::InvalidJson { .. }),
        "{:?}",
        failures[0].1
    );
    assert!(
        failures[0].1.to_string().starts_with(&format!(
            "the state from {} is not valid JSON: ",
            state_url(&html.addr())
        )),
        "{}",
        failures[0].1
    );

    let good = good_master();
    let fetched = fetch_state(&opts(&[html.addr(), good.addr()])).unwrap();
    assert_eq!(fetched.url, state_url(&good.addr()));
}

#[test]
fn a_truncated_body_is_an_error_and_the_next_master_is_tried() {
    let cut = FakeMaster::start();
    cut.set_state(state(&cut.addr(), "cut"));
    cut.set_mode(Mode::Truncated);

    let failures = all_failed(fetch_state(&opts(&[cut.addr()])).unwrap_err());
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0].1.to_string().contains("truncated"),
        "{}",
        failures[0].1
    );

    let good = good_master();
    let fetched = fetch_state(&opts(&[cut.addr(), good.addr()])).unwrap();
    assert_eq!(fetched.url, state_url(&good.addr()));
}

#[test]
fn a_state_without_leader_is_an_error_and_the_next_master_is_tried() {
    let leaderless = FakeMaster::start();
    leaderless.set_state(r#"{"frameworks":[],"slaves":[],"leader":""}"#);

    let failures = all_failed(fetch_state(&opts(&[leaderless.addr()])).unwrap_err());
    assert_eq!(
        failures[0].1.to_string(),
        format!(
            "the state from {} has no leader",
            state_url(&leaderless.addr())
        )
    );

    let good = good_master();
    let fetched = fetch_state(&opts(&[leaderless.addr(), good.addr()])).unwrap();
    assert_eq!(fetched.url, state_url(&good.addr()));
}

#[test]
fn a_404_falls_back_to_the_legacy_state_json() {
    let old = FakeMaster::start();
    let body = minimal_state(&old.addr());
    old.set_state(body.clone());
    old.set_mode(Mode::Legacy);

    let fetched = fetch_state(&opts(&[old.addr()])).unwrap();

    assert_eq!(
        fetched.url,
        format!("http://{}/master/state.json", old.addr())
    );
    assert_eq!(fetched.body, body.as_bytes());
    assert_eq!(
        old.requests(),
        ["GET /master/state", "GET /master/state.json"]
    );
}

#[test]
fn an_error_status_is_reported_and_the_next_master_is_tried() {
    let broken = FakeMaster::start();
    broken.set_mode(Mode::Status(503));

    let failures = all_failed(fetch_state(&opts(&[broken.addr()])).unwrap_err());
    assert_eq!(
        failures[0].1.to_string(),
        format!(
            "GET {}: HTTP 503 Service Unavailable",
            state_url(&broken.addr())
        )
    );
    // Only a 404 triggers the state.json fallback.
    assert_eq!(broken.requests(), ["GET /master/state"]);

    let good = good_master();
    let fetched = fetch_state(&opts(&[broken.addr(), good.addr()])).unwrap();
    assert_eq!(fetched.url, state_url(&good.addr()));
}

#[test]
fn basic_auth_is_sent_when_configured_and_never_shown() {
    let master = good_master();
    master.require_basic_auth("principal", "s3cr3t!");

    let mut with_auth = opts(&[master.addr()]);
    with_auth.credentials = Some(("principal".to_string(), "s3cr3t!".to_string()));
    fetch_state(&with_auth).unwrap();
    assert_eq!(
        master.received()[0].header("authorization"),
        Some("Basic cHJpbmNpcGFsOnMzY3IzdCE=")
    );
    assert!(!format!("{with_auth:?}").contains("s3cr3t!"));

    let without = all_failed(fetch_state(&opts(&[master.addr()])).unwrap_err());
    assert_eq!(
        without[0].1.to_string(),
        format!(
            "GET {}: HTTP 401 Unauthorized (check the Mesos credentials)",
            state_url(&master.addr())
        )
    );

    let mut wrong = with_auth.clone();
    wrong.credentials = Some(("principal".to_string(), "wrong-secret".to_string()));
    let err = fetch_state(&wrong).unwrap_err();
    assert!(err.to_string().contains("HTTP 401"), "{err}");
    assert!(!err.to_string().contains("wrong-secret"));
    assert!(!format!("{err:?}").contains("wrong-secret"));
}

#[test]
fn basic_auth_follows_the_redirect_and_the_leader_refetch() {
    let credentials = Some(("principal".to_string(), "s3cr3t!".to_string()));

    let leader = good_master();
    leader.require_basic_auth("principal", "s3cr3t!");
    let redirecting = FakeMaster::start();
    redirecting.require_basic_auth("principal", "s3cr3t!");
    redirecting.set_mode(Mode::RedirectTo(leader.addr()));
    let mut o = opts(&[redirecting.addr()]);
    o.credentials = credentials.clone();
    let fetched = fetch_state(&o).unwrap();
    assert_eq!(fetched.url, state_url(&leader.addr()));
    assert_eq!(redirecting.requests(), ["GET /master/state (auth)"]);
    assert_eq!(leader.requests(), ["GET /master/state (auth)"]);

    // The leader named by the state is a configured master too.
    let (follower, other_leader) = FakeMaster::start_pair_same_port("127.0.0.2");
    follower.set_state(state(&other_leader.addr(), "follower"));
    other_leader.set_state(state(&other_leader.addr(), "leader"));
    other_leader.require_basic_auth("principal", "s3cr3t!");
    let mut o = opts(&[follower.addr(), other_leader.addr()]);
    o.credentials = credentials;
    let fetched = fetch_state(&o).unwrap();
    assert_eq!(fetched.url, state_url(&other_leader.addr()));
    assert_eq!(other_leader.requests(), ["GET /master/state (auth)"]);
}

#[test]
fn a_slow_master_times_out_and_the_next_master_is_tried() {
    let slow = FakeMaster::start();
    slow.set_state(state(&slow.addr(), "slow"));
    slow.set_mode(Mode::Slow(Duration::from_secs(3)));
    let mut o = opts(&[slow.addr()]);
    o.timeout = Duration::from_millis(300);

    let failures = all_failed(fetch_state(&o).unwrap_err());
    assert_eq!(
        failures[0].1.to_string(),
        format!("GET {}: timed out after 0.3s", state_url(&slow.addr()))
    );

    let good = good_master();
    o.masters.push(good.addr());
    let fetched = fetch_state(&o).unwrap();
    assert_eq!(fetched.url, state_url(&good.addr()));
}

#[test]
fn a_redirect_loop_is_cut_short() {
    let a = FakeMaster::start();
    let b = FakeMaster::start();
    a.set_mode(Mode::RedirectTo(b.addr()));
    b.set_mode(Mode::RedirectTo(a.addr()));

    let failures = all_failed(fetch_state(&opts(&[a.addr()])).unwrap_err());

    assert!(
        matches!(failures[0].1, FetchError::Redirect { .. }),
        "{:?}",
        failures[0].1
    );
    assert!(
        failures[0].1.to_string().ends_with("more than 5 redirects"),
        "{}",
        failures[0].1
    );
    assert_eq!(a.requests().len() + b.requests().len(), 6);
}

#[test]
fn https_to_a_plain_http_master_fails_with_the_https_url() {
    let master = good_master();
    let mut o = opts(&[master.addr()]);
    o.https = true;
    // The fake waits for a request line that a TLS client never sends.
    o.timeout = Duration::from_millis(500);

    let failures = all_failed(fetch_state(&o).unwrap_err());

    assert!(
        failures[0]
            .1
            .to_string()
            .starts_with(&format!("GET https://{}/master/state: ", master.addr())),
        "{}",
        failures[0].1
    );
}

#[test]
fn bad_configuration_is_refused_before_any_request() {
    let master = good_master();

    let err = fetch_state(&opts(&[master.addr(), "10.0.0.1".to_string()])).unwrap_err();
    assert!(
        matches!(&err, MesosError::InvalidMaster { entry, .. } if entry == "10.0.0.1"),
        "{err:?}"
    );
    assert_eq!(fetch_state(&opts(&[])).unwrap_err(), MesosError::NoMasters);
    let mut o = opts(&[master.addr()]);
    o.ca_file = Some(std::path::PathBuf::from("/nonexistent/mesos2ns1-ca.pem"));
    assert!(matches!(
        fetch_state(&o).unwrap_err(),
        MesosError::CaFile { .. }
    ));

    assert!(master.requests().is_empty());
}

fn with_credentials(masters: &[String]) -> MesosOptions {
    let mut o = opts(masters);
    o.credentials = Some(("principal".to_string(), "s3cr3t!".to_string()));
    o
}

#[test]
fn credentials_never_go_to_a_redirect_target_outside_the_masters_list() {
    // The redirect leads to 127.0.0.2, which is not configured.
    let outsider = FakeMaster::start_on("127.0.0.2");
    outsider.set_state(state(&outsider.addr(), "outsider"));
    let redirecting = FakeMaster::start();
    redirecting.set_mode(Mode::RedirectTo(outsider.addr()));

    let fetched = fetch_state(&with_credentials(&[redirecting.addr()])).unwrap();

    assert_eq!(fetched.url, state_url(&outsider.addr()));
    assert_eq!(redirecting.requests(), ["GET /master/state (auth)"]);
    assert_eq!(outsider.requests(), ["GET /master/state"]);
    assert_eq!(outsider.received()[0].header("authorization"), None);
}

#[test]
fn credentials_never_go_to_a_leader_named_by_a_state_outside_the_masters_list() {
    let (follower, leader) = FakeMaster::start_pair_same_port("127.0.0.2");
    follower.set_state(state(&leader.addr(), "follower"));
    leader.set_state(state(&leader.addr(), "leader"));
    leader.require_basic_auth("principal", "s3cr3t!");

    let err = fetch_state(&with_credentials(&[follower.addr()])).unwrap_err();

    assert_eq!(follower.requests(), ["GET /master/state (auth)"]);
    assert_eq!(leader.requests(), ["GET /master/state"]);
    let failures = all_failed(err);
    assert!(
        failures[0].1.to_string().contains("HTTP 401"),
        "{}",
        failures[0].1
    );
    // Listed, the same leader gets them (exact host match).
    let fetched = fetch_state(&with_credentials(&[follower.addr(), leader.addr()])).unwrap();
    assert_eq!(fetched.url, state_url(&leader.addr()));
    assert_eq!(
        leader.requests().last().unwrap(),
        "GET /master/state (auth)"
    );
}

#[test]
fn credentials_match_hosts_exactly_not_by_address_family_or_spelling() {
    // Configured as "localhost": a redirect to 127.0.0.1 is another host.
    let target = FakeMaster::start();
    target.set_state(state(&target.addr(), "target"));
    let redirecting = FakeMaster::start();
    redirecting.set_mode(Mode::RedirectTo(target.addr()));
    let entry = format!("localhost:{}", redirecting.port());

    let fetched = fetch_state(&with_credentials(&[entry])).unwrap();

    assert_eq!(fetched.url, state_url(&target.addr()));
    assert_eq!(redirecting.requests(), ["GET /master/state (auth)"]);
    assert_eq!(target.requests(), ["GET /master/state"]);
}

/// A master that accepts connections and never answers.
fn hung_master() -> FakeMaster {
    let master = FakeMaster::start();
    master.set_mode(Mode::Slow(Duration::from_secs(600)));
    master
}

#[test]
fn the_deadline_spans_all_masters_even_when_each_hangs() {
    let hung = [hung_master(), hung_master(), hung_master()];
    let mut o = opts(&hung.iter().map(FakeMaster::addr).collect::<Vec<_>>());
    o.timeout = Duration::from_secs(30);
    let started = std::time::Instant::now();
    o.deadline = Some(started + Duration::from_secs(2));

    let err = fetch_state(&o).unwrap_err();

    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let failures = all_failed(err);
    assert_eq!(failures.len(), 3);
    for (_, error) in &failures {
        let text = error.to_string();
        assert!(text.contains("deadline"), "{text}");
    }
    // The first one used the time; the others were not tried after it.
    assert!(
        failures[2]
            .1
            .to_string()
            .ends_with("not tried: the run's deadline was reached"),
        "{}",
        failures[2].1
    );
}

#[test]
fn the_deadline_bounds_the_leader_refetch_too() {
    let (follower, leader) = FakeMaster::start_pair_same_port("127.0.0.2");
    follower.set_state(state(&leader.addr(), "follower"));
    leader.set_mode(Mode::Slow(Duration::from_secs(600)));
    let mut o = opts(&[follower.addr()]);
    o.timeout = Duration::from_secs(30);
    let started = std::time::Instant::now();
    o.deadline = Some(started + Duration::from_secs(2));

    let err = fetch_state(&o).unwrap_err();

    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let failures = all_failed(err);
    assert!(
        matches!(&failures[0].1, FetchError::LeaderFailed { .. }),
        "{:?}",
        failures[0].1
    );
    assert!(
        failures[0]
            .1
            .to_string()
            .ends_with("stopped at the run's deadline"),
        "{}",
        failures[0].1
    );
}

#[test]
fn a_leader_pid_with_a_line_break_is_printed_escaped() {
    let (follower, leader) = FakeMaster::start_pair_same_port("127.0.0.2");
    let forged = format!(
        "master\nmesos2ns1 sync: exit=0 (zone matches)@{}",
        leader.addr()
    );
    follower.set_state(
        serde_json::json!({"leader": forged, "frameworks": [], "slaves": []}).to_string(),
    );
    leader.set_mode(Mode::Down);

    let err = fetch_state(&opts(&[follower.addr()])).unwrap_err();

    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(text.contains("master\\nmesos2ns1 sync"), "{text}");
}
