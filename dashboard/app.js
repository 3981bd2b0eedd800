// The job-reactor dashboard: polls the admin API (same origin) and renders with preact + htm.
// The token, when the API needs one, comes from the page's #token=… fragment (never sent to
// the server in a URL) or the form shown after a 401, and is kept for this tab only.
import { html, render, useEffect, useRef, useState } from './vendor/htm-preact.js';
import uPlot from './vendor/uplot.js';

const POLL_MS = 2000;
/** Client-side history of queue depth and node lag: the minutes this page has been open. */
const HISTORY = 300;

const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromHash) {
  sessionStorage.setItem('jr-token', fromHash);
  history.replaceState(null, '', location.pathname);
}

class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = error?.code;
  }
}

async function api(path, post = false) {
  const headers = { accept: 'application/json' };
  const token = sessionStorage.getItem('jr-token');
  if (token) headers.authorization = `Bearer ${token}`;
  if (post) {
    headers['content-type'] = 'application/json';
    headers['x-jobreactor'] = '1';
  }
  const res = await fetch(`api/${path}`, {
    method: post ? 'POST' : 'GET',
    headers,
    body: post ? '{}' : undefined,
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.error);
  return body;
}

function Chart({ title, series, data, spanS }) {
  const el = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    plot.current = new uPlot(
      {
        title,
        width: 540,
        height: 180,
        // A fixed window ending now, so a page just opened does not stretch its few points.
        scales: {
          x: { time: true, range: () => [Date.now() / 1000 - spanS, Date.now() / 1000] },
        },
        series: [{}, ...series],
        axes: [{}, { size: 50 }],
      },
      data,
      el.current,
    );
    return () => plot.current.destroy();
  }, []);
  useEffect(() => plot.current?.setData(data), [data]);
  return html`<div ref=${el}></div>`;
}

function Counts({ counts }) {
  const t = counts.total;
  const cells = [
    ['waiting', t.waiting],
    ['sent', t.sent],
    ['running', t.running],
    ['ready', t.ready],
    ['scheduled', t.scheduled],
    ['complete', t.complete],
    ['failed', t.failed],
  ];
  return html`<div class="cards">
    ${cells.map(
      ([k, v]) => html`<div class="card ${k}" data-testid=${`count-${k}`}><b>${v}</b>${k}</div>`,
    )}
  </div>`;
}

function Nodes({ nodes, counts }) {
  if (nodes.length === 0) return html`<p>No node is connected.</p>`;
  return html`<table data-testid="nodes">
    <tr>
      <th>node</th>
      <th>state</th>
      <th>address</th>
      <th>slots</th>
      <th>credit</th>
      <th>running</th>
      <th>ready</th>
      <th>scheduled</th>
      <th>failed</th>
      <th>lag</th>
    </tr>
    ${nodes.map((n) => {
      const c = counts?.nodes[n.name];
      const state = n.draining ? 'draining' : n.paused ? 'paused' : 'up';
      return html`<tr data-testid=${`node-${n.name}`}>
        <td><b>${n.name}</b>${n.durable ? ' (durable)' : ''}</td>
        <td><span class="badge ${state === 'up' ? '' : 'warn'}">${state}</span></td>
        <td><code>${n.remote}</code></td>
        <td>${n.capacity}</td>
        <td>${n.credit}</td>
        <td>${c?.running ?? '–'}</td>
        <td>${c?.ready ?? '–'}</td>
        <td>${c?.scheduled ?? '–'}</td>
        <td>${c?.failed ?? '–'}</td>
        <td>${n.lagMs === null ? 'no answer' : `${n.lagMs.toFixed(1)} ms`}</td>
      </tr>`;
    })}
  </table>`;
}

function JobRow({ job, act }) {
  const err = job.lastError;
  return html`<tr data-testid=${`job-${job.id}`}>
    <td><code>${job.id}</code></td>
    <td>${job.name}</td>
    <td>${job.node ?? '–'}</td>
    <td data-testid="state">${job.state}</td>
    <td>${job.attempt}</td>
    <td class="error">${err ? `${err.code}: ${err.message}` : ''}</td>
    <td><pre>${JSON.stringify(job.args)}</pre></td>
    <td>
      ${
        job.state === 'failed'
          ? html`<button data-testid="retry" onClick=${() => act(job.id, 'retry')}>Retry</button>`
          : null
      }
      ${
        ['complete', 'failed', 'cancelled'].includes(job.state)
          ? null
          : html`<button data-testid="cancel" onClick=${() => act(job.id, 'cancel')}>
              Cancel
            </button>`
      }
    </td>
  </tr>`;
}

