//! The SMTP server component: the protocol of [`crate::smtps`] over the
//! network ([`run`]), with the recipient policy of [`policy`] and storage
//! in the queue ([`backend`]).

pub mod backend;
pub mod policy;
pub mod run;
