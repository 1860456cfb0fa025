// Tile view and stage view. Tile view sizes a grid so that every tile is as large as the window
// allows; stage view puts one tile large (pinned, else a screen share, else whoever speaks) with a
// filmstrip of the others beside it, or under it on a narrow screen.

import type { Tile } from './tile';

export type View = 'tile' | 'stage';

export class Layout {
  /** 'auto' until the person picks a view; a new screen share sends it back to auto. */
  choice: 'auto' | View = 'auto';
  pinned: string | undefined;
  private gridCount = -1;
  private readonly resize: ResizeObserver;

  constructor(
    readonly root: HTMLElement,
    readonly stage: HTMLElement,
    readonly filmstrip: HTMLElement,
    readonly grid: HTMLElement,
  ) {
    this.resize = new ResizeObserver(() => this.fitGrid());
    this.resize.observe(root);
  }

  /** Few people or something presented: stage. A group: tiles. Like Jitsi Meet's automatic tile view. */
  view(count: number, screenShared: boolean): View {
    if (this.choice !== 'auto') return this.choice;
    return screenShared || count <= 2 ? 'stage' : 'tile';
  }

  apply(view: View, tiles: Tile[], stageKey: string | undefined) {
    this.root.dataset.view = view;
    if (view === 'tile') {
      place(this.grid, tiles);
      place(this.stage, []);
      place(this.filmstrip, []);
      this.gridCount = tiles.length;
      this.fitGrid();
    } else {
      const onStage = tiles.find((t) => t.key === stageKey) ?? tiles[0];
      place(this.stage, onStage ? [onStage] : []);
      place(this.filmstrip, tiles.filter((t) => t !== onStage));
      place(this.grid, []);
      this.root.classList.toggle('no-filmstrip', tiles.length <= 1);
    }
  }

  /**
   * Picks the column count that makes tiles largest, with tiles between 3:4 and 16:9 so a phone
   * held upright gets tall tiles instead of thin strips.
   */
  private fitGrid() {
    if (this.root.dataset.view !== 'tile' || this.gridCount <= 0) return;
    const gap = 8;
    const width = this.grid.clientWidth;
    const height = this.grid.clientHeight;
    if (width === 0 || height === 0) return;
    const n = this.gridCount;
    let best = { area: 0, cols: 1, w: width, h: height };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      let w = (width - gap * (cols - 1)) / cols;
      let hgt = (height - gap * (rows - 1)) / rows;
      if (w / hgt > 16 / 9) w = (hgt * 16) / 9;
      if (w / hgt < 3 / 4) hgt = (w * 4) / 3;
      if (w * hgt > best.area) best = { area: w * hgt, cols, w, h: hgt };
    }
    this.grid.style.setProperty('--cols', String(best.cols));
    this.grid.style.setProperty('--tile-w', `${Math.floor(best.w)}px`);
    this.grid.style.setProperty('--tile-h', `${Math.floor(best.h)}px`);
  }
}

/** Moves tiles into `container` in order, touching the DOM only where the order differs. */
function place(container: HTMLElement, tiles: Tile[]) {
  const want = tiles.map((t) => t.el);
  const have = [...container.children];
  if (want.length === have.length && want.every((e, i) => e === have[i])) return;
  // Moving an element within one task keeps its <video> playing.
  container.append(...want);
  for (const child of [...container.children]) if (!(want as Element[]).includes(child)) child.remove();
}
