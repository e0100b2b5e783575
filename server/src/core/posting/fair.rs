//! Fair shares of a lane's batches between merchants, so that a hot merchant
//! cannot fill the batches the others wait on (issue 17: "keep hot merchants
//! isolated").
//!
//! A lane's committer commits one batch at a time, and every client waits for
//! the batch its request is in. Without shares, a merchant with 32 requests
//! queued puts all 32 into the next batch; every other merchant's request in
//! that batch waits for all of them, and on a machine whose CPU is the limit
//! each of them takes CPU from the others too. With shares, each batch is
//! divided between the merchants waiting:
//!
//! - the batch takes at most `B` = min(requests waiting, `max_batch`)
//!   requests, and each of the `M` merchants waiting gets at most ⌈`B` / `M`⌉
//!   of them, its oldest first;
//! - a merchant left with requests after a batch is **held**: until its queue
//!   empties, its share is counted against the most merchants seen in any of
//!   the last [`RECENT_BATCHES`] batches, not only those waiting now. So in
//!   the moments between the other merchants' requests (their clients are
//!   reading their replies), its backlog goes out a share at a time instead
//!   of as one long batch the others then wait behind.
//!
//! Nothing waits for a merchant that has nothing queued, so a merchant alone
//! (the `hot` benchmark, a bulk import) still gets whole batches, and when
//! each merchant has one request waiting (the `uniform` benchmark) every
//! request goes into the next batch, as before. Within a merchant requests
//! keep their order; across merchants a batch lists them round-robin.
//!
//! The scope is the request's key scope ([`super::Request::scope`]): the
//! merchant acted for, or the platform for staff commands that name a payment,
//! a payout or a transaction, which therefore share one platform queue.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::domain::MerchantId;

/// How many recent batches a held merchant's share is measured against: long
/// enough to span the gap while the other merchants' clients read their
/// replies and send again, short enough that a merchant left alone gets whole
/// batches again within a few commits.
pub const RECENT_BATCHES: usize = 8;

/// Requests waiting for a lane's committer, one queue per merchant.
#[derive(Debug)]
pub(super) struct FairQueue<T> {
    queues: HashMap<MerchantId, VecDeque<T>>,
    /// Merchants with requests waiting, in the order they are served next.
    order: VecDeque<MerchantId>,
    /// Merchants that were left with requests by an earlier batch.
    held: HashSet<MerchantId>,
    /// Distinct merchants in each of the last [`RECENT_BATCHES`] batches.
    recent: VecDeque<usize>,
    waiting: usize,
}

impl<T> Default for FairQueue<T> {
    fn default() -> Self {
        Self {
            queues: HashMap::new(),
            order: VecDeque::new(),
            held: HashSet::new(),
            recent: VecDeque::with_capacity(RECENT_BATCHES),
            waiting: 0,
        }
    }
}

impl<T> FairQueue<T> {
    /// Requests waiting.
    pub(super) fn len(&self) -> usize {
        self.waiting
    }

    /// Whether no request waits.
    pub(super) fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// Distinct merchants in the last batch taken (0 before the first).
    pub(super) fn last_merchants(&self) -> usize {
        self.recent.back().copied().unwrap_or(0)
    }

    /// Queues `item` behind `merchant`'s earlier requests.
    pub(super) fn push(&mut self, merchant: MerchantId, item: T) {
        let queue = self.queues.entry(merchant).or_default();
        if queue.is_empty() {
            self.order.push_back(merchant);
        }
        queue.push_back(item);
        self.waiting += 1;
    }

