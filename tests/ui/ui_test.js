// ui_test.js: drives Debian's chromium (puppeteer-core) through the dashboard of a live bridge;
// run by tests/integration/test_ui.py, one scenario per call. Exits 1 with the reason.
// node tests/ui/ui_test.js SCENARIO BASE_URL SHOT_DIR [TOKEN]
'use strict';
const fs = require('fs');
const path = require('path');
const puppeteer = require(path.join(__dirname, '..', '..', 'ui', 'node_modules', 'puppeteer-core'));

const [scenario, base, shots, token] = process.argv.slice(2);
const DEADLINE_MS = 30000;
const origin = new URL(base).origin;

function check(cond, msg) { if (!cond) throw new Error(msg); }

// Polls fn in the page until it returns a truthy value, or fails with what.
async function until(page, what, fn, ...args) {
  try {
    const h = await page.waitForFunction(fn, { timeout: DEADLINE_MS, polling: 100 }, ...args);
    return await h.jsonValue();
  } catch (e) {
    throw new Error(`timed out waiting for ${what}`);
  }
}

// The data of the chart titled name: [xs, ys...] once it holds a value.
const chartData = (name) => {
  for (const el of document.querySelectorAll('.panel')) {
    const c = el.chart;
    if (c && el.querySelector('.name').textContent === name && c.plot &&
        c.plot.data.slice(1).some(ys => ys.some(v => v != null)))
      return c.plot.data.map(a => Array.from(a));
  }
  return null;
};

async function open(browser, url, width = 1280) {
  const page = await browser.newPage();
  await page.setViewport({ width, height: 1000 });
  page.problems = [];
  page.requests = [];
  page.on('console', m => { if (m.type() === 'error') page.problems.push('console: ' + m.text()); });
  page.on('pageerror', e => page.problems.push('page error: ' + e.message));
  page.on('request', r => page.requests.push({ url: r.url(), auth: r.headers().authorization || '' }));
  await page.goto(url, { waitUntil: 'load' });
  return page;
}

function clean(page) {
  check(page.problems.length === 0, 'errors in the page: ' + page.problems.join('; '));
  const away = page.requests.filter(r => !r.url.startsWith(origin) && !r.url.startsWith('data:'));
  check(away.length === 0, 'requests to another host: ' + away.map(r => r.url).join(' '));
}

async function shot(page, name) {
  fs.mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: false });
}

