// TURN (docs/turn.md): Confab hands each client short-lived credentials for the operator's coturn
// (coturn's TURN REST API: `use-auth-secret` + `static-auth-secret`) in the join response's
// ice_servers. Debian's coturn (`turnserver`, package `coturn`) runs here as the relay.
//
// The network, all inside the private namespace scripts/test runs the browser tests in:
//
//   test namespace                                     browser namespace (ip netns)
//   192.0.2.1 (veth): Confab HTTP + media, coturn  <->  192.0.2.2 (veth): Chromium "relayed",
//   Chromium "direct" (no firewall)                      behind nftables: no UDP at all, TCP only
//                                                        to Confab's HTTP port and coturn's port
//
// So the relayed browser's only way to Confab's media is TURN over TCP; coturn relays over UDP to
// Confab's media address, the one peer address its configuration allows in a denied range.
//
// Figures (first frame through the relay, coturn's CPU per relayed Mbit/s) are printed and written
// to artifacts/e2e/turn/figures.json.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  ARTIFACTS,
  TEST_CONFIG,
  artifactLog,
  assertDecodes,
  figureRecorder,
  freeTcpPort,
  freeUdpPort,
  launchBrowser,
  openParticipant,
  screenshotAll,
  sleep,
  startServer,
  timeLimit,
  waitFor,
} from './lib.mjs';
import { makeNetns } from './netns.mjs';

const OUT = path.join(ARTIFACTS, 'turn');
const record = figureRecorder('turn');

// Addresses only inside namespaces this test makes (TEST-NET-1, RFC 5737).
const HOST_IP = '192.0.2.1';
const NS_IP = '192.0.2.2';
const NS = `ct${process.pid}`;
const HOST_IF = `cth${process.pid % 100000}`;
const NS_IF = `ctn${process.pid % 100000}`;
const TTL = 3600;