    /// The next batch: at most `max` requests (at least one if any waits),
    /// each merchant's share of them as the module doc says, each merchant's
    /// in the order they were queued. Returns the requests and how many were
    /// left waiting because their merchant had had its share.
    pub(super) fn take(&mut self, max: usize) -> (Vec<T>, usize) {
        let budget = self.waiting.min(max.max(1));
        let present = self.order.len().max(1);
        let recent = self.recent.iter().copied().max().unwrap_or(0);
        let share = budget.div_ceil(present);
        let held_share = budget.div_ceil(present.max(recent)).max(1);
        let mut batch = Vec::with_capacity(budget);
        let (mut unreached, mut left) = (VecDeque::new(), VecDeque::new());
        let mut merchants = 0;
        let mut capped = 0;
        for merchant in std::mem::take(&mut self.order) {
            let Some(queue) = self.queues.get_mut(&merchant) else { continue };
            let cap = if self.held.contains(&merchant) { held_share } else { share };
            let n = cap.min(queue.len()).min(budget - batch.len());
            if n == 0 {
                unreached.push_back(merchant);
                continue;
            }
            batch.extend(queue.drain(..n));
            merchants += 1;
            if queue.is_empty() {
                self.queues.remove(&merchant);
                self.held.remove(&merchant);
            } else {
                if n == cap {
                    self.held.insert(merchant);
                    capped += queue.len();
                }
                left.push_back(merchant);
            }
        }
        unreached.append(&mut left);
        self.order = unreached;
        self.waiting -= batch.len();
        if self.recent.len() == RECENT_BATCHES {
            self.recent.pop_front();
        }
        self.recent.push_back(merchants);
        (batch, capped)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn merchants(n: usize) -> Vec<MerchantId> {
        (0..n).map(|_| MerchantId::new()).collect()
    }

    /// A queue with one request, numbered in order, from each of `ms`.
    fn one_each(ms: &[MerchantId]) -> FairQueue<usize> {
        let mut q = FairQueue::default();
        for (i, m) in ms.iter().enumerate() {
            q.push(*m, i);
        }
        q
    }

    #[test]
    fn one_request_per_merchant_all_go_into_the_next_batch_in_order() {
        let mut q = one_each(&merchants(40));
        let (batch, held) = q.take(256);
        assert_eq!(batch, (0..40).collect::<Vec<_>>());
        assert_eq!(held, 0);
        assert!(q.is_empty());
    }

    #[test]
    fn a_merchant_alone_gets_whole_batches() {
        let hot = MerchantId::new();
        let mut q = FairQueue::default();
        for i in 0..300 {
            q.push(hot, i);
        }
        let (first, held) = q.take(256);
        assert_eq!(first, (0..256).collect::<Vec<_>>(), "oldest first, up to max_batch");
        assert_eq!(held, 44);
        let (second, _) = q.take(256);
        assert_eq!(second, (256..300).collect::<Vec<_>>());
        assert!(q.is_empty());
    }

    #[test]
    fn a_hot_merchant_gets_its_share_and_its_backlog_trickles_between_the_others() {
        let hot = MerchantId::new();
        let others = merchants(32);
        let mut q = FairQueue::default();
        for i in 0..32 {
            q.push(hot, (hot, i));
        }
        for m in &others {
            q.push(*m, (*m, 0));
        }
        // 64 waiting over 33 merchants: at most two each.
        let (batch, held) = q.take(256);
        assert_eq!(batch.len(), 34);
        assert_eq!(batch.iter().filter(|(m, _)| *m == hot).map(|(_, i)| *i).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(held, 30);
        // The others are replying: only the hot merchant waits. Its share is
        // still counted against the 33 merchants of the last batch.
        let (gap, _) = q.take(256);
        assert_eq!(gap, vec![(hot, 2)]);
        // The others are back: they all go, and the hot merchant's next one.
        for m in &others {
            q.push(*m, (*m, 1));
        }
        let (batch, _) = q.take(256);
        assert_eq!(batch.len(), 34);
        assert_eq!(batch.iter().filter(|(m, _)| *m == hot).count(), 2);
        assert!(others.iter().all(|m| batch.contains(&(*m, 1))));
        // Its order is kept throughout.
        let (batch, _) = q.take(256);
        assert_eq!(batch, vec![(hot, 5)]);
    }

    #[test]
    fn a_held_merchant_left_alone_gets_whole_batches_again_within_a_few_commits() {
        let hot = MerchantId::new();
        let others = merchants(20);
        let mut q = FairQueue::default();
        for i in 0..1000 {
            q.push(hot, i);
        }
        for m in &others {
            q.push(*m, 0);
        }
        let (first, _) = q.take(256);
        assert_eq!(first.len(), 20 + 256usize.div_ceil(21));
        let mut sizes = Vec::new();
        while !q.is_empty() {
            sizes.push(q.take(256).0.len());
        }
        assert!(sizes[..RECENT_BATCHES - 1].iter().all(|&n| n < 20), "{sizes:?}");
        assert!(sizes[RECENT_BATCHES..].iter().all(|&n| n == 256 || n == *sizes.last().unwrap()), "{sizes:?}");
    }

    #[test]
    fn a_full_batch_leaves_the_merchants_it_did_not_reach_first_in_line() {
        let mut q = one_each(&merchants(10));
        let (batch, held) = q.take(4);
        assert_eq!(batch, vec![0, 1, 2, 3]);
        assert_eq!(held, 0, "nobody was held back by a share");
        let (batch, _) = q.take(4);
        assert_eq!(batch, vec![4, 5, 6, 7]);
        let (batch, _) = q.take(4);
        assert_eq!(batch, vec![8, 9]);
        assert!(q.take(4).0.is_empty());
    }
}
