//! lmtpl: being written (issue 5).
