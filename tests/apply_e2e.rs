//! End to end (the real binary, or the real client, against the fake NS1
//! over real sockets on 127.0.0.1): writes on all three buckets at once
//! with their ordering rules, pacing across runs and through lying headers,
//! a shared account, zone-file import, the cached listing, and listing
//! robustness.

mod support;

use mesos2ns1::ns1::{Client, Ns1Api, Ns1Error, Ns1Options};
use mesos2ns1::records::names::priority;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use support::fake_mesos::FakeMaster;
use support::fake_ns1::{FakeNs1, Fault, HeaderMode, ImportMode, Request};
use support::harness::*;

type Set = BTreeMap<(String, String), Vec<String>>;

const DOMAIN: &str = "mesos.example.com";

/// These tests are about applying a churn, not about the mass-removal
/// safety check (tests/safety_*.rs): replacing a task in a small cluster
/// removes far more than 30% of its records.
const CHURN: &[&str] = &["--max-change-percent", "100"];

fn owned(ns1: &FakeNs1) -> Set {
    owned_records(ns1, DOMAIN)
}

/// The record name and type of a record request (`/v1/zones/Z/NAME/TYPE`).
fn target(r: &Request) -> Option<(String, String)> {
    let segs: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        [.., "zones", _zone, name, rtype] => Some((name.to_string(), rtype.to_string())),
        _ => None,
    }
}