const scenarios = {
  // The node's view: cards, node charts drawn, the container listed, agentd's health.
  async node(browser) {
    const page = await open(browser, base);
    await until(page, 'the CPU chart', chartData, 'CPU');
    await until(page, 'the container in the list', () =>
      [...document.querySelectorAll('#containers a')].map(a => a.textContent).includes('web-1'));
    await until(page, 'the container\'s busiest metrics', () => {
      const b = document.querySelector('#containers .busy');
      return b && /lat|req|tagged/.test(b.textContent);
    });
    const cards = await page.$$eval('.card .v', els => els.map(e => e.textContent));
    check(cards.length >= 4 && cards[0] !== '–', 'node cards empty: ' + cards.join(','));
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await until(page, 'agentd\'s series chart', chartData, 'Series stored');
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, 'node');
    clean(page);
  },

  // A container's page: its timer's p99, then the stat and window selectors change what is
  // drawn, and the URL keeps the view.
  async container(browser) {
    const page = await open(browser, base + '#/container/web-1');
    // a timer opens on its p99
    await until(page, 'the lat chart', chartData, 'lat');
    // only the charts on screen ask: the shim's own counters, far below, have not yet
    const asked = page.requests.filter(r => r.url.includes('/v1/ranges')).map(r => r.url).join(' ');
    check(!asked.includes('udp_drops'), 'a chart off screen fetched its data');
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await until(page, 'the last chart once scrolled to', () =>
      [...document.querySelectorAll('.panel')].pop().chart.loaded);
    await page.evaluate(() => window.scrollTo(0, 0));
    const first = await page.$eval('select[aria-label="stat of lat"]', el => el.value);
    check(first === 'p99', 'a timer opens on ' + first);
    // lat got 10, 20, 30, 40 in one interval: max 40, count 4
    for (const [stat, want] of [['max', 40], ['count', 4]]) {
      await page.select('select[aria-label="stat of lat"]', stat);
      await until(page, `lat's ${stat} ${want}`, (n, st, w) => {
        const el = [...document.querySelectorAll('.panel')].find(p => p.querySelector('.name').textContent === n);
        const c = el && el.chart;
        return c && c.stat === st && c.plot && c.plot.data[1].filter(v => v != null).pop() === w;
      }, 'lat', stat, want);
    }
    check(page.requests.some(r => /\/v1\/ranges\?.*stat=count.*name=lat/.test(r.url)), 'no ranges request for count');
    await page.select('#window', '6h');
    await until(page, 'a 6h request', () => location.hash.includes('w=6h'));
    await until(page, 'the chart over 6h', (n) => {
      const el = [...document.querySelectorAll('.panel')].find(p => p.querySelector('.name').textContent === n);
      const xs = el && el.chart.plot && el.chart.plot.data[0];
      return xs && xs.length > 1 && xs[xs.length - 1] - xs[0] > 3 * 3600;
    }, 'lat');
    const hash = await page.evaluate(() => location.hash);
    check(hash.includes('s.lat=count') && hash.includes('w=6h'), 'URL does not keep the view: ' + hash);
    // each chart asks for no more points than it is wide
    const over = await page.evaluate(() => [...document.querySelectorAll('.panel')].filter(el => el.chart.plot &&
      el.chart.plot.data[0].length > el.chart.body.clientWidth).map(el => el.chart.lines[0].name));
    check(over.length === 0, 'charts with more points than pixels: ' + over.join(','));
    await shot(page, 'container');
    // the same URL in a new tab opens the same view
    const again = await open(browser, base + hash);
    await until(again, 'the shared view', () => document.querySelector('#window').value === '6h' &&
      document.querySelector('select[aria-label="stat of lat"]') &&
      document.querySelector('select[aria-label="stat of lat"]').value === 'count');
    clean(page);
    clean(again);
  },

  // The tag-set filter draws one tag set's values.
  async tags(browser) {
    const page = await open(browser, base + '#/container/web-1');
    await until(page, 'the tagged chart', chartData, 'tagged');
    await page.select('select[aria-label="stat of tagged"]', 'count');
    await until(page, 'all tag sets counted', (n) => {
      const c = [...document.querySelectorAll('.panel')].find(p => p.querySelector('.name').textContent === n).chart;
      return c.stat === 'count' && c.plot && c.plot.data[1].filter(v => v != null).pop() === 6;
    }, 'tagged');
    await page.select('select[aria-label="tag set of tagged"]', 'region:eu');
    await until(page, 'region:eu alone', (n) => {
      const c = [...document.querySelectorAll('.panel')].find(p => p.querySelector('.name').textContent === n).chart;
      return c.lines[0].tags === 'region:eu' && c.plot && c.plot.data[1].filter(v => v != null).pop() === 1;
    }, 'tagged');
    check(page.requests.some(r => /tags=region%3Aeu/.test(r.url)), 'no request with the tag filter');
    clean(page);
  },

  // A bridge with --token-file: the page asks for the token, then its calls carry it.
  async token(browser) {
    const page = await open(browser, base + '#/container/web-1');
    await until(page, 'the token form', () => !document.querySelector('#login').hidden);
    await page.type('#token', 'wrong');
    await page.click('#login button');
    await until(page, 'the refusal', () => /refused/.test(document.querySelector('#login-error').textContent) &&
      !document.querySelector('#login').hidden);
    await page.$eval('#token', el => { el.value = ''; });
    await page.type('#token', token);
    await page.click('#login button');
    await until(page, 'the lat chart', chartData, 'lat');
    const api = page.requests.filter(r => /\/v1\/|\/v0\//.test(r.url));
    check(api.length > 0 && api.some(r => r.auth === 'Bearer ' + token), 'API calls without the token');
    await shot(page, 'token');
    // the 401s were expected: only other errors count
    page.problems = page.problems.filter(p => !/401/.test(p));
    clean(page);
  },

  // make demo's first URL: the app's latency, drawn as its p99 over the last 15 minutes.
  async demo(browser) {
    const page = await open(browser, base);
    await until(page, 'the latency chart', chartData, 'testapp.response.latency');
    const stat = await page.$eval('select[aria-label="stat of testapp.response.latency"]', el => el.value);
    check(stat === 'p99', 'latency drawn as ' + stat);
    check(await page.$eval('#window', el => el.value) === '15m', 'window is not 15 min');
    await shot(page, 'demo');
    clean(page);
  },

  // An unknown container says so.
  async unknown(browser) {
    const page = await open(browser, base + '#/container/nope');
    const text = await until(page, 'the message', () => {
      const el = document.querySelector('.notfound');
      return el && el.textContent;
    });
    check(/Unknown container nope/.test(text), 'message: ' + text);
    page.problems = page.problems.filter(p => !/404/.test(p)); // the bridge's answer, shown
    clean(page);
  },

  // A narrow screen: one column, nothing wider than the screen.
  async narrow(browser) {
    const page = await open(browser, base + '#/container/web-1', 375);
    await until(page, 'the lat chart', chartData, 'lat');
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    check(w <= 376, 'page is wider than the screen: ' + w);
    await shot(page, 'narrow');
    clean(page);
  },
};

(async () => {
  check(scenarios[scenario], 'no such scenario: ' + scenario);
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'],
  });
  try {
    await scenarios[scenario](browser);
    console.log('ok ' + scenario);
  } finally {
    await browser.close();
  }
})().catch(e => { console.error('FAIL ' + scenario + ': ' + e.message); process.exit(1); });
