// app.js: the dashboard's views (node, container), its charts (uPlot), and the calls to the
// bridge's JSON API that feed them; only charts in view fetch, in batches, every few seconds.
'use strict';

// The store's windows (agentd's default retention 10s:6h,1m:7d,1h:90d): span and resolution.
const WINDOWS = {
  '15m': { span: 900, res: 10 },
  '6h': { span: 21600, res: 10 },
  '7d': { span: 604800, res: 60 },
  '90d': { span: 7776000, res: 3600 },
};
const REFRESH_MS = 5000;
const RANK_MS = 60000;      // how long a container's busiest metrics are kept before re-ranking
const BATCH = 50;           // names in one /v1/ranges request (the bridge's limit)
const STATS = ['mean', 'p50', 'p90', 'p99', 'max', 'count', 'rate'];
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

const $ = (sel, el = document) => el.querySelector(sel);
const h = (tag, attrs = {}, ...kids) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const k of kids) el.append(k);
  return el;
};

// ---------------------------------------------------------------- the view's state, in the URL
// #/ is the node; #/container/ID the container. Query: w (window), q (name filter),
// s.NAME (a chart's stat), t.NAME (a chart's tag set).
const view = { kind: 'node', id: '', params: new URLSearchParams() };

function readHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  view.params = new URLSearchParams(query);
  const m = path.match(/^\/container\/(.+)$/);
  view.kind = m ? 'container' : 'node';
  view.id = m ? decodeURIComponent(m[1]) : '';
  if (!WINDOWS[view.params.get('w')]) view.params.set('w', '15m');
}

function writeHash() { // keeps the view shareable without adding history entries
  const path = view.kind === 'container' ? '/container/' + encodeURIComponent(view.id) : '/';
  const q = view.params.toString();
  history.replaceState(null, '', '#' + path + (q ? '?' + q : ''));
}

// ---------------------------------------------------------------- the bridge
class HttpError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}
let token = sessionStorage.getItem('metricsbus-token') || '';
let loginShown = null; // a promise while the token form is up

async function api(path) {
  for (;;) {
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    const r = await fetch(path, { headers, cache: 'no-store' });
    if (r.status === 401) {
      await askToken(token ? 'That token was refused.' : '');
      continue;
    }
    if (r.status === 204) return null;
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) throw new HttpError(r.status, (body && body.error) || 'HTTP ' + r.status);
    return body;
  }
}

function askToken(why) {
  if (loginShown) return loginShown;
  const form = $('#login');
  $('#login-error').textContent = why;
  form.hidden = false;
  $('#main').hidden = true;
  $('#token').focus();
  loginShown = new Promise(resolve => {
    form.onsubmit = ev => {
      ev.preventDefault();
      token = $('#token').value.trim();
      sessionStorage.setItem('metricsbus-token', token);
      form.hidden = true;
      $('#main').hidden = false;
      loginShown = null;
      resolve();
    };
  });
  return loginShown;
}

// The step for a chart width: never more points than pixels, a multiple of the resolution.
function stepFor(w, px) {
  const win = WINDOWS[w];
  const n = Math.max(30, Math.floor(px || 600));
  return Math.max(win.res, Math.ceil(win.span / n / win.res) * win.res) + 's';
}

// Fetches many series of one source in batches: reqs [{name, stat, tags}] -> answers in order.
async function ranges(source, reqs, w, px) {
  const groups = new Map(); // one request per stat and tag set
  reqs.forEach((r, i) => {
    const key = r.stat + '|' + (r.tags || '');
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(i);
  });
  const out = new Array(reqs.length).fill(null);
  const calls = [];
  for (const idx of groups.values()) {
    for (let i = 0; i < idx.length; i += BATCH) {
      const part = idx.slice(i, i + BATCH);
      const q = new URLSearchParams({ source, from: '-' + w, step: stepFor(w, px), stat: reqs[part[0]].stat });
      if (reqs[part[0]].tags) q.set('tags', reqs[part[0]].tags);
      part.forEach(j => q.append('name', reqs[j].name));
      calls.push(api('/v1/ranges?' + q).then(b => b.ranges.forEach((a, k) => { out[part[k]] = a; })));
    }
  }
  await Promise.all(calls);
  return out;
}

