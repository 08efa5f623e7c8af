//! The SMTP server component: the protocol of [`crate::smtps`] over the
//! network ([`run`]), recipients checked by the address resolver
//! ([`smar`], the SMAR process) and storage in the queue ([`backend`]).

pub mod backend;
pub mod run;
pub mod smar;
