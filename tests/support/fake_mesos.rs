//! Fake Mesos master.