// ---------------------------------------------------------------- formatting
function fmt(v, unit) {
  if (v == null || !isFinite(v)) return '–';
  if (unit === 'bytes') {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? v.toPrecision(3) : v.toFixed(0)) + ' ' + u[i];
  }
  if (unit === 'percent') return v.toFixed(1) + '%';
  if (unit === 'seconds' && Math.abs(v) >= 3600) return (v / 3600).toFixed(1) + ' h';
  const a = Math.abs(v);
  const s = a >= 1e6 ? (v / 1e6).toFixed(1) + 'M' : a >= 1e4 ? (v / 1e3).toFixed(1) + 'k'
    : a >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(3);
  return unit === 'seconds' ? s + ' s' : s;
}

// ---------------------------------------------------------------- charts
// A chart: a panel drawing one or more lines of one source; it fetches only while in view.
const charts = new Set();
const seen = new IntersectionObserver(entries => {
  for (const e of entries) {
    const c = e.target.chart;
    if (!c) continue;
    c.visible = e.isIntersecting;
    if (c.visible && !c.loaded) refreshCharts([c]);
  }
}, { rootMargin: '200px' });

class Chart {
  // lines: [{name, label, tags}]; stat: the stat drawn; unit for the axis; spark: no axes.
  // deriv: draw the per-second change of a running total (bytes sent, CPU seconds used).
  constructor(parent, { title, source, lines, stat, unit = '', spark = false, deriv = false, controls = null }) {
    Object.assign(this, { source, lines, stat, unit, spark, deriv, plot: null, visible: false, loaded: false });
    this.body = h('div', { class: spark ? 'sparkline' : 'chart' });
    if (spark) {
      this.el = this.body;
    } else {
      const head = h('h3', {}, h('span', { class: 'name' }, title));
      if (controls) head.append(...controls);
      this.el = h('div', { class: 'panel' }, head, this.body);
    }
    this.el.chart = this;
    parent.append(this.el);
    charts.add(this);
    seen.observe(this.el);
  }

  requests() { return this.lines.map(l => ({ name: l.name, stat: this.stat, tags: l.tags || '' })); }

  width() { return this.spark ? 150 : Math.max(200, this.body.clientWidth || 400); }

  draw(answers) {
    this.loaded = true;
    const ok = answers.filter(a => a && a.points);
    if (!ok.length) {
      if (this.plot) { this.plot.destroy(); this.plot = null; }
      const why = answers.find(a => a && a.error);
      this.body.replaceChildren(h('div', { class: 'empty' }, why ? why.error : 'no data in this window'));
      return;
    }
    const xs = ok[0].points.map(p => p[0]);
    let ys = answers.map(a => (a && a.points ? a.points.map(p => p[1]) : xs.map(() => null)));
    if (this.deriv) ys = ys.map(v => v.map((y, i) => perSecond(xs, v, i)));
    const data = [xs, ...ys];
    if (this.plot && this.plot.series.length === data.length) {
      this.plot.setData(data);
      return;
    }
    if (this.plot) this.plot.destroy();
    this.body.replaceChildren();
    const unit = this.unit;
    const series = [{}, ...this.lines.map((l, i) => ({
      label: l.label || l.name, stroke: COLORS[i % COLORS.length], width: 1.5,
      value: (u, v) => fmt(v, unit), spanGaps: false,
      points: { show: true, size: 5, filter: isolated },
    }))];
    const opts = this.spark
      ? { width: 150, height: 32, legend: { show: false }, cursor: { show: false },
          axes: [{ show: false }, { show: false }], series }
      : { width: this.width(), height: 180, series,
          axes: [{}, { size: unit === 'bytes' ? 84 : 64, values: (u, vals) => vals.map(v => fmt(v, unit)) }] };
    this.plot = new uPlot(opts, data, this.body);
  }

  fail(err) {
    this.loaded = true;
    if (this.plot) { this.plot.destroy(); this.plot = null; }
    this.body.replaceChildren(h('div', { class: 'empty error' }, err.message));
  }

  remove() { seen.unobserve(this.el); if (this.plot) this.plot.destroy(); charts.delete(this); }
}

// A value with no neighbour draws no line: those get a dot (uPlot's points.filter).
function isolated(u, si) {
  const ys = u.data[si], out = [];
  for (let i = 0; i < ys.length; i++)
    if (ys[i] != null && ys[i - 1] == null && ys[i + 1] == null) out.push(i);
  return out;
}

