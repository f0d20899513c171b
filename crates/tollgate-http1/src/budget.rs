//! A budget for request bodies held in memory, shared by every connection:
//! many slow uploads at once cannot take more than it, whatever each one's
//! own size limit allows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug)]
pub struct BodyBudget {
    used: AtomicUsize,
    max: usize,
}

/// Bytes taken from a [`BodyBudget`]; given back when dropped.
#[derive(Debug)]
pub struct BudgetPermit {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

impl BodyBudget {
    pub fn new(max: usize) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            used: AtomicUsize::new(0),
            max,
        })
    }

    /// An empty permit, to grow as a body of unknown length arrives.
    pub fn permit(self: &Arc<Self>) -> BudgetPermit {
        BudgetPermit {
            budget: self.clone(),
            bytes: 0,
        }
    }

    /// Takes `bytes`, unless that would pass the budget.
    fn take(&self, bytes: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(bytes).filter(|n| *n <= self.max) else {
                metrics::counter!("tollgate_body_budget_refusals_total").increment(1);
                return false;
            };
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

impl BudgetPermit {
    /// Takes `bytes` more; false (and nothing taken) when the budget is spent.
    pub fn grow(&mut self, bytes: usize) -> bool {
        if !self.budget.take(bytes) {
            return false;
        }
        self.bytes += bytes;
        true
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.used.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_take_and_give_back() {
        let budget = BodyBudget::new(100);
        let mut a = budget.permit();
        assert!(a.grow(60));
        let mut b = budget.permit();
        assert!(!b.grow(50), "over the budget");
        assert!(b.grow(40));
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        assert!(b.grow(60));
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