const sh = (...args) => execFileSync(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

// A veth pair needs a network namespace of the test's own: scripts/test runs the browser tests in
// one (as root) and says so in CONFAB_E2E_NETNS_ACTIVE.
const privateNetwork = process.env.CONFAB_E2E_NETNS_ACTIVE === '1';
const skip = privateNetwork ? false : 'needs the private network namespace scripts/test sets up as root';

/**
 * The veth pair: HOST_IP stays in the test namespace, NS_IP goes into the browser's namespace.
 * Removed after the test.
 */
function createNetwork(t) {
  const ns = makeNetns({ name: NS, hostIf: HOST_IF, nsIf: NS_IF, hostIp: HOST_IP, nsIp: NS_IP, prefix: 24 });
  t.after(ns.remove);
  return ns;
}

/** coturn's TURN REST API credential: username `<unix expiry>:<name>`, password base64(HMAC-SHA1). */
function restCredential(secret, name, expiry = Math.floor(Date.now() / 1000) + TTL) {
  const username = `${expiry}:${name}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}

/**
 * Debian's coturn in the foreground, listening on HOST_IP (plain on `port`, TLS on `tlsPort` with a
 * certificate made here) and relaying from HOST_IP. Peers: every private, loopback, link-local,
 * shared (CGN) and reserved range is denied, and so is this test network, except HOST_IP, Confab's
 * media address. Returns {port, tlsPort, caPem, secret, pid, log, logText(), stop()}.
 */
async function startCoturn(t) {
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-coturn-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name) => path.join(dir, name);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', file('turn.key'), '-out', file('turn.pem'), '-subj', '/CN=turn.confab.test', '-addext', `subjectAltName=DNS:turn.confab.test,IP:${HOST_IP}`],
    { stdio: 'pipe' });
  const port = await freeTcpPort();
  let tlsPort = await freeTcpPort();
  while (tlsPort === port) tlsPort = await freeTcpPort();
  const secret = randomBytes(24).toString('hex');
  const conf = [
    `listening-ip=${HOST_IP}`,
    `relay-ip=${HOST_IP}`,
    `listening-port=${port}`,
    `tls-listening-port=${tlsPort}`,
    `cert=${file('turn.pem')}`,
    `pkey=${file('turn.key')}`,
    'no-dtls',
    'no-tlsv1',
    'no-tlsv1_1',
    'use-auth-secret',
    `static-auth-secret=${secret}`,
    'realm=confab.test',
    'fingerprint',
    'no-cli',
    'no-multicast-peers',
    'no-rfc5780',
    'no-stun-backward-compatibility',
    'response-origin-only-with-rfc5780',
    'no-software-attribute',
    // Both denied and allowed: allowed wins (man turnserver, --allowed-peer-ip).
    ...[
      '0.0.0.0-0.255.255.255',
      '10.0.0.0-10.255.255.255',
      '100.64.0.0-100.127.255.255',
      '127.0.0.0-127.255.255.255',
      '169.254.0.0-169.254.255.255',
      '172.16.0.0-172.31.255.255',
      '192.0.0.0-192.0.0.255',
      '192.0.2.0-192.0.2.255',
      '192.168.0.0-192.168.255.255',
      '198.18.0.0-198.19.255.255',
      '240.0.0.0-255.255.255.255',
      '::1',
      'fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      'fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    ].map((range) => `denied-peer-ip=${range}`),
    `allowed-peer-ip=${HOST_IP}`,
    // A participant holds one allocation per peer connection (two) and network interface.
    'user-quota=12',
    'total-quota=100',
    // Lines as "session …: realm <confab.test> user <expiry:identity>: incoming packet ALLOCATE processed, success".
    'verbose',
    'log-file=stdout',
    'simple-log',
    `pidfile=${file('turnserver.pid')}`,
    `userdb=${file('turndb')}`,
  ].join('\n');
  writeFileSync(file('turnserver.conf'), `${conf}\n`, { mode: 0o600 });

  const log = artifactLog('coturn');
  const child = spawn('turnserver', ['-c', file('turnserver.conf')], { stdio: ['ignore', log.fd, log.fd] });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (err) => resolve({ error: `${err.message} (Debian's package coturn has turnserver)` }));
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const turn = {
    port,
    tlsPort,
    caPem: readFileSync(file('turn.pem'), 'utf8'),
    secret,
    pid: child.pid,
    log,
    logText: () => readFileSync(log.path, 'utf8'),
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await Promise.race([exited, timeLimit(5000)]))) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      log.close();
    },
  };
  t.after(() => turn.stop());
  let gone = null;
  exited.then((e) => (gone = e));
  await waitFor(
    async () => {
      if (gone) throw new Error(`turnserver exited: ${JSON.stringify(gone)}; log ${log.path}`);
      for (const p of [port, tlsPort]) {
        await new Promise((resolve, reject) => {
          const s = net.connect(p, HOST_IP, () => s.end(resolve));
          s.once('error', reject);
        });
      }
      return true;
    },
    { timeout: 10_000, message: `coturn listening on ${HOST_IP}:${port} and :${tlsPort}` },
  ).catch((err) => {
    throw new Error(`${err.message}\n${turn.logText().split('\n').slice(-30).join('\n')}`);
  });
  return turn;
}

/** The selected candidate pair of each of the page's peer connections (publisher, subscriber). */
function selectedPairs(page) {
  return page.evaluate(async () => {
    const pcm = window.confab.room?.engine?.pcManager;
    const out = {};
    for (const name of ['publisher', 'subscriber']) {
      const pc = pcm?.[name]?.pc;
      if (!pc) continue;
      const report = await pc.getStats();
      let pairId;
      report.forEach((s) => {
        if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
      });
      if (!pairId) {
        report.forEach((s) => {
          if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pairId ??= s.id;
        });
      }
      const pair = pairId && report.get(pairId);
      if (!pair) {
        out[name] = null;
        continue;
      }
      const local = report.get(pair.localCandidateId) ?? {};
      const remote = report.get(pair.remoteCandidateId) ?? {};
      out[name] = {
        local: { candidateType: local.candidateType, protocol: local.protocol, relayProtocol: local.relayProtocol, address: local.address, port: local.port, url: local.url },
        remote: { candidateType: remote.candidateType, protocol: remote.protocol, address: remote.address, port: remote.port },
        bytesSent: pair.bytesSent ?? 0,
        bytesReceived: pair.bytesReceived ?? 0,
      };
    }
    return out;
  });
}