// The change from the point before, per second; null across a gap or a reset.
function perSecond(xs, v, i) {
  if (i === 0 || v[i] == null || v[i - 1] == null || v[i] < v[i - 1]) return null;
  return (v[i] - v[i - 1]) / (xs[i] - xs[i - 1]);
}

// Fetches the given charts' data, grouped by source, and draws them.
async function refreshCharts(list) {
  const w = view.params.get('w');
  const bySource = new Map();
  for (const c of list) {
    if (!bySource.has(c.source)) bySource.set(c.source, []);
    bySource.get(c.source).push(c);
  }
  await Promise.all([...bySource].map(async ([source, cs]) => {
    const reqs = cs.flatMap(c => c.requests());
    try {
      const answers = await ranges(source, reqs, w, Math.max(...cs.map(c => c.width())));
      let i = 0;
      for (const c of cs) { c.draw(answers.slice(i, i + c.lines.length)); i += c.lines.length; }
    } catch (e) {
      cs.forEach(c => c.fail(e));
    }
  }));
}

function clearCharts() { for (const c of [...charts]) c.remove(); }

// ---------------------------------------------------------------- node view
const NODE_CHARTS = [
  { title: 'CPU', unit: 'percent', names: ['cpu.total', 'cpu.user', 'cpu.system', 'cpu.wait'] },
  { title: 'Memory', unit: 'bytes', names: ['memory.total', 'memory.free', 'memory.cached', 'memory.buffers'] },
  { title: 'Load', names: ['load.1min', 'load.5min', 'load.15min'] },
  { title: 'Network per second', unit: 'bytes', deriv: true, names: ['network.in', 'network.out'] },
];
const HEALTH_CHARTS = [
  { title: 'Ingest: records committed per second', stat: 'rate', names: ['agentd.records.committed'] },
  { title: 'Series stored', names: ['agentd.series', 'agentd.series.live'] },
  { title: 'Store size', unit: 'bytes', names: ['agentd.store.used_bytes', 'agentd.store.map_bytes'] },
  { title: 'Refused: series and batches', stat: 'sum', names: ['agentd.series.refused', 'agentd.batches.rejected'] },
];

async function renderNode(main) {
  $('#crumb').textContent = 'node';
  const [node, series, ids] = await Promise.all([
    api('/v0/node'), api('/v1/series?source=node'), api('/v0/containers')]);
  const dp = Object.fromEntries(((node && node.datapoints) || []).map(d => [d.name, d]));
  const dims = (node && node.dimensions) || {};
  const card = (k, name, unit) => h('div', { class: 'card' },
    h('div', { class: 'v' }, dp[name] ? fmt(dp[name].value, unit || dp[name].unit) : '–'), h('div', { class: 'k' }, k));
  main.replaceChildren(
    h('h2', {}, 'Node ' + (dims.hostname || '')),
    h('div', { class: 'cards' }, card('CPU cores', 'cpu.cores'), card('CPU busy', 'cpu.total', 'percent'),
      card('memory', 'memory.total', 'bytes'), card('load (1 min)', 'load.1min'),
      card('uptime', 'system.uptime', 'seconds'), card('processes', 'process.count')));
  const grid = h('div', { class: 'grid' });
  main.append(grid);
  for (const c of NODE_CHARTS)
    new Chart(grid, { title: c.title, source: 'node', unit: c.unit, deriv: c.deriv, stat: 'mean', lines: c.names.map(name => ({ name })) });
  // one line per mounted filesystem: its path tag
  const fs = ((series && series.series) || []).filter(s => s.name === 'filesystem.capacity.used');
  if (fs.length) {
    new Chart(grid, { title: 'Filesystems used', source: 'node', unit: 'bytes', stat: 'mean',
      lines: fs.map(s => ({ name: s.name, label: s.tags.path || '', tags: tagString(s.tags) })) });
  }
  main.append(h('h2', {}, 'Containers'));
  renderContainerList(main, ids || []);
  main.append(h('h2', {}, 'agentd'));
  const hg = h('div', { class: 'grid' });
  main.append(hg);
  for (const c of HEALTH_CHARTS)
    new Chart(hg, { title: c.title, source: 'agentd', unit: c.unit, stat: c.stat || 'mean', lines: c.names.map(name => ({ name })) });
}

// The containers table: live or finished, its busiest metrics, a sparkline of the first.
const ranked = new Map(); // id -> {at, busy: [{name, rate, kind}], live}