/// SRV targets in a PUT/POST body.
fn body_targets(body: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["answers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["answer"][3].as_str())
                .map(|t| t.trim_end_matches('.').to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn count_429(log: &[Request]) -> usize {
    log.iter().filter(|r| r.status == 429).count()
}

/// An environment whose task `app0`'s instance is replaced: its old
/// canonical A records are deleted, new ones created, and its SRV records
/// updated to point at the new ones.
fn replaced_instance(tag: &str) -> (Env, Vec<(String, usize, usize)>) {
    let env = Env::new(tag);
    let tasks = many_tasks(6, 2);
    env.serve(2, &as_refs(&tasks));
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut moved = tasks.clone();
    moved[0].2 = 900; // app0 gets a new task id: new canonical names, new port
    (env, moved)
}

/// Checks the ordering rules in the log of a run: every SRV write that
/// gains target T starts after T's A create succeeded, and every A delete
/// of T comes after the SRV writes that stopped pointing at T succeeded.
fn assert_ordered(log: &[Request]) -> (usize, usize, usize) {
    let mut checked = (0, 0, 0);
    let ok = |r: &Request| (200..300).contains(&r.status);
    for (i, r) in log.iter().enumerate() {
        let Some((name, rtype)) = target(r) else {
            continue;
        };
        if rtype == "SRV" && matches!(r.method.as_str(), "PUT" | "POST") {
            for t in body_targets(&r.body) {
                // Any A/AAAA create of t in this run must have succeeded before.
                let creates: Vec<usize> = log
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| {
                        target(x).is_some_and(|(n, ty)| n == t && (ty == "A" || ty == "AAAA"))
                            && matches!(x.method.as_str(), "PUT" | "POST")
                    })
                    .map(|(j, _)| j)
                    .collect();
                if let Some(&last) = creates.last() {
                    assert!(
                        last < i,
                        "SRV {name} sent (#{i}) before its target {t}'s A (#{last})"
                    );
                    // Issue 17: a PUT that finds the record (its first reply
                    // lost) succeeds by reading it: a GET 200 of the same
                    // record, before the SRV write.
                    let confirmed = ok(&log[last])
                        || (log[last].status == 400
                            && log[last..i]
                                .iter()
                                .any(|x| x.method == "GET" && x.path == log[last].path && ok(x)));
                    assert!(
                        confirmed,
                        "target {t}'s A write did not succeed but {name} went out"
                    );
                    checked.0 += 1;
                }
            }
            checked.1 += 1;
        }
        // (In these clusters SRV records point at `.slave.` names only.)
        if (rtype == "A" || rtype == "AAAA") && r.method == "DELETE" && name.contains(".slave.") {
            // Every SRV write of the run that no longer points at this name
            // and pointed at it before… the fake only knows the new bodies:
            // all SRV writes whose body lacks the name must precede it if
            // they are the app0 SRV records.
            for (j, x) in log.iter().enumerate() {
                if let Some((sn, st)) = target(x)
                    && st == "SRV"
                    && sn.contains("app0")
                    && matches!(x.method.as_str(), "PUT" | "POST")
                    && ok(x)
                {
                    assert!(
                        j < i,
                        "A delete of {name} (#{i}) before SRV {sn} stopped pointing at it (#{j})"
                    );
                }
            }
            checked.2 += 1;
        }
    }
    checked
}

#[test]
fn ordering_rules_hold_under_dropped_replies_and_5xx() {
    let (env, moved) = replaced_instance("order");
    let state = env.serve(2, &as_refs(&moved));
    env.ns1.clear_log();
    // The new target's A create loses its reply once, an SRV update meets
    // a 503 then a 500, a delete loses its reply.
    env.ns1.fail_matching("PUT", "app0-", Fault::LoseReply, 1);
    env.ns1
        .fail_matching("POST", "_app0.", Fault::ServerError503Html, 1);
    env.ns1
        .fail_matching("POST", "_app0.", Fault::ServerError500Json, 1);
    env.ns1
        .fail_matching("DELETE", "app0-", Fault::LoseReply, 1);
    let out = env.run("sync", CHURN);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
    let log = env.ns1.log();
    let (gained, srv, deletes) = assert_ordered(&log);
    assert!(
        gained >= 1 && srv >= 2 && deletes >= 1,
        "{gained} {srv} {deletes}: {log:#?}"
    );
}

#[test]
fn a_failed_prerequisite_postpones_its_dependants() {
    let (env, moved) = replaced_instance("prereq");
    let state = env.serve(2, &as_refs(&moved));
    env.ns1.clear_log();
    // Every create of app0's new slave A record fails for good.
    env.ns1
        .fail_matching("PUT", "app0-", Fault::ServerError500Json, 1000);
    let out = env.run("sync", &["--deadline", "40", CHURN[0], CHURN[1]]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let log = env.ns1.log();
    // No SRV record was pointed at the missing target, and the old target
    // (still pointed at) was not deleted.
    for r in &log {
        if let Some((name, rtype)) = target(r) {
            if rtype == "SRV" && r.method != "GET" {
                for t in body_targets(&r.body) {
                    assert!(
                        !(t.starts_with("app0-") && t.contains(".slave.")) || r.method == "DELETE",
                        "SRV {name} written to the unavailable target {t}"
                    );
                }
            }
            assert!(
                !(r.method == "DELETE" && name.starts_with("app0-") && name.contains(".slave.")),
                "old target {name} deleted while SRV records still point at it"
            );
        }
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("postponed"), "{stdout}");
    // The next run, without the fault, finishes the job.
    env.ns1.clear_faults();
    let out = env.run("sync", CHURN);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
}

#[test]
fn methods_run_concurrently_and_one_failing_method_does_not_stop_the_others() {
    let (env, moved) = replaced_instance("concurrent");
    // More churn: two more tasks replaced, one added, one removed.
    let mut moved = moved;
    moved[2].2 = 901;
    moved[3].2 = 902;
    moved.remove(5);
    moved.push(("newapp".into(), 1, 903));
    let state = env.serve(2, &as_refs(&moved));
    env.ns1.clear_log();
    env.ns1.set_delay(Duration::from_millis(40));
    // Every update fails: POST is down.
    env.ns1
        .fail_matching("POST", "", Fault::ServerError500Json, 10_000);
    let out = env.run("sync", &["--deadline", "40", CHURN[0], CHURN[1]]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let log = env.ns1.log();
    let puts = log
        .iter()
        .filter(|r| r.method == "PUT" && r.status == 200)
        .count();
    let deletes = log
        .iter()
        .filter(|r| r.method == "DELETE" && r.status == 200)
        .count();
    let posts = log.iter().filter(|r| r.method == "POST").count();
    assert!(puts > 3, "creates went on: {puts}");
    assert!(
        deletes >= 1,
        "deletes not depending on an update went on: {deletes}"
    );
    assert!(posts > 0);
    // Requests of different methods overlapped in time: some request
    // started while one of another method was being handled (the fake
    // holds each for 40 ms).
    let writes: Vec<&Request> = log.iter().filter(|r| r.method != "GET").collect();
    let overlapping = writes.windows(2).any(|w| {
        w[0].method != w[1].method && w[1].at.duration_since(w[0].at) < Duration::from_millis(30)
    });
    assert!(overlapping, "methods were sent one after the other");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("failed="), "{stdout}");
    // POST back: the next run completes.
    env.ns1.clear_faults();
    env.ns1.set_delay(Duration::ZERO);
    let out = env.run("sync", CHURN);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
}

/// Two runs back to back: the first spends the PUT bucket (its size is the
/// first run's creates less one, refilled at one token per second) down to
/// the token or so it leaves to others, another tool spends all but half a
/// token of that, and the second starts well within a second with new
/// creates. With `keep_pacing` false the pacing file is removed in
/// between.
fn back_to_back_429s(tag: &str, keep_pacing: bool) -> usize {
    let env = Env::new(tag);
    let tasks = many_tasks(3, 1);
    let state = env.serve(1, &as_refs(&tasks));
    let n = expected(&state, DOMAIN).len() as u32;
    env.ns1.set_bucket("PUT", n - 1, f64::from(n - 1));
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(count_429(&env.ns1.log()), 0, "first run met 429s");
    let pacing = env.dir.path().join("state/ns1-pacing.json");
    assert!(pacing.exists());
    if !keep_pacing {
        std::fs::remove_file(&pacing).unwrap();
    }
    env.ns1.set_tokens("PUT", 0.5);
    let mut more = tasks.clone();
    more.push(("other".into(), 0, 77));
    env.serve(1, &as_refs(&more));
    env.ns1.clear_log();
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = env.ns1.log();
    assert!(log.iter().filter(|r| r.method == "PUT").count() >= 2);
    count_429(&log)
}

#[test]
fn pacing_is_kept_across_runs() {
    assert_eq!(
        back_to_back_429s("pacing-runs", true),
        0,
        "the second run's first PUT was not paced"
    );
}

/// Control for [`pacing_is_kept_across_runs`]: the same two runs with the
/// pacing file removed in between meet a 429, so the test above can fail.
#[test]
fn without_the_pacing_file_a_back_to_back_run_meets_429() {
    assert!(back_to_back_429s("pacing-control", false) > 0);
}

fn seed_all_but(env: &Env, state: &Value, leave_out: usize) -> usize {
    let want = expected(state, DOMAIN);
    for ((name, rtype), answers) in want.iter().skip(leave_out) {
        let a: Vec<&str> = answers.iter().map(String::as_str).collect();
        env.ns1.insert(name, rtype, 60, &a);
    }
    want.len()
}

#[test]
fn absurd_and_missing_headers_never_panic_and_are_said_at_v() {
    for (mode, said) in [
        (
            HeaderMode::Fixed(vec![
                ("X-Ratelimit-Limit".into(), "100".into()),
                ("X-Ratelimit-Remaining".into(), "99".into()),
                ("X-Ratelimit-Period".into(), "1e20".into()),
            ]),
            "unbelievable rate-limit headers (X-Ratelimit-Period",
        ),
        (
            HeaderMode::Fixed(vec![
                ("X-Ratelimit-Limit".into(), "0".into()),
                (
                    "X-Ratelimit-Remaining".into(),
                    "18446744073709551615".into(),
                ),
                ("X-Ratelimit-Period".into(), "-1".into()),
            ]),
            "unbelievable rate-limit headers (X-Ratelimit-Limit",
        ),
        (HeaderMode::Missing, "no rate-limit headers"),
    ] {
        let env = Env::new("headers");
        let state = env.serve(1, &as_refs(&many_tasks(2, 1)));
        seed_all_but(&env, &state, 2);
        env.ns1.set_header_mode(mode.clone());
        let out = env.run("sync", &["-v"]);
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", text(&out));
        assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{mode:?}: {stderr}");
        assert!(stderr.contains("conservative default"), "{stderr}");
    }
}

#[test]
fn a_shared_account_slows_to_the_share_left_without_429s() {
    let fake = FakeNs1::start("example.com");
    // 20 tokens refilled in 1 s; another tool spends 12 of the 20 per second.
    fake.set_bucket("PUT", 20, 1.0);
    fake.set_foreign_spend("PUT", 12.0);
    fake.set_delay(Duration::from_millis(20));
    let mut o = Ns1Options::new(fake.endpoint(), "k");
    o.read_timeout = Duration::from_secs(5);
    let mut c = Client::new(o).unwrap();
    for i in 0..60 {
        c.create(
            "example.com",
            &format!("h{i}.example.com"),
            "A",
            60,
            &[format!("10.0.0.{}", i + 1)],
        )
        .unwrap();
    }
    let log = fake.log();
    assert_eq!(count_429(&log), 0, "met 429s");
    let rate = c.effective_rate("PUT").unwrap();
    assert!(
        rate < 14.0 && rate > 2.0,
        "plans with {rate} tokens/s of 20"
    );
}

fn env_without_zone(tag: &str) -> Env {
    Env {
        master: FakeMaster::start(),
        ns1: FakeNs1::start_without_zone("example.com"),
        dir: TempDir::new(tag),
    }
}

#[test]
fn create_zone_imports_a_missing_zone_in_one_request() {
    let env = env_without_zone("import");
    let state = env.serve(3, &as_refs(&many_tasks(12, 3)));
    let want = expected(&state, DOMAIN);
    // Without --create-zone: a clear error, nothing written.
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    assert_eq!(env.ns1.writes(), 0);
    // plan says what would happen.
    let out = env.run("plan", &["--create-zone"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--create-zone would create it"));
    assert!(!env.ns1.zone_exists());
    env.ns1.clear_log();
    let out = env.run("sync", &["--create-zone"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), want);
    let log = env.ns1.log();
    let imports: Vec<&Request> = log
        .iter()
        .filter(|r| r.path.contains("/import/zonefile/"))
        .collect();
    assert_eq!(imports.len(), 1);
    assert!(imports[0].body.contains("name=\"zonefile\""));
    assert!(log.len() < 5, "{} requests: {log:#?}", log.len());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("created={}", want.len())),
        "{}",
        text(&out)
    );
    // The next run: nothing to do, and no second import.
    env.ns1.clear_log();
    let out = env.run("sync", &["--create-zone"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.ns1.writes(), 0);
}

#[test]
fn a_partial_import_is_finished_record_by_record() {
    let env = env_without_zone("import-partial");
    let state = env.serve(3, &as_refs(&many_tasks(12, 3)));
    env.ns1.set_import_mode(ImportMode::DropLast(4));
    let out = env.run("sync", &["--create-zone"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
    let log = env.ns1.log();
    // The last four record sets of the imported file were dropped; the
    // owned ones among them are written record by record.
    let import = log.iter().find(|r| r.path.contains("/import/")).unwrap();
    let mut sets: Vec<(String, String)> = Vec::new();
    for line in import.body.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 5 && f[2] == "IN" {
            let key = (f[0].trim_end_matches('.').to_string(), f[3].to_string());
            if !sets.contains(&key) {
                sets.push(key);
            }
        }
    }
    let owned_type = |t: &str| ["A", "AAAA", "SRV"].contains(&t);
    let dropped: Vec<(String, String)> = sets[sets.len() - 4..]
        .iter()
        .filter(|(_, t)| owned_type(t))
        .cloned()
        .collect();
    let puts: Vec<(String, String)> = log
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/zones/"))
        .filter_map(target)
        .filter(|(_, t)| owned_type(t))
        .collect();
    assert!(!dropped.is_empty());
    assert_eq!(
        puts, dropped,
        "what the import left out is written record by record"
    );
}

#[test]
fn a_lost_import_reply_is_not_an_error_and_the_zone_is_not_imported_twice() {
    let env = env_without_zone("import-lost");
    let state = env.serve(2, &as_refs(&many_tasks(6, 2)));
    env.ns1
        .fail_matching("PUT", "/import/zonefile/", Fault::LoseReply, 1);
    let out = env.run("sync", &["--create-zone"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
    let imports: Vec<Request> = env
        .ns1
        .log()
        .into_iter()
        .filter(|r| r.path.contains("/import/"))
        .collect();
    // The retry found the zone there and changed nothing.
    assert_eq!(imports.len(), 2);
    assert_eq!(imports[1].status, 400);
    assert_eq!(env.ns1.writes(), 2, "nothing written record by record");
}

/// Issue 19, item 7: an import NS1 refuses (400 for the account, 413 for
/// its size) falls back to creating the empty zone and writing every
/// record one by one, the marker first, and the run says so.
fn refused_import_falls_back(tag: &str, mode: ImportMode, status: u16) {
    let env = env_without_zone(tag);
    let state = env.serve(3, &as_refs(&many_tasks(6, 3)));
    env.ns1.set_import_mode(mode);
    let out = env.run("sync", &["--create-zone"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(env.ns1.zone_exists());
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
    assert!(
        env.ns1
            .records()
            .iter()
            .any(|r| (r.0.clone(), r.1.clone()) == marker(DOMAIN)),
        "the ownership marker is written"
    );
    let log = env.ns1.log();
    let writes: Vec<&Request> = log.iter().filter(|r| r.method != "GET").collect();
    assert!(writes[0].path.contains("/import/zonefile/"), "{writes:#?}");
    assert_eq!(writes[0].status, status);
    assert_eq!(
        (writes[1].method.as_str(), writes[1].path.as_str()),
        ("PUT", "/v1/zones/example.com")
    );
    assert_eq!(writes[1].status, 200);
    assert!(
        writes[2].path.contains("_mesos2ns1.mesos.example.com"),
        "the marker before any record: {writes:#?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("was refused") && stderr.contains("one by one"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("zone import refused"), "{stdout}");
    // The next run: nothing to do.
    env.ns1.clear_log();
    let out = env.run("sync", &["--create-zone"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.ns1.writes(), 0);
}

#[test]
fn an_import_refused_for_the_account_falls_back_to_record_by_record() {
    refused_import_falls_back("import-refused", ImportMode::Refuse, 400);
}

#[test]
fn an_import_too_large_falls_back_to_record_by_record() {
    refused_import_falls_back("import-413", ImportMode::TooLarge(1000), 413);
}

#[test]
fn a_refused_import_and_zone_creation_fail_with_advice_before_any_change() {
    let env = env_without_zone("import-refused-twice");
    env.serve(3, &as_refs(&many_tasks(6, 3)));
    env.ns1.set_import_mode(ImportMode::Refuse);
    env.ns1
        .fail_matching("PUT", "/zones/example.com", Fault::ServerError500Json, 100);
    let out = env.run("sync", &["--create-zone"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("creating zone example.com")
            && stderr.contains("create the zone in NS1 and run again")
            && stderr.contains("without --create-zone"),
        "{stderr}"
    );
    assert!(!env.ns1.zone_exists());
    assert!(
        env.ns1
            .log()
            .iter()
            .all(|r| r.method == "GET" || !r.path.contains("mesos.example.com")),
        "no record written"
    );
}

#[test]
fn an_existing_empty_zone_is_never_re_created() {
    let env = Env::new("import-existing");
    let state = env.serve(2, &as_refs(&many_tasks(3, 2)));
    let out = env.run("sync", &["--create-zone"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
    assert!(env.ns1.log().iter().all(|r| !r.path.contains("import")));
}

#[test]
fn the_cached_listing_saves_reads_and_is_dropped_when_in_doubt() {
    let env = Env::new("cache");
    env.ns1.set_page_size(10);
    let state = env.serve(3, &as_refs(&many_tasks(12, 3)));
    let gets = |env: &Env| env.ns1.log().iter().filter(|r| r.method == "GET").count();
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A run that wrote: the next one reads in full.
    env.ns1.clear_log();
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let full = gets(&env);
    assert!(full > 3, "{full}");
    // Nothing moved, nothing written: page 1 with a small limit only.
    env.ns1.clear_log();
    let out = env.run("sync", &["-v"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = env.ns1.log();
    assert_eq!(gets(&env), 1, "{log:#?}");
    assert!(log[0].query.contains("limit=1"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cached listing"));
    // Someone else changes a record: the serial moves, the run reads in
    // full and repairs it.
    let (name, rtype) = expected(&state, DOMAIN).keys().next().cloned().unwrap();
    env.ns1.insert(&name, &rtype, 60, &["192.0.2.99"]);
    env.ns1.clear_log();
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(gets(&env), 1 + full);
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
    // (That run wrote: one more full read settles the cache.)
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A damaged cache: a full read, and the right plan.
    let cache = env.dir.path().join("state/ns1-listing-cache");
    let mut data = std::fs::read(&cache).unwrap();
    let n = data.len();
    data[n - 20] ^= 0x20;
    std::fs::write(&cache, &data).unwrap();
    env.ns1.clear_log();
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(gets(&env), full);
    assert_eq!(env.ns1.writes(), 0);
    // --full-read-every 0: every run reads in full.
    env.ns1.clear_log();
    let out = env.run("sync", &["--full-read-every", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(gets(&env), full);
}

#[test]
fn a_stale_cache_never_leaves_a_wrong_record() {
    // A cache that matches the serial but misses a record (as if another
    // tool wrote it without moving the serial): the create falls back to
    // an update; the zone ends right.
    let env = Env::new("cache-stale");
    let state = env.serve(2, &as_refs(&many_tasks(3, 2)));
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Remove one record behind the fake's back (no serial change).
    let (name, rtype) = expected(&state, DOMAIN).keys().next().cloned().unwrap();
    assert!(env.ns1.remove_keeping_serial(&name, &rtype));
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The cache said the record is there: nothing written this time, and
    // the next full read (--full-read-every 0) repairs it.
    let out = env.run("sync", &["--full-read-every", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
}

#[test]
fn link_urls_keep_the_endpoint_path_prefix() {
    let fake = FakeNs1::start("example.com");
    fake.set_path_prefix("/ns1");
    fake.set_page_size(2);
    for i in 0..9 {
        fake.insert(&format!("h{i}.example.com"), "A", 60, &["10.0.0.1"]);
    }
    let endpoint = format!("http://{}/ns1/v1/", fake.addr());
    let mut c = Client::new(Ns1Options::new(endpoint, "k")).unwrap();
    let recs = c.list_zone("example.com").unwrap();
    assert_eq!(recs.len(), 10);
    let log = fake.log();
    assert_eq!(log.len(), 5);
    assert!(
        log.iter().all(|r| r.path.starts_with("/ns1/v1/zones/")),
        "{log:#?}"
    );
}

#[test]
fn a_page_without_records_is_an_error_and_nothing_is_written() {
    let env = Env::new("no-records");
    env.serve(2, &as_refs(&many_tasks(3, 2)));
    env.ns1.set_omit_records(true);
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no \"records\" list"));
    assert_eq!(env.ns1.writes(), 0);
}

#[test]
fn plain_http_is_refused_unless_loopback_or_allowed() {
    let e = Client::new(Ns1Options::new("http://192.0.2.1/v1/", "k")).unwrap_err();
    assert!(matches!(e, Ns1Error::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("--ns1-allow-http"), "{e}");
    let mut o = Ns1Options::new("http://192.0.2.1/v1/", "k");
    o.allow_http = true;
    assert!(Client::new(o).is_ok());
    assert!(Client::new(Ns1Options::new("http://127.0.0.1:9/v1/", "k")).is_ok());
    assert!(Client::new(Ns1Options::new("http://[::1]:9/v1/", "k")).is_ok());
    assert!(Client::new(Ns1Options::new("HTTPS://127.0.0.1:9/v1/", "k")).is_ok());
    // The binary: exit 2 with the advice.
    let env = Env::new("http");
    env.serve(1, &as_refs(&many_tasks(1, 1)));
    let dir = env.dir.path().join("state");
    let mut args = sync_args(&env.master.addr(), "http://192.0.2.1/v1/", &dir);
    args.insert(0, "sync".into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&env.dir, &refs);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plain http"));
    // An upper-case HTTPS scheme is a valid endpoint for the config.
    let mut args = sync_args(&env.master.addr(), "HTTPS://127.0.0.1:1/v1/", &dir);
    args.insert(0, "sync".into());
    args.extend(["--ns1-timeout".to_string(), "1".to_string()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&env.dir, &refs);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a connection failure, not a usage error: {}",
        text(&out)
    );
}

#[test]
fn the_deadline_leaves_only_the_least_queried_names() {
    let env = Env::new("deadline-priority");
    env.ns1.set_bucket("PUT", 10, 1.0);
    let state = env.serve(3, &as_refs(&many_tasks(12, 3)));
    let want = expected(&state, DOMAIN);
    let out = env.run("sync", &["--deadline", "3"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let done: HashSet<(String, String)> = owned(&env.ns1).into_keys().collect();
    let targets = HashSet::new();
    let left: Vec<&(String, String)> = want.keys().filter(|k| !done.contains(*k)).collect();
    assert!(!left.is_empty());
    // Priority 1-2 names, and the A records their SRV records point to
    // (which must exist first).
    let mut top: HashSet<String> = HashSet::new();
    for ((n, t), answers) in &want {
        if priority(n, DOMAIN, &targets) <= 2 {
            top.insert(format!("{n} {t}"));
            if t == "SRV" {
                for a in answers {
                    let target = a.split(' ').nth(3).unwrap_or("").trim_end_matches('.');
                    top.insert(format!("{target} A"));
                }
            }
        }
    }
    let top = top.len();
    assert!(
        done.len() > top,
        "the test needs a deadline that leaves room for all {top} priority-1/2 names: {} done",
        done.len()
    );
    for (name, _) in &left {
        let p = priority(name, DOMAIN, &targets);
        assert!(
            p >= 3,
            "{name} (priority {p}) left for the next run; {} done of {}, {top} of priority 1-2; {}",
            done.len(),
            want.len(),
            text(&out)
        );
    }
    // Everything of priority 1 and 2 made it.
    for (name, rtype) in want.keys() {
        if priority(name, DOMAIN, &targets) <= 2 {
            assert!(
                done.contains(&(name.clone(), rtype.clone())),
                "{name} {rtype}"
            );
        }
    }
    // The framework name (`marathon.D`, the target of its
    // `_framework._tcp` SRV record) went before the per-instance names.
    let fw = format!("marathon.{DOMAIN}");
    let puts: Vec<String> = env
        .ns1
        .log()
        .iter()
        .filter(|r| r.method == "PUT")
        .filter_map(|r| target(r).map(|(n, _)| n))
        .collect();
    let fw_at = puts.iter().position(|n| *n == fw);
    // (A per-instance name an SRV record points to goes with that record.)
    let pointed: HashSet<&str> = want
        .iter()
        .filter(|((_, t), _)| t == "SRV")
        .flat_map(|(_, answers)| answers.iter())
        .filter_map(|a| a.split(' ').nth(3))
        .map(|t| t.trim_end_matches('.'))
        .collect();
    let first_instance = puts
        .iter()
        .position(|n| priority(n, DOMAIN, &targets) == 3 && !pointed.contains(n.as_str()));
    assert!(
        fw_at.is_some() && fw_at < first_instance,
        "framework name at {fw_at:?}, first per-instance name at {first_instance:?}: {puts:?}"
    );
}

#[test]
fn a_moved_scheduler_is_written_before_per_instance_names() {
    // Issue 19, item 6: the framework's A record `marathon.D` is the target
    // of `_framework._tcp.marathon.D`; when the scheduler moves, both are
    // updated and the A update is no prerequisite of anything, so only its
    // own priority (2) puts it before the per-instance names (3).
    let env = Env::new("fw-priority");
    let tasks = many_tasks(12, 3);
    env.serve(3, &as_refs(&tasks));
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The agents are renumbered (every `.slave` A record is updated, ready
    // at once) and the scheduler moves.
    let mut state = cluster(&env.master.addr(), 3, &as_refs(&tasks));
    for (i, s) in state["slaves"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        s["pid"] = format!("slave(1)@10.2.0.{}:5051", i + 1).into();
    }
    state["frameworks"][0]["pid"] = "scheduler@10.0.0.19:15102".into();
    env.master.set_state(state.to_string());
    env.ns1.clear_log();
    let out = env.run("sync", &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
    // Updates go out one by one, most-queried first.
    let posts: Vec<String> = env
        .ns1
        .log()
        .iter()
        .filter(|r| r.method == "POST")
        .filter_map(|r| target(r).map(|(n, t)| format!("{n} {t}")))
        .collect();
    let fw = posts
        .iter()
        .position(|n| *n == format!("marathon.{DOMAIN} A"));
    let instance = posts
        .iter()
        .position(|n| n.contains(".slave.") && n.ends_with(" A"));
    assert!(
        fw.is_some() && instance.is_some() && fw < instance,
        "framework name at {fw:?}, first per-instance name at {instance:?}: {posts:?}"
    );
}
