//! Mesos master discovery and state fetch (owned by the mesos work).