function renderContainerList(main, ids) {
  if (!ids.length) { main.append(h('p', { class: 'note' }, 'No containers have sent metrics.')); return; }
  const tbody = h('tbody');
  main.append(h('table', { id: 'containers' },
    h('thead', {}, h('tr', {}, h('th', {}, 'container'), h('th', {}, 'state'),
      h('th', { class: 'hide-narrow' }, 'busiest metrics (per second)'), h('th', {}, 'last 15 min'))), tbody));
  for (const id of ids) {
    const link = h('a', { href: '#/container/' + encodeURIComponent(id) }, id);
    const state = h('span', { class: 'pill' }, '…');
    const busy = h('div', { class: 'busy' });
    const spark = h('td', { class: 'spark' });
    const row = h('tr', {}, h('td', {}, link), h('td', {}, state), h('td', { class: 'hide-narrow' }, busy), spark);
    tbody.append(row);
    rowObserver.observe(row);
    row.fill = () => fillRow(id, state, busy, spark);
  }
}

const rowObserver = new IntersectionObserver(entries => {
  for (const e of entries) if (e.isIntersecting && !e.target.filled) { e.target.filled = true; e.target.fill(); }
}, { rootMargin: '200px' });

const DEFAULT_STAT = { counter: 'rate', timer: 'p99', histogram: 'p99', distribution: 'p99', set: 'count', gauge: 'mean', resource: 'mean' };

async function rank(id) {
  const have = ranked.get(id);
  if (have && Date.now() - have.at < RANK_MS) return have;
  const s = await api('/v1/series?source=' + encodeURIComponent(id));
  const list = (s && s.series) || [];
  const last = Math.max(0, ...list.map(x => Date.parse(x.last) || 0));
  const kinds = new Map();
  for (const x of list) if (x.type !== 'resource' && !x.name.startsWith('metricsbus.shim.')) kinds.set(x.name, x.type);
  const names = [...kinds.keys()].slice(0, BATCH);
  let busy = [];
  if (names.length) {
    const a = await ranges(id, names.map(name => ({ name, stat: 'rate' })), '15m', 1);
    busy = names.map((name, i) => ({ name, kind: kinds.get(name), rate: mean(a[i]) }))
      .filter(b => b.rate > 0).sort((x, y) => y.rate - x.rate).slice(0, 3);
  }
  const r = { at: Date.now(), busy, live: Date.now() - last < 60000 };
  ranked.set(id, r);
  return r;
}

