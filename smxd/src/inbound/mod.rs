//! The SMTP server component: the protocol of [`crate::smtps`] over the
//! network, with the recipient policy of [`policy`] and storage in the
//! queue.

pub mod policy;
