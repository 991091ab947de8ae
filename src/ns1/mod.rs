//! NS1 REST API client (owned by the ns1 work).
