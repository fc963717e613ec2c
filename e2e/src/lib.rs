//! Holds no code: the cross-service tests live in `tests/`, where each service is started
//! in-process on its own port and database, exactly as its binary would start it.