function mean(answer) {
  const v = ((answer && answer.points) || []).map(p => p[1]).filter(x => x != null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0;
}

async function fillRow(id, state, busy, spark) {
  try {
    const r = await rank(id);
    state.textContent = r.live ? 'live' : 'finished';
    state.className = 'pill' + (r.live ? '' : ' done');
    busy.textContent = r.busy.map(b => `${b.name} ${fmt(b.rate)}`).join(' · ') || 'idle';
    if (r.busy.length && !spark.firstChild) {
      const b = r.busy[0];
      new Chart(spark, { source: id, spark: true, stat: DEFAULT_STAT[b.kind] || 'mean', lines: [{ name: b.name }] });
    }
  } catch (e) {
    busy.textContent = e.message;
  }
}

// ---------------------------------------------------------------- container view
function tagString(tags) {
  return Object.keys(tags || {}).sort().map(k => (tags[k] === '' ? k : k + ':' + tags[k])).join(',');
}

async function renderContainer(main) {
  const id = view.id;
  $('#crumb').replaceChildren('container ', h('b', {}, id));
  let s;
  try {
    s = await api('/v1/series?source=' + encodeURIComponent(id));
  } catch (e) {
    if (e.status === 404) {
      main.replaceChildren(h('p', { class: 'notfound' }, `Unknown container ${id}: agentd has no series from it ` +
        '(it never sent metrics here, or its windows have rolled over).'), h('p', {}, h('a', { href: '#/' }, 'back to the node')));
      return;
    }
    throw e;
  }
  const list = (s && s.series) || [];
  const byName = new Map();
  for (const x of list) {
    if (!byName.has(x.name)) byName.set(x.name, { kind: x.type, tagsets: [] });
    byName.get(x.name).tagsets.push(tagString(x.tags));
  }
  const filter = h('input', { type: 'search', placeholder: 'filter names', value: view.params.get('q') || '', 'aria-label': 'filter names' });
  main.replaceChildren(h('h2', {}, 'Container ', id), filter);
  const resGrid = h('div', { class: 'grid' });
  const appGrid = h('div', { class: 'grid', id: 'series' });
  main.append(h('h2', {}, 'Metrics'), appGrid, h('h2', {}, 'Resources'), resGrid);
  const make = () => {
    for (const c of [...charts]) c.remove();
    resGrid.replaceChildren(); appGrid.replaceChildren();
    const q = filter.value.trim();
    // the application's own metrics first, the shim's about itself after them
    const own = n => (n.startsWith('metricsbus.') ? 1 : 0);
    for (const [name, info] of [...byName].sort((x, y) => own(x[0]) - own(y[0]))) {
      if (q && !name.includes(q)) continue;
      chartFor(info.kind === 'resource' ? resGrid : appGrid, id, name, info);
    }
  };
  filter.addEventListener('change', () => { filter.value ? view.params.set('q', filter.value) : view.params.delete('q'); writeHash(); make(); });
  make();
  if (!byName.size) main.append(h('p', { class: 'note' }, 'This container has no series yet.'));
}

function chartFor(grid, id, name, info) {
  const stat = view.params.get('s.' + name) || DEFAULT_STAT[info.kind] || 'mean';
  const tags = view.params.get('t.' + name) || '';
  const statSel = h('select', { 'aria-label': 'stat of ' + name, 'data-name': name },
    ...STATS.map(x => h('option', { value: x }, x)));
  statSel.value = stat;
  const controls = [statSel];
  if (info.tagsets.length > 1 || (info.tagsets[0] || '') !== '') {
    const tagSel = h('select', { 'aria-label': 'tag set of ' + name },
      h('option', { value: '' }, 'all tag sets'), ...info.tagsets.filter(t => t).map(t => h('option', { value: t }, t)));
    tagSel.value = tags;
    tagSel.addEventListener('change', () => { setParam('t.' + name, tagSel.value); chart.lines[0].tags = tagSel.value; refreshCharts([chart]); });
    controls.push(tagSel);
  }
  // a resource's CPU seconds are a running total: drawn as cores busy (seconds per second)
  const deriv = info.kind === 'resource' && name.endsWith('.time');
  const unit = name.startsWith('mem.') || name.includes('bytes') ? 'bytes' : '';
  const chart = new Chart(grid, { title: deriv ? name + ' (per second)' : name, source: id, unit, deriv, stat, controls, lines: [{ name, tags }] });
  statSel.addEventListener('change', () => { setParam('s.' + name, statSel.value); chart.stat = statSel.value; refreshCharts([chart]); });
}

function setParam(k, v) { v ? view.params.set(k, v) : view.params.delete(k); writeHash(); }

// ---------------------------------------------------------------- the loop
let rendering = 0;

async function render() {
  const mine = ++rendering;
  readHash();
  $('#window').value = view.params.get('w');
  clearCharts();
  const main = $('#main');
  try {
    if (view.kind === 'container') await renderContainer(main);
    else await renderNode(main);
    if (mine === rendering) status(true);
  } catch (e) {
    if (mine === rendering) { main.replaceChildren(h('p', { class: 'error' }, e.message)); status(false, e.message); }
  }
}

function status(ok, msg) {
  const el = $('#status');
  el.textContent = ok ? 'updated ' + new Date().toLocaleTimeString() : 'error';
  el.title = msg || '';
  el.className = 'status' + (ok ? '' : ' bad');
}

async function tick() {
  const visible = [...charts].filter(c => c.visible);
  try {
    if (visible.length) await refreshCharts(visible);
    for (const row of document.querySelectorAll('#containers tbody tr')) if (row.filled) row.fill();
    status(true);
  } catch (e) {
    status(false, e.message);
  }
  setTimeout(tick, REFRESH_MS);
}

$('#window').addEventListener('change', ev => {
  view.params.set('w', ev.target.value);
  writeHash();
  for (const c of charts) c.loaded = false;
  refreshCharts([...charts].filter(c => c.visible));
});
window.addEventListener('hashchange', render);
window.addEventListener('resize', () => { for (const c of charts) if (c.plot && !c.spark) c.plot.setSize({ width: c.width(), height: 180 }); });
render().then(() => setTimeout(tick, REFRESH_MS));
