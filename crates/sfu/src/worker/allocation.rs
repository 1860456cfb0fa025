//! Running the routers' allocation passes, and passing on what they decide:
//! paused videos to subscribers, needed layers to publishers (dynacast), and
//! the rates each subscriber's bandwidth estimator should look for.

use std::time::Instant;

use str0m::bwe::Bitrate;

use super::{COST_REPORT_INTERVAL, Worker};
use crate::MediaEvent;
use crate::router::Notice;

impl Worker {
    /// Log the CPU time allocation took per subscriber pass and per
    /// subscriber-second, for operators sizing nodes (debug level).
    pub(super) fn report_allocation_cost(&mut self) {
        let (spent, passes) = std::mem::take(&mut self.allocation_cost);
        if passes == 0 {
            return;
        }
        let per_pass = spent.as_secs_f64() * 1e6 / passes as f64;
        tracing::debug!(
            worker = self.index,
            passes,
            micros_per_pass = format!("{per_pass:.2}"),
            micros_per_subscriber_second = format!(
                "{:.1}",
                per_pass * passes as f64
                    / (COST_REPORT_INTERVAL.as_secs_f64() * self.peers.len().max(1) as f64)
            ),
            "bandwidth allocation cost"
        );
    }

    /// Run the allocator for every room (`periodic`), or only for the rooms
    /// marked for reallocation since. Called once per worker loop, so the
    /// common case (nothing marked) must cost nothing.
    pub(super) fn allocate(&mut self, now: Instant, periodic: bool) {
        if !periodic && self.reallocate.is_empty() {
            return;
        }
        let mut due = std::mem::take(&mut self.reallocate);
        if periodic {
            due.clear();
            due.extend(self.rooms.keys());
        } else {
            due.sort_unstable();
            due.dedup();
        }
        let mut notices = Vec::new();
        for &room in &due {
            let Some(router) = self.rooms.get_mut(&room) else {
                continue;
            };
            let started = Instant::now();
            let passes = router.allocate(now, periodic, &mut notices);
            self.allocation_cost.0 += started.elapsed();
            self.allocation_cost.1 += passes;
            for notice in notices.drain(..) {
                self.apply(notice);
            }
        }
        // Keep the buffer's capacity for the next round.
        due.clear();
        if self.reallocate.is_empty() {
            self.reallocate = due;
        }
    }

    fn apply(&mut self, notice: Notice) {
        match notice {
            Notice::StreamStates { subscriber, states } => {
                if let Some(p) = self.peers.get(&subscriber) {
                    let _ = p.events.send(MediaEvent::StreamStates(states));
                }
            }
            Notice::SubscribedLayers {
                publisher,
                track,
                max_layer,
            } => {
                if let Some(p) = self.peers.get(&publisher) {
                    let _ = p
                        .events
                        .send(MediaEvent::SubscribedLayers { track, max_layer });
                }
            }
            Notice::Estimator {
                subscriber,
                minimum,
                desired,
                reprobe_from,
            } => {
                let Some(p) = self.peers.get_mut(&subscriber) else {
                    return;
                };
                let mut bwe = p.subscriber.bwe();
                if let Some(estimate) = reprobe_from {
                    bwe.set_bitrate(Bitrate::bps(minimum), Bitrate::bps(estimate));
                }
                bwe.set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired));
                if !p.unflushed {
                    p.unflushed = true;
                    self.unflushed.push(subscriber);
                }
            }
        }
    }
}
