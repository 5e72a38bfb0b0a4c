//! The operations on regcred's resources, below both the RPC handlers (`methods`) and the
//! background work (`delivery`, `refresher`, `platform`). Nothing here knows about HTTP requests
//! or principals: a handler decodes and authorizes, then calls a service; background work calls
//! the same services.

pub mod deliveries;
pub mod locations;
pub mod pull_secrets;
