//! DEFEDB: being written (issue 5).
