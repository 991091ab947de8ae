//! Fake NS1 API.