function Jobs({ jobs, act, testid }) {
  if (jobs.length === 0) return html`<p data-testid=${testid}>None.</p>`;
  return html`<table data-testid=${testid}>
    <tr>
      <th>id</th>
      <th>name</th>
      <th>node</th>
      <th>state</th>
      <th>attempt</th>
      <th>error</th>
      <th>args</th>
      <th></th>
    </tr>
    ${jobs.map((job) => html`<${JobRow} key=${job.id} job=${job} act=${act} />`)}
  </table>`;
}

const BROWSE_STATES = ['in progress', 'new', 'error', 'complete', 'failed', 'cancelled'];
const BROWSE_LIMIT = 10;

/**
 * Jobs by state and name, a page at a time (the nodes answer from their indexes, so a
 * page is cheap). The first page follows the poll; a later one stays put until asked.
 */
function Browse({ act, tick }) {
  const [state, setState] = useState('in progress');
  const [name, setName] = useState('');
  const [cursors, setCursors] = useState([]);
  const [page, setPage] = useState(null);
  const cursor = cursors.at(-1);
  const first = cursor === undefined;

  async function load() {
    const q = [`limit=${BROWSE_LIMIT}`];
    if (state !== 'all') q.push(`state=${encodeURIComponent(state)}`);
    if (name.trim() !== '') q.push(`name=${encodeURIComponent(name.trim())}`);
    if (cursor !== undefined) q.push(`cursor=${encodeURIComponent(cursor)}`);
    try {
      setPage(await api(`jobs?${q.join('&')}`));
    } catch (err) {
      setPage({ jobs: [], next: null, error: err.message });
    }
  }
  useEffect(() => void load(), [state, name, cursor]);
  useEffect(() => void (first && load()), [tick]);

  const choose = (next) => (setState(next), setCursors([]));
  return html`<section>
    <h2>Browse jobs</h2>
    <form class="browse" onSubmit=${(e) => e.preventDefault()}>
      <select data-testid="browse-state" value=${state} onChange=${(e) => choose(e.target.value)}>
        <option value="all">all states</option>
        ${BROWSE_STATES.map((s) => html`<option value=${s}>${s}</option>`)}
      </select>
      <input
        data-testid="browse-name"
        placeholder="job name"
        value=${name}
        onChange=${(e) => (setName(e.target.value), setCursors([]))}
      />
      <button type="button" disabled=${first} onClick=${() => setCursors([])}>First page</button>
      <button
        type="button"
        data-testid="browse-next"
        disabled=${!page?.next}
        onClick=${() => setCursors([...cursors, page.next])}
      >
        Next page
      </button>
      <span data-testid="browse-page">page ${cursors.length + 1}</span>
    </form>
    ${page?.error ? html`<p class="error">${page.error}</p>` : null}
    ${page ? html`<${Jobs} jobs=${page.jobs} act=${act} testid="browse" />` : null}
  </section>`;
}

function TokenForm({ onSet }) {
  const [value, setValue] = useState('');
  return html`<section>
    <h2>The admin API needs a token</h2>
    <form onSubmit=${(e) => (e.preventDefault(), onSet(value))}>
      <input type="password" value=${value} onInput=${(e) => setValue(e.target.value)} />
      <button>Use</button>
    </form>
  </section>`;
}

