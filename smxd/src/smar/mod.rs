//! smar: being written (issue 5).
