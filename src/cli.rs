//! Command-line definitions. Every setting has a flag, so one command line
//! runs without a config file; most also read a `MESOS2NS1_*` environment
//! variable. Values left unset here fall back to the config file, then to
//! the built-in defaults (see `config.rs`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "mesos2ns1",
    version,
    about = "Publish the DNS records Mesos-DNS would serve for a Mesos cluster to an NS1 zone",
    long_about = "Publish the DNS records Mesos-DNS would serve for a Mesos cluster to an NS1 zone.\n\n\
        Each run finds the leading Mesos master, builds the Mesos-DNS record set, reads the NS1 zone \
        and applies the smallest set of changes. Meant to run from cron once a minute.\n\n\
        Exit codes: 0 zone matches (plan: nothing to change); 1 failed before any change; \
        2 usage or configuration error; 3 a safety check held removals (additions were applied), \
        a state file is damaged, or adopt without --yes; \
        4 changes remain (sync: failed or postponed changes; plan: changes pending)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub opts: Opts,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make the NS1 zone match the cluster (the default command).
    Sync,
    /// Print the changes a sync would make, with old and new answers; never writes.
    Plan,
    /// Print the record set Mesos-DNS would serve for the state.
    Records(RecordsArgs),
    /// Check the configuration, the masters, the leader, the NS1 key and the zone.
    Check,
    /// Claim the domain for mesos2ns1: show what adoption deletes (the
    /// records under the domain the cluster does not produce) and, with
    /// --yes, delete them and write the ownership marker.
    Adopt(AdoptArgs),
    /// Run until SIGTERM: a sync pass, then follow the leading master's
    /// event stream and apply its changes within seconds, through the same
    /// plan and safety checks; a full pass every --reconcile-every.
    Follow(FollowArgs),
}

#[derive(Debug, Args, Clone)]
pub struct FollowArgs {
    /// Apply the stream's changes at most once per this many seconds
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub batch_interval: f64,
    /// A full pass from /master/state every this many seconds (and after every reconnect)
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub reconcile_every: u64,
}

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// Really adopt: delete the records listed and write the marker.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct RecordsArgs {
    /// Output format: a zone-file fragment for people, or the normalized JSON form.
    #[arg(long, value_enum, default_value_t = Format::Zone)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Zone,
}