/** The ICE servers the page's peer connections were configured with (from the join response). */
function iceServers(page) {
  return page.evaluate(() => {
    const pcm = window.confab.room?.engine?.pcManager;
    return Object.fromEntries(
      ['publisher', 'subscriber'].map((name) => [name, pcm?.[name]?.pc?.getConfiguration().iceServers ?? null]),
    );
  });
}

/** utime + stime of a process, in seconds. */
const CLK_TCK = Number(sh('getconf', 'CLK_TCK').trim()) || 100;
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * The browser namespace's firewall: no UDP at all, and TCP only to Confab's HTTP port and coturn's
 * port (so not to the ICE-TCP listener on the media port either).
 */
function firewall(ns, httpPort, turnPort) {
  const table = 'confab_turn';
  const ruleset = `table inet ${table} {
  chain out {
    type filter hook output priority 0; policy accept;
    meta l4proto udp counter drop
    ip daddr ${HOST_IP} tcp dport { ${httpPort}, ${turnPort} } accept
    meta l4proto tcp counter drop
  }
}
`;
  execFileSync('ip', ['netns', 'exec', ns.name, 'nft', '-f', '-'], { input: ruleset, stdio: ['pipe', 'pipe', 'pipe'] });
  return () => {
    const listing = ns.exec('nft', 'list', 'table', 'inet', table);
    const [udp, tcp] = [...listing.matchAll(/counter packets (\d+) bytes \d+ drop/g)].map((m) => Number(m[1]));
    return { udpDropped: udp, tcpDropped: tcp };
  };
}

