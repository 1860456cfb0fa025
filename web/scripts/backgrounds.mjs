// Draws the background pictures offered for the camera (web/public/backgrounds/*.jpg): simple
// gradients and shapes, made here so their licence is ours. Run `node scripts/backgrounds.mjs` in
// web/ after changing a drawing; the JPEGs are committed, so a build does not need this script.
// The drawing runs in Debian's headless Chromium (a canvas, encoded as JPEG), which prints each
// picture as a data URL into the page that --dump-dom writes out.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../public/backgrounds');
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

// 4:3 like the camera capture, so the picture is not stretched behind the person.
const W = 960;
const H = 720;

// Runs in the page: each function draws one picture onto a 2D context.
const drawings = String.raw`
let seed = 7;
const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
const linear = (c, x0, y0, x1, y1, stops) => {
  const g = c.createLinearGradient(x0, y0, x1, y1);
  for (const [at, colour] of stops) g.addColorStop(at, colour);
  return g;
};
const pictures = {
  // A sunset over layered hills.
  dusk(c, w, h) {
    c.fillStyle = linear(c, 0, 0, 0, h * 0.7, [[0, '#1e1b4b'], [0.45, '#6d28d9'], [0.8, '#db2777'], [1, '#f59e0b']]);
    c.fillRect(0, 0, w, h);
    const sun = c.createRadialGradient(w * 0.68, h * 0.62, 0, w * 0.68, h * 0.62, h * 0.35);
    sun.addColorStop(0, 'rgba(254, 243, 199, 1)');
    sun.addColorStop(0.18, 'rgba(253, 186, 116, 0.9)');
    sun.addColorStop(1, 'rgba(253, 186, 116, 0)');
    c.fillStyle = sun;
    c.fillRect(0, 0, w, h);
    const hills = [['#7c2d5b', 0.62, 40, 1.3], ['#4c1d50', 0.72, 55, 2.1], ['#2e1238', 0.84, 45, 3.4]];
    for (const [colour, base, amp, freq] of hills) {
      c.fillStyle = colour;
      c.beginPath();
      c.moveTo(0, h);
      for (let x = 0; x <= w; x += 8) c.lineTo(x, h * base - amp * Math.sin((x / w) * Math.PI * freq + base * 9));
      c.lineTo(w, h);
      c.fill();
    }
  },
  // Soft out-of-focus lights over deep teal.
  lagoon(c, w, h) {
    c.fillStyle = linear(c, 0, 0, w, h, [[0, '#0f766e'], [0.5, '#0e7490'], [1, '#1e3a8a']]);
    c.fillRect(0, 0, w, h);
    for (let i = 0; i < 34; i++) {
      const x = rand() * w;
      const y = rand() * h;
      const r = 30 + rand() * 90;
      const g = c.createRadialGradient(x, y, 0, x, y, r);
      const tint = rand() < 0.5 ? '153, 246, 228' : '186, 230, 253';
      g.addColorStop(0, 'rgba(' + tint + ', ' + (0.25 + rand() * 0.25) + ')');
      g.addColorStop(0.7, 'rgba(' + tint + ', 0.12)');
      g.addColorStop(1, 'rgba(' + tint + ', 0)');
      c.fillStyle = g;
      c.beginPath();
      c.arc(x, y, r, 0, Math.PI * 2);
      c.fill();
    }
  },
  // A calm light wall with large paper shapes, for those who want a plain room.
  paper(c, w, h) {
    c.fillStyle = linear(c, 0, 0, 0, h, [[0, '#f5efe6'], [1, '#ddd2c2']]);
    c.fillRect(0, 0, w, h);
    const shapes = [['#e9dccb', 0.12, 0.2, 0.42], ['#d9e4dc', 0.92, 0.3, 0.38], ['#efd9c9', 0.8, 1.02, 0.45], ['#e4e0ef', 0.05, 0.95, 0.3]];
    for (const [colour, cx, cy, r] of shapes) {
      c.fillStyle = colour;
      c.beginPath();
      c.arc(cx * w, cy * h, r * h, 0, Math.PI * 2);
      c.fill();
    }
    c.fillStyle = 'rgba(120, 100, 80, 0.08)';
    c.fillRect(0, h * 0.78, w, h * 0.012);
  },
};
const out = {};
for (const [name, draw] of Object.entries(pictures)) {
  const canvas = document.createElement('canvas');
  canvas.width = ${W};
  canvas.height = ${H};
  draw(canvas.getContext('2d'), ${W}, ${H});
  out[name] = canvas.toDataURL('image/jpeg', 0.82);
}
document.body.textContent = JSON.stringify(out);
`;

const dir = mkdtempSync(path.join(tmpdir(), 'confab-backgrounds-'));
try {
  const page = path.join(dir, 'draw.html');
  writeFileSync(page, `<!doctype html><body><script>${drawings}</script>`);
  const dom = execFileSync(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${dir}/profile`, '--dump-dom', `file://${page}`], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const json = dom.slice(dom.indexOf('{'), dom.lastIndexOf('}') + 1);
  for (const [name, url] of Object.entries(JSON.parse(json))) {
    const jpeg = Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
    writeFileSync(path.join(OUT, `${name}.jpg`), jpeg);
    console.log(`${name}.jpg: ${jpeg.length} bytes`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