#[derive(Debug, Args, Default)]
pub struct Opts {
    /// Config file (JSON). Default /etc/mesos2ns1/config.json; a missing default file is fine.
    #[arg(long, global = true, env = "MESOS2NS1_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    // ---- Mesos ----
    /// Mesos masters, comma-separated: host:port or http(s)://host:port [config: masters]
    #[arg(
        short = 'm',
        long,
        alias = "mesos-hosts",
        global = true,
        env = "MESOS2NS1_MASTERS",
        value_delimiter = ',',
        value_name = "HOST:PORT,..."
    )]
    pub masters: Option<Vec<String>>,
    /// Read the state from this file instead of the masters.
    #[arg(long, global = true, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
    /// Use https for masters given without a scheme [config: mesosHTTPSOn]
    #[arg(long, global = true, env = "MESOS2NS1_MESOS_HTTPS",
          num_args = 0..=1, default_missing_value = "true", require_equals = true,
          value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL")]
    pub mesos_https: Option<bool>,
    /// Extra CA certificate (PEM) trusted besides the system store, for Mesos and NS1 [config: CACertFile]
    #[arg(long, global = true, env = "MESOS2NS1_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Mesos HTTP basic-auth principal [config: mesosCredentials.principal]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_MESOS_PRINCIPAL",
        value_name = "NAME"
    )]
    pub mesos_principal: Option<String>,
    /// File holding the Mesos basic-auth secret [config: mesosCredentials.secretFile]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_MESOS_SECRET_FILE",
        value_name = "FILE"
    )]
    pub mesos_secret_file: Option<PathBuf>,
    /// Timeout for reading the state, seconds (default 30) [config: stateTimeoutSeconds]
    #[arg(
        long,
        alias = "mesos-timeout",
        global = true,
        env = "MESOS2NS1_STATE_TIMEOUT",
        value_name = "SECS"
    )]
    pub state_timeout: Option<u64>,

    // ---- records ----
    /// The Mesos-DNS domain the records are named under (default: the zone) [config: domain]
    #[arg(long, global = true, env = "MESOS2NS1_DOMAIN")]
    pub domain: Option<String>,
    /// Task IP sources in order: netinfo, mesos, docker, host (default netinfo,mesos,host) [config: IPSources]
    #[arg(
        short = 's',
        long,
        alias = "task-ip-sources",
        global = true,
        env = "MESOS2NS1_IP_SOURCES",
        value_delimiter = ',',
        value_name = "SRC,..."
    )]
    pub ip_sources: Option<Vec<String>>,
    /// Use RFC 952 label rules (24 characters, no leading digits) [config: EnforceRFC952]
    #[arg(long, global = true, env = "MESOS2NS1_ENFORCE_RFC952",
          num_args = 0..=1, default_missing_value = "true", require_equals = true,
          value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL")]
    pub enforce_rfc952: Option<bool>,
    /// TTL of every record, seconds (default 60) [config: ttl]
    #[arg(long, global = true, env = "MESOS2NS1_TTL")]
    pub ttl: Option<u32>,
    /// Whose record set: mesos-dns (upstream e888ef4, default) or aventer (AVENTER-UG/mesos-dns v0.10.1: adds the .slave DiscoveryInfo SRV records) [config: profile]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_PROFILE",
        value_name = "mesos-dns|aventer"
    )]
    pub profile: Option<String>,
    /// A reverse zone (N.in-addr.arpa or nibbles.ip6.arpa) to hold the tasks' PTR records; repeatable or comma-separated [config: reverseZones]
    #[arg(
        long = "reverse-zone",
        global = true,
        env = "MESOS2NS1_REVERSE_ZONES",
        value_delimiter = ',',
        value_name = "ZONE"
    )]
    pub reverse_zones: Option<Vec<String>>,

    // ---- NS1 ----
    /// The NS1 zone (default: the domain) [config: zone]
    #[arg(
        short = 'z',
        long,
        alias = "zone-name",
        global = true,
        env = "MESOS2NS1_ZONE"
    )]
    pub zone: Option<String>,
    /// NS1 API endpoint (default https://api.nsone.net/v1/) [config: ns1Endpoint]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_NS1_ENDPOINT",
        value_name = "URL"
    )]
    pub ns1_endpoint: Option<String>,
    /// File holding the NS1 API key (else NS1_APIKEY) [config: ns1KeyFile]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_NS1_KEY_FILE",
        value_name = "FILE"
    )]
    pub ns1_key_file: Option<PathBuf>,
    /// NS1 API key on the command line (deprecated: visible in the process list; use NS1_APIKEY or --ns1-key-file)
    #[arg(short = 'k', long = "ns1-api-key", global = true, value_name = "KEY")]
    pub ns1_api_key: Option<String>,
    /// NS1 request timeout, seconds (default 10) [config: ns1TimeoutSeconds]
    #[arg(
        long,
        alias = "ns1-api-timeout",
        global = true,
        env = "MESOS2NS1_NS1_TIMEOUT",
        value_name = "SECS"
    )]
    pub ns1_timeout: Option<u64>,

    // ---- ownership and safety ----
    /// Names under the domain to leave alone: exact names, or patterns with * (repeatable) [config: exclude]
    #[arg(long, global = true, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Refuse a plan whose deletes or updates exceed this share of the owned records, percent (default 30) [config: maxChangePercent]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_MAX_CHANGE_PERCENT",
        value_name = "PCT"
    )]
    pub max_change_percent: Option<f64>,
    /// Release, for this run, removals held by the implausible-state and mass-removal checks (and start new clocks and baseline over a damaged state file).
    #[arg(long, global = true)]
    pub force: bool,
    /// Delete an owned record only once it has been absent from the cluster for this long, seconds; 0 deletes at once (default 120) [config: removeAfterSeconds]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_REMOVE_AFTER",
        value_name = "SECS"
    )]
    pub remove_after: Option<u64>,
    /// The sliding window of the safety checks' baseline and removal count, seconds (default 3600) [config: windowSeconds]
    #[arg(long, global = true, env = "MESOS2NS1_WINDOW", value_name = "SECS")]
    pub window: Option<u64>,
    /// Release removals held by a check once they have stayed absent this long, seconds, or `never` (default 900) [config: settleSeconds]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_SETTLE",
        value_name = "SECS|never"
    )]
    pub settle: Option<String>,

    // ---- run discipline ----
    /// Where the tool keeps what it remembers between runs (default /var/lib/mesos2ns1) [config: stateDir]
    #[arg(long, global = true, env = "MESOS2NS1_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Stop starting changes after this many seconds; the rest waits for the next run (default 50) [config: deadlineSeconds]
    #[arg(long, global = true, env = "MESOS2NS1_DEADLINE", value_name = "SECS")]
    pub deadline: Option<f64>,
    /// Do nothing unless this host holds the leading master's address [config: onlyIfLeader]
    #[arg(long, global = true, env = "MESOS2NS1_ONLY_IF_LEADER",
          num_args = 0..=1, default_missing_value = "true", require_equals = true,
          value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL")]
    pub only_if_leader: Option<bool>,
    /// The identity this cluster claims its domain with, in the ownership marker (default: derived from the configured masters or ZooKeeper URL; recommended: set it) [config: clusterId]
    #[arg(long, global = true, env = "MESOS2NS1_CLUSTER_ID", value_name = "ID")]
    pub cluster_id: Option<String>,

    // ---- NS1 writes and reads ----
    /// Create the zone if it does not exist, with every record in one zone-file import [config: createZone]
    #[arg(long, global = true, env = "MESOS2NS1_CREATE_ZONE",
          num_args = 0..=1, default_missing_value = "true", require_equals = true,
          value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL")]
    pub create_zone: Option<bool>,
    /// Read the whole zone at least this often even when its serial did not move (default 600; 0: every run) [config: fullReadEverySeconds]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_FULL_READ_EVERY",
        value_name = "SECS"
    )]
    pub full_read_every: Option<f64>,
    /// Allow plain http to an NS1 endpoint that is not loopback (the key travels unencrypted) [config: ns1AllowHttp]
    #[arg(long, global = true, env = "MESOS2NS1_NS1_ALLOW_HTTP",
          num_args = 0..=1, default_missing_value = "true", require_equals = true,
          value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL")]
    pub ns1_allow_http: Option<bool>,

    // ---- output ----
    /// Print the end-of-run summary as one JSON object instead of a text line.
    #[arg(long, global = true)]
    pub summary_json: bool,
    /// Write a Prometheus node-exporter textfile here after each run [config: metricsFile]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_METRICS_FILE",
        value_name = "PATH"
    )]
    pub metrics_file: Option<PathBuf>,
    // ---- opt-in features (not in Mesos-DNS) ----
    /// Leave out tasks whose latest health check failed; =strict also tasks with a check but no result yet [config: healthyOnly]
    #[arg(long, global = true, env = "MESOS2NS1_HEALTHY_ONLY",
          num_args = 0..=1, default_missing_value = "true", require_equals = true,
          value_name = "true|false|strict")]
    pub healthy_only: Option<crate::records::options::HealthyOnly>,
    /// Publish only tasks whose DiscoveryInfo visibility is at least this: external, cluster, framework, or none (default: no filter) [config: minVisibility]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_MIN_VISIBILITY",
        value_name = "LEVEL"
    )]
    pub min_visibility: Option<String>,
    /// Find the leading master through ZooKeeper: zk://host:port,.../path; --masters becomes the fallback [config: zk]
    #[arg(long, global = true, env = "MESOS2NS1_ZK", value_name = "URL")]
    pub zk: Option<String>,
    /// How long ZooKeeper leader detection may take, seconds; 0: only the deadline (default 30) [config: zkDetectionTimeout]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_ZK_DETECTION_TIMEOUT",
        value_name = "SECS"
    )]
    pub zk_detection_timeout: Option<u64>,

    /// More log output on stderr (-v, -vv, -vvv).
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    // ---- bounds ----
    /// Most ports (distinct resource ports plus DiscoveryInfo ports) one task may have; a task with more gets no SRV records, with a warning (default 1024) [config: maxTaskPorts]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_MAX_TASK_PORTS",
        value_name = "N"
    )]
    pub max_task_ports: Option<u64>,
    /// Most records (A, AAAA, SRV answers) a run may build; a state that makes more is refused and nothing is written (default 5000000) [config: maxRecords]
    #[arg(long, global = true, env = "MESOS2NS1_MAX_RECORDS", value_name = "N")]
    pub max_records: Option<u64>,
    /// Largest Mesos state read, from a master or --state-file, MiB (default 512) [config: maxStateMiB]
    #[arg(
        long,
        global = true,
        env = "MESOS2NS1_MAX_STATE_MIB",
        value_name = "MIB"
    )]
    pub max_state_mib: Option<u64>,
}
