'use strict';
/*
 * A person watches sb-lb's dashboard while killing a backend.
 *
 * Starts REAL processes (3 sb-backends with in-memory sessions, one sb-lb
 * with fast health checks) on free loopback ports, opens the admin port's
 * page in Debian's Chromium through Playwright, sends a little traffic,
 * kills -9 one backend and clicks "drain" on another, and checks what the
 * page shows. A screenshot is left at $SB_SCREENSHOT (or in the temp dir).
 *
 *   cd tests/browser && npm ci && node dashboard.test.js
 *
 * Needs: a build (SB_BUILD_DIR, default ../../build), /usr/bin/chromium
 * (SB_CHROMIUM to use another), playwright-core from npm. Never downloads a
 * browser.
 */
const test = require('node:test');
const assert = require('node:assert');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const HOST = '127.0.0.1';
const BUILD = process.env.SB_BUILD_DIR || path.join(__dirname, '..', '..', 'build');
const CHROMIUM = process.env.SB_CHROMIUM || '/usr/bin/chromium';
const HEALTH_INTERVAL_MS = 200;
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SANITIZER_MARKERS = ['ERROR: AddressSanitizer', 'runtime error:', 'ERROR: ThreadSanitizer'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Poll fn until it returns something truthy; throw after timeoutMs. */
async function waitUntil(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
                      (last ? ` (last error: ${last.message})` : ''));
    await sleep(50);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, HOST, () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/* One HTTP request; resolves {status, body} or rejects. */
function request(port, method, p, agent) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method, path: p, agent, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/* The processes of one test, each logging to its own file. */
class Cluster {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-dashboard-'));
    this.procs = [];
  }

  start(name, argv) {
    const log = path.join(this.dir, `${name}.log`);
    const fd = fs.openSync(log, 'w');
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    const p = { name, child, log, exited: false };
    child.on('exit', () => { p.exited = true; });
    this.procs.push(p);
    return p;
  }

  seed() {
    const db = path.join(this.dir, 'feed.db');
    const r = spawnSync(path.join(BUILD, 'backend', 'sb-backend'),
      ['seed', '--db', db, '--users', '60', '--posts-per-user', '5', '--seed', '7'],
      { encoding: 'utf8', timeout: 60000 });
    assert.strictEqual(r.status, 0, `seed failed: ${r.stdout}${r.stderr}`);
    return db;
  }

  async backend(db, name) {
    const port = await freePort();
    const p = this.start(name, [path.join(BUILD, 'backend', 'sb-backend'), '--listen',
      `${HOST}:${port}`, '--id', name, '--db', db, '--sessions', 'memory']);
    p.port = port;
    p.addr = `${HOST}:${port}`;
    await waitUntil(async () => (await request(port, 'GET', '/healthz')).status === 200,
                    10000, `${name} /healthz`);
    return p;
  }

  async lb(backends) {
    const port = await freePort(), admin = await freePort();
    const argv = [path.join(BUILD, 'lb', 'sb-lb'), '--listen', `${HOST}:${port}`,
      '--admin', `${HOST}:${admin}`, '--health-interval', String(HEALTH_INTERVAL_MS),
      '--quiet'];
    for (const b of backends) argv.push('--backend', b.addr);
    const p = this.start('lb', argv);
    p.port = port;
    p.admin = admin;
    await waitUntil(async () => (await request(admin, 'GET', '/stats')).status === 200,
                    10000, 'sb-lb admin /stats');
    return p;
  }

  logTails() {
    return this.procs.map((p) => {
      let text = '';
      try { text = fs.readFileSync(p.log, 'utf8'); } catch { /* gone */ }
      return `--- ${p.name} (${p.log}) ---\n${text.split('\n').slice(-20).join('\n')}`;
    }).join('\n');
  }

  sanitizerReports() {
    const found = [];
    for (const p of this.procs) {
      let text = '';
      try { text = fs.readFileSync(p.log, 'utf8'); } catch { continue; }
      for (const m of SANITIZER_MARKERS) {
        const i = text.indexOf(m);
        if (i >= 0) { found.push(`${p.name}: ${text.slice(i, i + 1500)}`); break; }
      }
    }
    return found.join('\n');
  }

  /* SIGTERM everything still running, SIGKILL what outlives 3 s. */
  async stop() {
    for (const p of this.procs) if (!p.exited) p.child.kill('SIGTERM');
    const deadline = Date.now() + 3000;
    while (this.procs.some((p) => !p.exited) && Date.now() < deadline) await sleep(50);
    for (const p of this.procs) if (!p.exited) p.child.kill('SIGKILL');
  }
}

