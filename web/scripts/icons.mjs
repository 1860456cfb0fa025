// Draws the app's icons (web/public/icons/*.png) from the favicon's shape: a blue rounded square
// with a white camera. Run `node scripts/icons.mjs` in web/ after changing the drawing; the PNGs
// are committed, so a build does not need this script. Built-in modules only (zlib for PNG).

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../public/icons');
const ACCENT = [0x3b, 0x82, 0xf6];
const WHITE = [0xff, 0xff, 0xff];

// The favicon's camera in its 32-unit box: a body and a lens trapezoid.
const inBody = (x, y) => x >= 8 && x <= 19 && y >= 11 && y <= 21;
const inLens = (x, y) => x >= 19 && x <= 24 && y >= 14.5 - ((x - 19) * 3) / 5 && y <= 17.5 + ((x - 19) * 3) / 5;

/**
 * `maskable`: the background fills the square and the camera sits well inside the safe zone
 * (the central circle of 80 % diameter that every platform mask keeps).
 */
function draw(size, { maskable = false } = {}) {
  const SS = 4; // samples per pixel per axis
  const rgba = Buffer.alloc(size * size * 4);
  // Maskable: the glyph a little smaller, centred; its corners stay within 0.27 of the centre,
  // inside the safe zone's radius of 0.4.
  const glyphScale = maskable ? 0.9 : 1;
  const radius = 8 / 32; // corner radius of the favicon's square, as a fraction
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let bg = 0;
      let fg = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const u = (px + (sx + 0.5) / SS) / size; // 0..1
          const v = (py + (sy + 0.5) / SS) / size;
          let inside = true;
          if (!maskable) {
            const cx = Math.min(Math.max(u, radius), 1 - radius);
            const cy = Math.min(Math.max(v, radius), 1 - radius);
            inside = (u - cx) ** 2 + (v - cy) ** 2 <= radius * radius;
          }
          if (!inside) continue;
          bg++;
          const gx = ((u - 0.5) / glyphScale + 0.5) * 32;
          // The favicon's camera is centred at y = 16 already; x centre is 16 too.
          const gy = ((v - 0.5) / glyphScale + 0.5) * 32;
          if (inBody(gx, gy) || inLens(gx, gy)) fg++;
        }
      }
      const n = SS * SS;
      const i = (py * size + px) * 4;
      const a = bg / n;
      const f = bg ? fg / bg : 0;
      for (let c = 0; c < 3; c++) rgba[i + c] = Math.round(ACCENT[c] * (1 - f) + WHITE[c] * f);
      rgba[i + 3] = Math.round(a * 255);
    }
  }
  return png(size, size, rgba);
}

function png(width, height, rgba) {
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    rgba.copy(raw, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

mkdirSync(OUT, { recursive: true });
for (const [file, size, opts] of [
  ['icon-192.png', 192, {}],
  ['icon-512.png', 512, {}],
  ['maskable-512.png', 512, { maskable: true }],
  ['apple-touch-icon.png', 180, { maskable: true }],
]) {
  writeFileSync(path.join(OUT, file), draw(size, opts));
  console.log(`wrote ${path.join(OUT, file)}`);
}