test('TURN over TCP: a browser that may reach only the HTTP and TURN ports meets through coturn', { timeout: 240_000, skip }, async (t) => {
  const ns = createNetwork(t);
  const turn = await startCoturn(t);
  const turnUrl = `turn:${HOST_IP}:${turn.port}?transport=tcp`;
  const server = await startServer({
    label: 'server-turn',
    host: HOST_IP,
    config: `${TEST_CONFIG}[turn]\nurls = ["${turnUrl}"]\nsecret = "${turn.secret}"\nttl = ${TTL}\n`,
  });
  t.after(() => server.stop());
  const dropped = firewall(ns, server.httpPort, turn.port);

  // Chromium for the relayed participant runs inside the browser namespace; puppeteer's pipes work
  // through the wrapper.
  const wrapper = ns.wrapper(path.join(OUT, 'chromium-in-netns.sh'));
  // Camera and microphone need a secure context; http on a non-loopback address is not one.
  const secure = `--unsafely-treat-insecure-origin-as-secure=${server.url}`;
  const room = 'turn';
  const relayedBrowser = await launchBrowser({ label: 'relayed', executablePath: wrapper, args: [secure] });
  t.after(() => relayedBrowser.close());
  const directBrowser = await launchBrowser({ label: 'direct', args: [secure] });
  t.after(() => directBrowser.close());
  const joinedFrom = Math.floor(Date.now() / 1000);
  const [relayed, direct] = await Promise.all([
    openParticipant(relayedBrowser, server, { room, identity: 'relayed', capture: '640x480', timeout: 40_000 }),
    openParticipant(directBrowser, server, { room, identity: 'direct', capture: '640x480' }),
  ]);
  const joinedUntil = Math.ceil(Date.now() / 1000);
  const pages = { relayed, direct };

  try {
    // Each decodes the other's video.
    await assertDecodes(relayed, 'relayed', 'direct', { where: 'through TURN', timeout: 30_000 });
    await assertDecodes(direct, 'direct', 'relayed', { where: 'through TURN', timeout: 30_000 });

    // The join response carried coturn's REST credential: `<expiry>:<identity>`, HMAC-SHA1 of it.
    const servers = await iceServers(relayed);
    record('relayedIceServers', Object.fromEntries(Object.entries(servers).map(([k, v]) => [k, v?.map((s) => ({ urls: s.urls, username: s.username }))])));
    for (const [name, list] of Object.entries(servers)) {
      const entry = list?.find((s) => [s.urls].flat().includes(turnUrl));
      assert.ok(entry, `${name} PC is configured with ${turnUrl}: ${JSON.stringify(list)}`);
      const m = /^(\d+):(.+)$/.exec(entry.username ?? '');
      assert.ok(m, `username <expiry>:<identity>, got ${entry.username}`);
      assert.equal(m[2], 'relayed', 'the username ends in the participant identity');
      const expiry = Number(m[1]);
      assert.ok(expiry >= joinedFrom + TTL - 5 && expiry <= joinedUntil + TTL + 5, `expiry ${expiry} is about join time + ${TTL} s (joined ${joinedFrom}-${joinedUntil})`);
      assert.equal(entry.credential, restCredential(turn.secret, 'relayed', expiry).credential, 'credential = base64(HMAC-SHA1(secret, username))');
    }

    // Both of the relayed browser's peer connections run over a TURN/TCP relay to Confab's media port.
    const pairs = await waitFor(
      async () => {
        const p = await selectedPairs(relayed);
        return p.publisher && p.subscriber && p;
      },
      { timeout: 10_000, message: 'relayed: both peer connections have a selected candidate pair' },
    );
    record('relayedSelectedPairs', pairs);
    for (const [name, pair] of Object.entries(pairs)) {
      assert.equal(pair.local.candidateType, 'relay', `relayed ${name}: local candidate is a relay one`);
      assert.equal(pair.local.relayProtocol, 'tcp', `relayed ${name}: reaches coturn over TCP`);
      assert.equal(pair.remote.address, HOST_IP, `relayed ${name}: the remote is Confab's media address`);
      assert.equal(pair.remote.port, server.udpPort, `relayed ${name}: the remote is Confab's media port`);
    }
    record('directSelectedPairs', await selectedPairs(direct));
    const fw = dropped();
    record('browserNamespaceFirewall', fw);
    assert.ok(fw.udpDropped > 0, 'the relayed browser tried UDP, and the firewall dropped it');

    // coturn allocated for that username.
    const allocations = [...turn.logText().matchAll(/session (\d+): realm <confab\.test> user <(\d+:\w+)>: incoming packet ALLOCATE processed, success/g)];
    record('coturnAllocations', allocations.map((m) => m[2]));
    assert.ok(allocations.some((m) => /^\d+:relayed$/.test(m[2])), `coturn's log ${turn.log.path} shows an allocation for <expiry>:relayed`);
    assert.ok(!/Forbidden IP/.test(turn.logText()), 'no permission towards Confab was refused');

    // Figures: time to the first frame through the relay, and coturn's CPU per relayed Mbit/s.
    // firstFrameMs counts from room.connect() to the first frame painted; joinedMs from navigation
    // to the meeting on screen, connected.
    record('firstRemoteFrameFromConnectMs', {
      relayedSeesDirect: await relayed.evaluate(() => window.confab.firstFrameMs.direct),
      directSeesRelayed: await direct.evaluate(() => window.confab.firstFrameMs.relayed),
    });
    record('joinedFromNavigationMs', {
      relayed: await relayed.evaluate(() => window.confab.joinedMs),
      direct: await direct.evaluate(() => window.confab.joinedMs),
    });
    const relayedBytes = (p) => Object.values(p).reduce((sum, pair) => sum + (pair?.bytesSent ?? 0) + (pair?.bytesReceived ?? 0), 0);
    const windowMs = 10_000;
    const cpu0 = cpuSeconds(turn.pid);
    const bytes0 = relayedBytes(await selectedPairs(relayed));
    const started = Date.now();
    await sleep(windowMs);
    const cpu1 = cpuSeconds(turn.pid);
    const bytes1 = relayedBytes(await selectedPairs(relayed));
    const seconds = (Date.now() - started) / 1000;
    const mbps = ((bytes1 - bytes0) * 8) / seconds / 1e6;
    const cpu = cpu1 - cpu0;
    record('coturnRelay', {
      windowS: Math.round(seconds * 10) / 10,
      relayedMbitPerS: Math.round(mbps * 1000) / 1000,
      coturnCpuS: Math.round(cpu * 1000) / 1000,
      coturnCpuPercentOfOneCore: Math.round((cpu / seconds) * 1000) / 10,
      // CPU seconds per Mbit relayed = cores busy per Mbit/s relayed.
      cpuSecondsPerMbit: mbps > 0 ? Math.round((cpu / (mbps * seconds)) * 10000) / 10000 : null,
      clockTicksPerS: CLK_TCK,
    });
    assert.ok(mbps > 0.05, `media flowed through the relay during the window (${mbps} Mbit/s)`);
  } catch (err) {
    await screenshotAll(pages, 'turn');
    throw err;
  }
  const serverLog = readFileSync(server.logPath, 'utf8');
  assert.ok(!/panicked/.test(serverLog), 'the server did not panic');
});

