//! The qshape table of the control protocol (`queue.shape`, issue 7): the
//! undelivered recipients of the queue counted per destination domain and
//! age bucket, as Postfix `qshape` prints them. Computed here from queue
//! entries so the QMGR only supplies the entries.

use crate::filter::domain_of;
use crate::types::{QueueEntry, RcptStatus, Shape, ShapeRow};
use std::collections::HashMap;

/// The bucket index of `age`: the first bound it does not exceed, else the
/// overflow bucket `bounds.len()`.
fn bucket(bounds: &[u64], age: u64) -> usize {
    bounds.partition_point(|&b| b < age)
}

/// Counts the recipients not yet delivered or failed of `entries` by
/// lower-cased domain and age bucket. `buckets` are ascending upper bounds
/// in seconds (unsorted input is sorted); the `TOTAL` row comes first, then
/// the domains by descending total, ties by name.
pub fn shape<'a>(entries: impl IntoIterator<Item = &'a QueueEntry>, buckets: &[u64]) -> Shape {
    let mut bounds = buckets.to_vec();
    bounds.sort_unstable();
    bounds.dedup();
    let width = bounds.len() + 1;
    let mut by_domain: HashMap<String, Vec<u64>> = HashMap::new();
    let mut total = vec![0u64; width];
    for e in entries {
        let b = bucket(&bounds, e.age_secs);
        for r in &e.recipients {
            if matches!(r.status, RcptStatus::Delivered | RcptStatus::Failed) {
                continue;
            }
            let d = domain_of(&r.address).to_ascii_lowercase();
            let row = by_domain.entry(d).or_insert_with(|| vec![0; width]);
            row[b] += 1;
            total[b] += 1;
        }
    }
    let mut rows: Vec<ShapeRow> = by_domain
        .into_iter()
        .map(|(domain, counts)| ShapeRow {
            domain,
            total: counts.iter().sum(),
            counts,
        })
        .collect();
    rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.domain.cmp(&b.domain)));
    rows.insert(
        0,
        ShapeRow {
            domain: "TOTAL".to_owned(),
            total: total.iter().sum(),
            counts: total,
        },
    );
    Shape {
        buckets: bounds,
        rows,
    }
}
