// ui_load.js: the dashboard's speed, for make bench: how long until a view's charts on screen
// are drawn, then (after "go" on stdin) N refreshes of them in a row, for the caller to
// measure the bridge's and agentd's CPU around. node tests/ui/ui_load.js URL N
'use strict';
const path = require('path');
const readline = require('readline');
const puppeteer = require(path.join(__dirname, '..', '..', 'ui', 'node_modules', 'puppeteer-core'));

const [url, n] = [process.argv[2], Number(process.argv[3] || 10)];

(async () => {
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1000 });
    let requests = 0;
    page.on('request', () => { requests++; });
    await page.goto(url, { waitUntil: 'load' });
    // drawn: every chart on screen has its data, and the containers table (if any) its rows
    await page.waitForFunction(() => {
      const vis = [...charts].filter(c => c.visible);
      return vis.length > 0 && vis.every(c => c.loaded);
    }, { timeout: 60000, polling: 10 });
    const loadMs = await page.evaluate(() => performance.now());
    const onScreen = await page.evaluate(() => [...charts].filter(c => c.visible).length);
    const total = await page.evaluate(() => charts.size);
    console.log('LOADED ' + JSON.stringify({ load_ms: loadMs, charts_on_screen: onScreen, charts: total, requests }));
    const rl = readline.createInterface({ input: process.stdin });
    for await (const line of rl) if (line.trim() === 'go') break;
    const before = requests;
    const t0 = Date.now();
    for (let i = 0; i < n; i++) await page.evaluate(() => refreshCharts([...charts].filter(c => c.visible)));
    console.log('DONE ' + JSON.stringify({ refreshes: n, wall_ms: (Date.now() - t0) / n, requests_per_refresh: (requests - before) / n }));
  } finally {
    await browser.close();
  }
})().then(() => process.exit(0), e => { console.error(e.message); process.exit(1); });