/* GET /users/alice through the LB from a few keep-alive connections until
 * stopped: enough traffic for the sparklines to move. */
function startTraffic(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let running = true;
  const counts = { ok: 0, failed: 0 };
  const loop = async () => {
    while (running) {
      try {
        const r = await request(port, 'GET', '/users/alice', agent);
        if (r.status === 200) counts.ok++; else counts.failed++;
      } catch { counts.failed++; }
      await sleep(20);
    }
  };
  const loops = [loop(), loop(), loop()];
  return {
    counts,
    async stop() { running = false; await Promise.all(loops); agent.destroy(); },
  };
}

test('the dashboard shows a killed backend go down and a drained one drain', async (t) => {
  const cluster = new Cluster();
  let context, traffic;
  t.after(async () => {
    if (traffic) await traffic.stop();
    if (context) await context.close().catch(() => {});
    await cluster.stop();
  });
  try {
    const db = cluster.seed();
    const backends = [];
    for (const name of ['backend-1', 'backend-2', 'backend-3'])
      backends.push(await cluster.backend(db, name));
    const lb = await cluster.lb(backends);
    const origin = `http://${HOST}:${lb.admin}`;

    context = await chromium.launchPersistentContext(path.join(cluster.dir, 'profile'), {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 860 },
    });
    const page = context.pages()[0] || await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(origin + '/') && !u.startsWith('data:'))
        problems.push(`the page fetched ${u}: it must work offline`);
    });

    await page.goto(origin + '/');
    assert.match(await page.title(), /sb-lb dashboard/);
    const card = (b) => page.locator(`.card[data-backend="${b.addr}"]`);

    // Three cards, all up, filled by the first event.
    await page.waitForFunction(() => document.querySelectorAll('.card').length === 3,
                               null, { timeout: 5000 });
    for (const b of backends)
      assert.strictEqual(await card(b).locator('.state').textContent(), 'up');
    await page.waitForSelector('#conn.live', { timeout: 5000 });

    // Traffic spreads over all three.
    traffic = startTraffic(lb.port);
    await waitUntil(async () => {
      for (const b of backends)
        if (Number((await card(b).locator('.requests').textContent()).replace(/,/g, '')) < 5)
          return false;
      return true;
    }, 8000, 'every card counting requests');
    await sleep(2500); // a few seconds of sparkline before the kill

    // kill -9 backend-2: its card turns "down" within a few seconds.
    const victim = backends[1];
    victim.child.kill('SIGKILL');
    await waitUntil(async () => (await card(victim).getAttribute('class')).includes('down'),
                    5000, `${victim.addr}'s card to turn down`);
    assert.strictEqual(await card(victim).locator('.state').textContent(), 'down');
    assert.match(await card(victim).locator('.explain').textContent(),
                 /stops sending it traffic/);
    await waitUntil(async () => (await page.locator('#events').textContent())
                      .includes(`backend ${victim.addr} down`),
                    5000, 'the event log to say it went down');
    for (const b of [backends[0], backends[2]])
      assert.strictEqual(await card(b).locator('.state').textContent(), 'up');

    // Drain backend-3 from its card.
    const drained = backends[2];
    await card(drained).locator('button[data-action="drain"]').click();
    await waitUntil(async () => (await card(drained).locator('.admin').textContent()) === 'drain',
                    3000, `${drained.addr}'s admin state to show drain`);
    const stats = JSON.parse((await request(lb.admin, 'GET', '/stats')).body);
    assert.strictEqual(stats.backends.find((b) => b.name === drained.addr).admin, 'drain');
    await waitUntil(async () => (await card(drained).getAttribute('class')).includes('drain') &&
                      (await page.locator('#events').textContent())
                        .includes(`backend ${drained.addr} set to drain`),
                    3000, 'the drain to show on the card and in the log');

    await sleep(1500); // let the sparklines show the change
    const shot = process.env.SB_SCREENSHOT || path.join(cluster.dir, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`# screenshot: ${shot}`);

    assert.deepStrictEqual(problems, []);
    assert.strictEqual(cluster.sanitizerReports(), '');
  } catch (e) {
    e.message += `\n${cluster.logTails()}`;
    throw e;
  }
});