function App() {
  const [state, setState] = useState(null);
  const [error, setError] = useState(null);
  const [found, setFound] = useState(null);
  const [search, setSearch] = useState('');
  const [notice, setNotice] = useState('');
  const history = useRef({ t: [], waiting: [], lag: [] });
  const [tick, setTick] = useState(0);

  async function refresh() {
    try {
      const [status, nodes, counts, series, failed] = await Promise.all([
        api('status'),
        api('nodes'),
        api('counts'),
        api('series'),
        api('jobs?state=failed&limit=50'),
      ]);
      const h = history.current;
      h.t.push(Date.now() / 1000);
      h.waiting.push(counts.total.waiting + counts.total.ready);
      const lags = nodes.nodes.map((n) => n.lagMs).filter((v) => v !== null);
      h.lag.push(lags.length ? Math.max(...lags) : null);
      for (const k of ['t', 'waiting', 'lag']) if (h[k].length > HISTORY) h[k].shift();
      setState({ status, nodes: nodes.nodes, counts, series, failed: failed.jobs });
      setError(null);
    } catch (err) {
      setError(err);
    }
  }

  useEffect(() => {
    refresh();
    const timer = setInterval(() => {
      refresh();
      setTick((t) => t + 1);
    }, POLL_MS);
    return () => clearInterval(timer);
  }, []);

  async function act(id, op) {
    try {
      const r = await api(`jobs/${encodeURIComponent(id)}/${op}`, true);
      setNotice(
        op === 'retry'
          ? `job ${id} retried`
          : r.cancelled
            ? `job ${id} cancelled`
            : `job ${id} could not be cancelled`,
      );
      if (found?.id === id) lookup(id);
      refresh();
    } catch (err) {
      setNotice(`${op} failed: ${err.code ?? ''} ${err.message}`);
    }
  }

  async function lookup(id) {
    try {
      setFound((await api(`jobs/${encodeURIComponent(id)}`)).job);
    } catch (err) {
      setFound({ missing: id, message: err.message });
    }
  }

  async function togglePause() {
    await api(state.status.paused ? 'resume' : 'pause', true).catch((err) =>
      setNotice(err.message),
    );
    refresh();
  }

  if (error?.status === 401 || error?.status === 403) {
    return html`<${TokenForm}
      onSet=${(t) => (sessionStorage.setItem('jr-token', t), refresh())}
    />`;
  }
  if (state === null)
    return html`<p>${error ? `Cannot reach the API: ${error.message}` : 'Loading…'}</p>`;

  const s = state.series;
  const xs = s.completed.map((_, i) => (s.start + i * s.stepMs) / 1000);
  const throughput = [xs, s.completed, s.failed];
  const latency = [xs, s.p50, s.p99];
  const h = history.current;
  const depth = [h.t.slice(), h.waiting.slice(), h.lag.slice()];

  return html`
    <header>
      <h1>job-reactor · distributor <code>${state.status.id}</code></h1>
      <span class="badge ${state.status.paused ? 'warn' : ''}" data-testid="paused">
        ${state.status.paused ? 'paused' : 'dispatching'}
      </span>
      <button onClick=${togglePause}>${state.status.paused ? 'Resume' : 'Pause'}</button>
    </header>
    ${error ? html`<p class="error">Last refresh failed: ${error.message}</p>` : null}
    ${notice ? html`<p data-testid="notice">${notice}</p>` : null}
    <section>
      <h2>Jobs</h2>
      <${Counts} counts=${state.counts} />
    </section>
    <section>
      <h2>Nodes (${state.nodes.length})</h2>
      <${Nodes} nodes=${state.nodes} counts=${state.counts} />
    </section>
    <section class="charts">
      <${Chart}
        title="Finished jobs per second (last 10 min)"
        series=${[
          { label: 'completed', stroke: '#2a7' },
          { label: 'failed', stroke: '#d33' },
        ]}
        data=${throughput}
        spanS=${600}
      />
      <${Chart}
        title="Turnaround ms, due → final feedback (last 10 min)"
        series=${[
          // Seconds with no job ended are gaps: points show the ones between them.
          { label: 'p50', stroke: '#36c', points: { show: true, size: 5 } },
          { label: 'p99', stroke: '#c3c', points: { show: true, size: 5 } },
        ]}
        data=${latency}
        spanS=${600}
      />
      <${Chart}
        title="Queue depth and node lag (since this page opened)"
        series=${[
          { label: 'waiting + ready', stroke: '#36c' },
          { label: 'max lag ms', stroke: '#c80' },
        ]}
        data=${depth}
        spanS=${(HISTORY * POLL_MS) / 1000}
        tick=${tick}
      />
    </section>
    <section>
      <h2>Find a job</h2>
      <form onSubmit=${(e) => (e.preventDefault(), lookup(search.trim()))}>
        <input
          data-testid="search"
          placeholder="job id"
          value=${search}
          onInput=${(e) => setSearch(e.target.value)}
        />
        <button>Find</button>
      </form>
      ${
        found?.missing
          ? html`<p class="error" data-testid="found-missing">${found.message}</p>`
          : found
            ? html`<${Jobs} jobs=${[found]} act=${act} testid="found" />`
            : null
      }
    </section>
    <section>
      <h2>Failed jobs</h2>
      <${Jobs} jobs=${state.failed} act=${act} testid="failed" />
    </section>
    <${Browse} act=${act} tick=${tick} />
  `;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
