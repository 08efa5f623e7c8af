//! smtpc: being written (issue 5).