/**
 * A STUN Binding request over TLS to coturn's TLS port, checking its certificate against `caPem`
 * for the name turn.confab.test. Resolves to {protocol, mapped: the XOR-MAPPED-ADDRESS's IP}.
 */
function stunOverTls(port, caPem) {
  const MAGIC = 0x2112a442;
  const header = Buffer.alloc(8);
  header.writeUInt16BE(0x0001, 0); // Binding request, no attributes
  header.writeUInt32BE(MAGIC, 4);
  const request = Buffer.concat([header, randomBytes(12)]);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: HOST_IP, port, ca: caPem, servername: 'turn.confab.test' }, () => socket.write(request));
    socket.setTimeout(5000, () => socket.destroy(new Error('no STUN answer over TLS within 5 s')));
    socket.once('error', reject);
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 20 || buf.length < 20 + buf.readUInt16BE(2)) return;
      const protocol = socket.getProtocol();
      socket.end();
      if (buf.readUInt16BE(0) !== 0x0101 || !buf.subarray(8, 20).equals(request.subarray(8, 20))) {
        return reject(new Error(`not a Binding success for our request: ${buf.toString('hex')}`));
      }
      for (let at = 20; at + 4 <= 20 + buf.readUInt16BE(2); at += 4 + Math.ceil(buf.readUInt16BE(at + 2) / 4) * 4) {
        if (buf.readUInt16BE(at) === 0x0020 && buf[at + 5] === 0x01) {
          const ip = (buf.readUInt32BE(at + 8) ^ MAGIC) >>> 0;
          return resolve({ protocol, mapped: [24, 16, 8, 0].map((shift) => (ip >>> shift) & 255).join('.') });
        }
      }
      reject(new Error(`no IPv4 XOR-MAPPED-ADDRESS: ${buf.toString('hex')}`));
    });
  });
}

