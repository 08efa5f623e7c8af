//! dsn: being written (issue 5).
