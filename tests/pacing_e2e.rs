//! Issue 19: pacing that can be lied to but not locked. The real binary
//! against the fake NS1 (a token bucket per method, `X-Ratelimit-*`
//! headers on every response): hostile header answers, a planted pacing
//! file, and a neighbour on the same account.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};
use support::fake_ns1::HeaderMode;
use support::harness::*;

const DOMAIN: &str = "mesos.example.com";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn owned(env: &Env) -> BTreeMap<(String, String), Vec<String>> {
    owned_records(&env.ns1, DOMAIN)
}

fn headers(limit: &str, remaining: &str, period: &str) -> HeaderMode {
    HeaderMode::Fixed(vec![
        ("X-Ratelimit-Limit".into(), limit.into()),
        ("X-Ratelimit-Remaining".into(), remaining.into()),
        ("X-Ratelimit-Period".into(), period.into()),
    ])
}

fn pacing_file(env: &Env) -> std::path::PathBuf {
    env.dir.path().join("state").join("ns1-pacing.json")
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The answer, `Limit: 1, Remaining: 0, Period: 86400`, is not
/// believed: the run paces with NS1's documented shape and finishes, and
/// the next run is not locked.
#[test]
fn an_unbelievable_bucket_is_not_believed() {
    let env = Env::new("pacing-86400");
    let state = env.serve(1, &[("web", 0, 1)]);
    env.ns1.set_header_mode(headers("1", "0", "86400"));
    let out = env.run("sync", &["-v"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains("unbelievable rate-limit headers"),
        "{}",
        text(&out)
    );
    assert_eq!(owned(&env), expected(&state, DOMAIN));
    // Nothing learned from it is kept.
    let saved: Value = serde_json::from_slice(&std::fs::read(pacing_file(&env)).unwrap()).unwrap();
    assert_eq!(saved["buckets"], json!([]), "{saved}");
}

/// A believable but hostile answer (10 per 1000 s, empty) stops the run
/// that received it, which says so and names the file; the next run,
/// with truthful headers, is not locked by the saved estimate.
#[test]
fn one_hostile_answer_costs_at_most_the_run_that_received_it() {
    let env = Env::new("pacing-hostile");
    let state = env.serve(1, &as_refs(&many_tasks(4, 1)));
    env.ns1.set_header_mode(headers("10", "0", "1000"));
    let out = env.run("sync", &["--deadline", "6"]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        err.contains("pacing stopped the run")
            && err.contains("ns1-pacing.json")
            && err.contains("delete that file"),
        "{}",
        text(&out)
    );
    assert!(err.matches("pacing stopped the run").count() == 1, "{err}");
    assert!(pacing_file(&env).exists());
    assert_ne!(owned(&env), expected(&state, DOMAIN));

    // NS1 tells the truth again: the next run waits at most 2 s for its
    // first request of each method, then follows the real headers.
    env.ns1.set_header_mode(HeaderMode::Real);
    let out = env.run("sync", &["--deadline", "20"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env), expected(&state, DOMAIN));
}

/// A pacing file dated in the future (planted, or written before the
/// clock went back) is ignored, and so is an expired one.
#[test]
fn a_planted_pacing_file_is_ignored() {
    for (tag, unix_time, said) in [
        (
            "pacing-future",
            unix_now() + 30.0 * 86_400.0,
            "in the future",
        ),
        // 700 s old: once restored it would hold 7 tokens, then stall.
        ("pacing-expired", unix_now() - 700.0, ""),
    ] {
        let env = Env::new(tag);
        let state = env.serve(1, &as_refs(&many_tasks(4, 1)));
        std::fs::create_dir_all(env.dir.path().join("state")).unwrap();
        // The slowest believable shape, empty: believed, it would stall
        // every method for 100 s a token.
        let buckets: Vec<Value> = ["GET", "PUT", "POST", "DELETE"]
            .iter()
            .map(|m| {
                json!({"method": m, "limit": 10.0, "period": 1000.0, "tokens": 0.0,
                       "unix_time": unix_time, "foreign_rate": 0.0})
            })
            .collect();
        std::fs::write(pacing_file(&env), json!({ "buckets": buckets }).to_string()).unwrap();
        let out = env.run("sync", &["-v", "--deadline", "10"]);
        assert_eq!(out.status.code(), Some(0), "{tag}: {}", text(&out));
        assert!(stderr(&out).contains(said), "{tag}: {}", text(&out));
        assert_eq!(owned(&env), expected(&state, DOMAIN), "{tag}");
    }
}

/// A neighbour on the account writes at half the PUT bucket's refill
/// rate, without pacing (it sends on its clock and takes what comes),
/// while mesos2ns1 creates about 200 records. NS1's buckets are the
/// account's: the fake enforces one token bucket per method for both. The
/// neighbour still succeeds at least 80% of the time, and mesos2ns1 meets
/// no 429.
#[test]
fn a_neighbour_spending_half_the_bucket_is_not_starved() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let env = Env::new("pacing-neighbour");
    let state = env.serve(4, &as_refs(&many_tasks(45, 4)));
    let want = expected(&state, DOMAIN);
    assert!(want.len() > 150, "{}", want.len());
    // 40 tokens, 20 per second (NS1's PUT shape, 100 per 200 s, is the
    // same bucket 40 times slower: too slow for a test).
    env.ns1.set_bucket("PUT", 40, 2.0);
    let url = env.ns1.endpoint();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let neighbour = std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut statuses = Vec::new();
        let started = std::time::Instant::now();
        let mut i = 0u32;
        while !flag.load(Ordering::SeqCst) {
            // Half the refill: 10 per second, on its own clock.
            let due = started + std::time::Duration::from_millis(100 * u64::from(i));
            if let Some(wait) = due.checked_duration_since(std::time::Instant::now()) {
                std::thread::sleep(wait);
            }
            let domain = format!("n{i}.other.example.com");
            let body = json!({"zone": "example.com", "domain": domain, "type": "A",
                              "answers": [{"answer": ["192.0.2.1"]}]});
            let status = agent
                .put(&format!("{url}zones/example.com/{domain}/A"))
                .header("X-NSONE-Key", "neighbour-key")
                .content_type("application/json")
                .send(body.to_string().as_bytes())
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            statuses.push(status);
            i += 1;
        }
        statuses
    });
    // The neighbour is at its pace before the run starts.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = env.run("sync", &["--deadline", "120"]);
    stop.store(true, Ordering::SeqCst);
    let statuses = neighbour.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env), want);
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let share = ok as f64 / statuses.len() as f64;
    let ours_429 = env
        .ns1
        .log()
        .iter()
        .filter(|r| r.status == 429 && !r.path.contains("other.example.com"))
        .count();
    eprintln!(
        "neighbour: {ok}/{} PUTs succeeded ({:.1}%); mesos2ns1: {ours_429} 429s, {} records",
        statuses.len(),
        100.0 * share,
        want.len()
    );
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 429),
        "{statuses:?}"
    );
    assert_eq!(ours_429, 0, "{}", text(&out));
    assert!(share >= 0.8, "neighbour succeeded {:.1}%", 100.0 * share);
}
