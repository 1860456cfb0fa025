//! Which simulcast layer suits a subscriber's requested size.
//!
//! The subscriber (through adaptive stream, or by hand) says how large it shows
//! a video. We send the smallest layer that still covers that size, so a
//! thumbnail costs a thumbnail's bandwidth; if no layer is large enough, the
//! largest. Only layers the publisher is actually sending count, because a
//! browser drops encodings when it is short of CPU or bandwidth and waiting for
//! a keyframe that never comes would freeze the picture.

/// Size of one published layer, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSize {
    pub width: u32,
    pub height: u32,
}

/// What the subscriber asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Disabled,
    /// No size given yet: the best available.
    Best,
    Size {
        width: u32,
        height: u32,
    },
    /// A layer by index (0 = low), for clients that ask by quality.
    Quality(u8),
}

/// Pick a layer index from `sizes` (lowest first), considering only layers
/// for which `active(index)` is true. `None` when nothing is available.
pub fn select(sizes: &[LayerSize], wanted: Wanted, active: impl Fn(u8) -> bool) -> Option<u8> {
    let available = || (0..sizes.len() as u8).filter(|&i| active(i));
    match wanted {
        Wanted::Disabled => None,
        Wanted::Best => available().last(),
        Wanted::Size { width, height } => {
            let wanted_edge = width.max(height);
            available()
                .find(|&i| {
                    let s = sizes[usize::from(i)];
                    s.width.max(s.height) >= wanted_edge
                })
                .or_else(|| available().last())
        }
        Wanted::Quality(q) => available()
            .filter(|&i| i <= q)
            .last()
            .or_else(|| available().next()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VGA: [LayerSize; 3] = [
        LayerSize {
            width: 160,
            height: 120,
        },
        LayerSize {
            width: 320,
            height: 240,
        },
        LayerSize {
            width: 640,
            height: 480,
        },
    ];

    #[test]
    fn smallest_layer_that_covers_the_request() {
        let all = |_| true;
        assert_eq!(
            select(
                &VGA,
                Wanted::Size {
                    width: 160,
                    height: 120
                },
                all
            ),
            Some(0)
        );
        assert_eq!(
            select(
                &VGA,
                Wanted::Size {
                    width: 200,
                    height: 150
                },
                all
            ),
            Some(1)
        );
        assert_eq!(
            select(
                &VGA,
                Wanted::Size {
                    width: 1280,
                    height: 720
                },
                all
            ),
            Some(2)
        );
        assert_eq!(select(&VGA, Wanted::Best, all), Some(2));
        assert_eq!(select(&VGA, Wanted::Disabled, all), None);
        assert_eq!(select(&VGA, Wanted::Quality(1), all), Some(1));
        assert_eq!(select(&VGA, Wanted::Quality(0), |i| i > 0), Some(1));
    }

    #[test]
    fn only_layers_being_sent() {
        let no_top = |i| i < 2;
        assert_eq!(
            select(
                &VGA,
                Wanted::Size {
                    width: 1280,
                    height: 720
                },
                no_top
            ),
            Some(1)
        );
        let only_top = |i| i == 2;
        assert_eq!(
            select(
                &VGA,
                Wanted::Size {
                    width: 100,
                    height: 100
                },
                only_top
            ),
            Some(2)
        );
        assert_eq!(select(&VGA, Wanted::Best, |_| false), None);
    }
}
