//! Where each person's picture goes on the recording's canvas.
//!
//! *Grid*: everyone gets an equal tile; the grid has as many columns as the
//! square root of the count (rounded up) and as many rows as needed, the last
//! row centred. *Speaker*: the active speaker (or a screen share) fills the
//! top four fifths, everyone else shares a filmstrip below. Tiles keep 16:9;
//! the picture inside a tile is scaled to fit it, keeping its own shape.

/// A tile in canvas pixels. Sizes are even, as I420 video needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Grid,
    Speaker,
}

impl Layout {
    /// LiveKit's layout names; `None` for one Confab does not draw.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "" | "grid" | "grid-light" | "grid-dark" => Some(Self::Grid),
            "speaker" | "speaker-light" | "speaker-dark" | "single-speaker" => Some(Self::Speaker),
            _ => None,
        }
    }
}

/// Tiles for `n` pictures on a `width`×`height` canvas; with
/// [`Layout::Speaker`], tile 0 is the large one.
pub fn tiles(layout: Layout, n: usize, width: i32, height: i32) -> Vec<Rect> {
    match layout {
        _ if n == 0 => Vec::new(),
        Layout::Grid => grid(
            n,
            Rect {
                x: 0,
                y: 0,
                width,
                height,
            },
        ),
        Layout::Speaker if n == 1 => grid(
            1,
            Rect {
                x: 0,
                y: 0,
                width,
                height,
            },
        ),
        Layout::Speaker => {
            let strip = height / 5;
            let mut out = grid(
                1,
                Rect {
                    x: 0,
                    y: 0,
                    width,
                    height: height - strip,
                },
            );
            let others = n - 1;
            let w = even(width / others as i32).min(even(strip * 16 / 9));
            let left = (width - w * others as i32) / 2;
            out.extend((0..others).map(|i| {
                fit(Rect {
                    x: left + w * i as i32,
                    y: height - strip,
                    width: w,
                    height: strip,
                })
            }));
            out
        }
    }
}

fn grid(n: usize, area: Rect) -> Vec<Rect> {
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let cell_w = area.width / cols as i32;
    let cell_h = area.height / rows as i32;
    (0..n)
        .map(|i| {
            let (row, col) = (i / cols, i % cols);
            // The last row, if short, is centred.
            let in_row = if row == rows - 1 {
                n - row * cols
            } else {
                cols
            };
            let offset = (area.width - cell_w * in_row as i32) / 2;
            fit(Rect {
                x: area.x + offset + cell_w * col as i32,
                y: area.y + cell_h * row as i32,
                width: cell_w,
                height: cell_h,
            })
        })
        .collect()
}

/// The largest 16:9 rectangle centred in `cell`.
fn fit(cell: Rect) -> Rect {
    let (mut w, mut h) = (cell.width, cell.width * 9 / 16);
    if h > cell.height {
        h = cell.height;
        w = cell.height * 16 / 9;
    }
    let (w, h) = (even(w), even(h));
    Rect {
        x: cell.x + (cell.width - w) / 2,
        y: cell.y + (cell.height - h) / 2,
        width: w,
        height: h,
    }
}

fn even(v: i32) -> i32 {
    (v / 2 * 2).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlaps(a: &Rect, b: &Rect) -> bool {
        a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
    }

    #[test]
    fn grids_fill_the_canvas_without_overlap() {
        for n in 1..=25 {
            let t = tiles(Layout::Grid, n, 1280, 720);
            assert_eq!(t.len(), n);
            for (i, a) in t.iter().enumerate() {
                assert!(
                    a.x >= 0 && a.y >= 0 && a.x + a.width <= 1280 && a.y + a.height <= 720,
                    "{n}: {a:?}"
                );
                assert!(a.width % 2 == 0 && a.height % 2 == 0);
                assert!(
                    t[i + 1..].iter().all(|b| !overlaps(a, b)),
                    "{n}: {a:?} overlaps"
                );
            }
        }
        assert_eq!(
            tiles(Layout::Grid, 1, 1280, 720),
            [Rect {
                x: 0,
                y: 0,
                width: 1280,
                height: 720
            }]
        );
        let two = tiles(Layout::Grid, 2, 1280, 720);
        assert_eq!((two[0].width, two[0].height), (640, 360));
        assert_eq!(two[0].y, two[1].y, "two people side by side");
        // Three: two on top, one centred below.
        let three = tiles(Layout::Grid, 3, 1280, 720);
        assert_eq!(three[2].x, (1280 - 640) / 2);
    }

    #[test]
    fn the_speaker_is_large_and_the_others_share_a_strip() {
        let t = tiles(Layout::Speaker, 5, 1280, 720);
        assert_eq!(t.len(), 5);
        assert!(t[0].width * t[0].height > 4 * t[1].width * t[1].height);
        assert!(
            t[1..]
                .iter()
                .all(|r| r.y >= 720 - 720 / 5 && r.y + r.height <= 720)
        );
        assert!(
            Layout::parse("speaker-dark") == Some(Layout::Speaker)
                && Layout::parse("mosaic").is_none()
        );
        assert!(tiles(Layout::Speaker, 0, 1280, 720).is_empty());
    }
}