/** Runs turnutils_uclient (coturn's test client) against coturn; returns {status, output}. */
function uclient(args) {
  const r = spawnSync('turnutils_uclient', args, { encoding: 'utf8', timeout: 20_000 });
  if (r.error?.code === 'ENOENT') throw new Error("turnutils_uclient not found (Debian's package coturn has it)");
  return { status: r.status, signal: r.signal, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

test('coturn as configured: denied peers refused (403 Forbidden IP), Confab\'s address relayed, TLS listener up, stale or forged credentials refused', { timeout: 120_000, skip }, async (t) => {
  createNetwork(t);
  const turn = await startCoturn(t);
  // An echo peer on Confab's media address, the one address allowed in the denied ranges.
  const peerPort = await freeUdpPort();
  const peerLog = artifactLog('turnutils-peer');
  const peer = spawn('turnutils_peer', ['-L', HOST_IP, '-p', String(peerPort)], { stdio: ['ignore', peerLog.fd, peerLog.fd] });
  t.after(() => {
    peer.kill('SIGKILL');
    peerLog.close();
  });
  await sleep(300);

  const { username, credential } = restCredential(turn.secret, 'probe');
  // -t: TCP to coturn, -s: CreatePermission + Send (what a browser asks first), -c: no RTCP
  // allocation, -m 1: one client, -n: messages, -e/-r: the peer.
  const base = ['-t', '-s', '-c', '-m', '1', '-n', '3', '-u', username, '-w', credential];
  const results = {};
  for (const address of ['127.0.0.1', '10.0.0.1', NS_IP]) {
    const r = uclient([...base, '-p', String(turn.port), '-e', address, '-r', String(peerPort), HOST_IP]);
    results[address] = { status: r.status, said: r.output.match(/.*error 403.*/)?.[0] ?? r.output.trim().split('\n').slice(-2).join(' | ') };
    assert.notEqual(r.status, 0, `a permission towards ${address} is refused`);
    assert.match(r.output, /create permission error 403 \(Forbidden IP\)/, `coturn answers 403 Forbidden IP for peer ${address}`);
  }
  const log = turn.logText();
  for (const address of ['10.0.0.1', NS_IP]) {
    assert.match(log, new RegExp(`A peer IP ${address.replaceAll('.', '\\.')} denied in the range`), `coturn logs ${address} as denied`);
  }
  assert.match(log, /user <\d+:probe>: incoming packet CREATE_PERMISSION processed, error 403: Forbidden IP/);

  // Confab's media address is allowed: the echo comes back.
  const r = uclient([...base, '-p', String(turn.port), '-e', HOST_IP, '-r', String(peerPort), HOST_IP]);
  results[`${HOST_IP} (allowed)`] = { status: r.status, said: r.output.match(/.*Total lost packets.*/)?.[0] ?? r.output.trim().split('\n').slice(-2).join(' | ') };
  assert.equal(r.status, 0, `relaying to ${HOST_IP} works:\n${r.output}`);
  assert.match(r.output, /Total lost packets 0 /, `every message to ${HOST_IP} came back`);

  // The TLS listener (turns:) answers with the configured certificate. Not with turnutils_uclient:
  // its TLS client (coturn 4.6.1, OpenSSL 3) hangs in SSL_connect on most attempts here, while
  // other TLS clients connect at once.
  const binding = await stunOverTls(turn.tlsPort, turn.caPem);
  results['STUN over TLS'] = binding;
  assert.equal(binding.mapped, HOST_IP, 'a STUN Binding over TLS reports our address');

  // An expired credential, and one signed with another secret: no allocation (401).
  const expired = restCredential(turn.secret, 'probe', Math.floor(Date.now() / 1000) - 60);
  const forged = restCredential(randomBytes(24).toString('hex'), 'probe');
  for (const [what, c] of [
    ['expired', expired],
    ['forged', forged],
  ]) {
    const r = uclient(['-t', '-c', '-m', '1', '-n', '1', '-u', c.username, '-w', c.credential, '-p', String(turn.port), '-e', HOST_IP, '-r', String(peerPort), HOST_IP]);
    results[`${what} credential`] = { status: r.status, said: r.output.match(/.*Cannot complete Allocation.*/)?.[0] ?? r.output.trim().split('\n').slice(-2).join(' | ') };
    assert.notEqual(r.status, 0, `an ${what} credential gets no allocation`);
    assert.match(r.output, /Cannot complete Allocation/, `an ${what} credential gets no allocation`);
  }
  assert.match(turn.logText(), new RegExp(`user <${expired.username}>: incoming packet message processed, error 401`), 'coturn refused the expired username with 401');
  record('coturnProbes', results);
});
