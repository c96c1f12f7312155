// bench_charts.js: the chart-library choice, measured: each candidate draws 10 charts of 10,000
// points in headless chromium; prints one line per library with the median of 5 runs.
// node tests/ui/bench_charts.js   (needs ui/node_modules, Debian libjs-chart.js, libjs-dygraphs)
'use strict';
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..', '..');
const puppeteer = require(path.join(root, 'ui', 'node_modules', 'puppeteer-core'));

const libs = {
  uPlot: { js: path.join(root, 'ui/node_modules/uplot/dist/uPlot.iife.min.js'),
           css: path.join(root, 'ui/node_modules/uplot/dist/uPlot.min.css') },
  'Chart.js': { js: '/usr/share/javascript/chart.js/chart.min.js' },
  dygraphs: { js: '/usr/share/javascript/dygraphs/dygraph.min.js',
              css: '/usr/share/javascript/dygraphs/dygraph.min.css' },
};

// Runs in the page: draws 10 charts of n points with the library, returns milliseconds until
// the next frame after the last one (uPlot commits its drawing in a microtask; the others draw
// synchronously with animation off), so every library's whole drawing is counted.
async function draw(lib, n) {
  const xs = new Float64Array(n), ys = new Float64Array(n);
  for (let i = 0; i < n; i++) { xs[i] = 1.7e9 + i * 10; ys[i] = Math.sin(i / 50) * 50 + Math.random() * 10; }
  const host = document.getElementById('host');
  host.innerHTML = '';
  const t0 = performance.now();
  for (let c = 0; c < 10; c++) {
    const el = document.createElement('div');
    el.style.width = '600px'; el.style.height = '200px';
    host.appendChild(el);
    if (lib === 'uPlot') {
      new uPlot({ width: 600, height: 200, series: [{}, { stroke: 'blue' }] }, [xs, ys], el);
    } else if (lib === 'Chart.js') {
      const cv = document.createElement('canvas'); el.appendChild(cv);
      const data = Array.from(xs, (x, i) => ({ x, y: ys[i] }));
      new Chart(cv, { type: 'line', data: { datasets: [{ data, pointRadius: 0, borderWidth: 1 }] },
        options: { animation: false, responsive: false, parsing: false, normalized: true,
          scales: { x: { type: 'linear' } }, plugins: { legend: { display: false } } } });
    } else {
      const rows = Array.from(xs, (x, i) => [x, ys[i]]);
      new Dygraph(el, rows, { width: 600, height: 200, labels: ['t', 'v'] });
    }
  }
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  return performance.now() - t0;
}

(async () => {
  const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'] });
  try {
    for (const [name, f] of Object.entries(libs)) {
      if (!fs.existsSync(f.js)) { console.log(`${name}: not installed (${f.js})`); continue; }
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 2400 });
      await page.setContent('<div id="host"></div>');
      if (f.css) await page.addStyleTag({ content: fs.readFileSync(f.css, 'utf8') });
      await page.addScriptTag({ content: fs.readFileSync(f.js, 'utf8') });
      const runs = [];
      for (let i = 0; i < 5; i++) runs.push(await page.evaluate(draw, name, 10000));
      runs.sort((a, b) => a - b);
      console.log(`${name}: 10 charts x 10,000 points: median ${runs[2].toFixed(1)} ms ` +
                  `(runs ${runs.map(r => r.toFixed(0)).join(', ')}), ` +
                  `library ${(fs.statSync(f.js).size / 1024).toFixed(0)} KB minified`);
      await page.close();
    }
  } finally {
    await browser.close();
  }
})().catch(e => { console.error(e); process.exit(1); });
