// The Debian package on a new server. tests/e2e/package/prepare made a minimal Debian root of this
// machine's release and installed Confab's .deb in it with `apt install` (dependencies from the
// mirror). Here that root boots with systemd as its PID 1 (systemd-nspawn, sharing this network
// namespace's loopback), and the test checks, as an administrator would:
// - systemd started the enabled unit, as the unprivileged confab user, with the package's files
//   and modes, logs in the journal (without the API secret), a unit that `systemd-analyze verify`
//   accepts and whose sandbox `systemd-analyze security` scores;
// - a configuration mistake stops the service with its line in the journal, without a restart loop;
// - with a certificate in /etc/confab/tls and `bind` on port 443 (the unit's only capability),
//   two Chromium participants that trust the certificate's CA meet over https://;
// - an upgrade to a newer revision keeps the edited configuration and the API key, and restarts
//   the service.
// Figures (artifacts/e2e/package/figures.json): apt install, boot to service, HTTPS to video.
//
// Run: tests/e2e/package/prepare target/package-test (as root, with the package registry), then
//   CONFAB_PACKAGE_TEST=target/package-test node --test tests/e2e/package.test.mjs

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { artifactLog, assertDecodes, figureRecorder, launchBrowser, openParticipant, screenshotAll, timeLimit, waitFor } from './lib.mjs';

const prepared = process.env.CONFAB_PACKAGE_TEST && path.resolve(process.env.CONFAB_PACKAGE_TEST);
const skip = prepared ? false : 'CONFAB_PACKAGE_TEST is not set: tests/e2e/package/prepare makes the root (scripts/test runs it)';
const DOMAIN = 'meet.confab.test';
const CONFIG = '/etc/confab/confab.toml';

/** The PID (in this namespace) of the first child of `pid`: nspawn's child is the container's systemd. */
function childOf(pid) {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/** GET https://127.0.0.1:443<urlPath> as DOMAIN, trusting only `ca`. */
function httpsGet(urlPath, ca) {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port: 443, path: urlPath, servername: DOMAIN, ca, agent: false, timeout: 5000 }, (res) => {
        res.resume().on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
      })
      .on('timeout', function () {
        this.destroy(new Error('no answer on 443 within 5 s'));
      })
      .on('error', reject);
  });
}

/** `text` with each [from, to] replaced once; every `from` must be there. */
function edited(text, replacements) {
  for (const [from, to] of replacements) {
    assert.ok(text.includes(from), `the packaged confab.toml has the line ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  return text;
}

test('the Debian package: installed by apt, started by systemd, a meeting over HTTPS on 443, upgraded', { skip, timeout: 240_000 }, async (t) => {
  const root = path.join(prepared, 'root');
  const record = figureRecorder('package');
  const install = JSON.parse(readFileSync(path.join(prepared, 'install.json'), 'utf8'));
  record('apt_install', install);

  // Boot the root. --keep-unit and --register=no: no systemd or machined on this side to ask.
  const log = artifactLog('package-container');
  const booted = Date.now();
  const nspawn = spawn('systemd-nspawn', ['-D', root, '--boot', '--register=no', '--keep-unit', '--console=pipe', '--quiet'], {
    stdio: ['ignore', log.fd, log.fd],
  });
  const nspawnExit = new Promise((resolve) => nspawn.once('exit', resolve));
  t.after(async () => {
    nspawn.kill('SIGTERM'); // systemd-nspawn asks the container's systemd to power off
    if (!(await Promise.race([nspawnExit, timeLimit(30_000).then(() => false)]))) nspawn.kill('SIGKILL');
    log.close();
  });
  const pid1 = await waitFor(() => childOf(nspawn.pid), { timeout: 10_000, message: `systemd-nspawn should start the container (log: ${log.path})` });
  const inside = (cmd, ...args) =>
    execFileSync('nsenter', ['--target', String(pid1), '--mount', '--uts', '--ipc', '--pid', '--', cmd, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' },
    });
  const unit = (prop) => inside('systemctl', 'show', 'confab', '-p', prop, '--value').trim();
  const journal = () => inside('journalctl', '-u', 'confab', '--no-pager', '-o', 'cat');

  // (1) systemd starts the enabled unit at boot: the Meet app answers on the default address.
  await waitFor(async () => (await fetch('http://127.0.0.1:7880/healthz', { signal: AbortSignal.timeout(1000) })).status === 200, {
    timeout: 90_000,
    interval: 200,
    message: `confab.service should answer on 127.0.0.1:7880 after boot (container log: ${log.path})`,
  });
  record('boot_to_service_ms', Date.now() - booted);
  assert.equal(unit('ActiveState'), 'active');
  assert.equal(inside('dpkg-query', '-W', '-f', '${Version}', 'confab'), install.version);
  const uid = inside('id', '-u', 'confab').trim();
  const status = inside('cat', `/proc/${unit('MainPID')}/status`);
  assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s`, 'm'), 'the service runs as the confab user');
  assert.match(status, /^NoNewPrivs:\s+1$/m);
  assert.match(status, /^CapEff:\s+0000000000000400$/m, 'its one capability is CAP_NET_BIND_SERVICE');
  assert.equal(
    inside('stat', '-c', '%n %a %U:%G', CONFIG, '/etc/confab/secrets.env', '/var/lib/confab', '/var/lib/confab/confab.db'),
    `${CONFIG} 640 root:confab\n/etc/confab/secrets.env 640 root:confab\n/var/lib/confab 750 confab:confab\n/var/lib/confab/confab.db 640 confab:confab\n`,
  );
  const secrets = Object.fromEntries(
    readFileSync(path.join(root, 'etc/confab/secrets.env'), 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => l.split(/=(.*)/s).slice(0, 2)),
  );
  assert.match(secrets.CONFAB_API_KEY, /^confab[0-9a-f]{8}$/);
  assert.match(secrets.CONFAB_API_SECRET, /^[0-9a-f]{64}$/, 'a 256-bit secret made at install');
  const bootJournal = journal();
  assert.match(bootJournal, /Confab \d+\.\d+\.\d+ is running/, 'the banner is in the journal');
  assert.match(bootJournal, /^\s*INFO confab_sfu: media plane started/m, 'log lines leave the time stamp to the journal');
  assert.ok(!bootJournal.includes(secrets.CONFAB_API_SECRET), 'the API secret is not in the journal');
  assert.ok(!/development key/.test(bootJournal), 'the installed key is used, not a development one');
  // The README's way to mint a token on the server, as the confab user with the installed key.
  const minted = inside('runuser', '-u', 'confab', '--', 'sh', '-c', 'set -a; . /etc/confab/secrets.env; confab token --room standup --identity carol').trim();
  const validate = await fetch(`http://127.0.0.1:7880/rtc/validate?access_token=${minted}`);
  assert.equal(validate.status, 200, `the minted token is accepted: ${await validate.text()}`);

  // (2) The unit as systemd judges it: no warnings, and its sandbox's exposure score.
  const verify = execFileSync('nsenter', ['--target', String(pid1), '--mount', '--pid', '--', 'sh', '-c', 'systemd-analyze verify confab.service 2>&1'], { encoding: 'utf8' });
  assert.equal(verify.split('\n').filter((l) => /confab/.test(l)).join('\n'), '', 'systemd-analyze verify has nothing to say about the unit');
  const security = inside('systemd-analyze', 'security', 'confab.service', '--no-pager');
  const exposure = Number(/Overall exposure level for confab\.service: ([\d.]+)/.exec(security)?.[1]);
  record('systemd_exposure', exposure);
  assert.ok(exposure <= 2.5, `systemd-analyze security rates the sandbox ${exposure} (0 safest, 10 none)`);

  // (3) A mistake in the configuration: the service stops with the line in the journal and is not
  // restarted in a loop.
  const packaged = readFileSync(path.join(root, CONFIG.slice(1)), 'utf8');
  writeFileSync(path.join(root, CONFIG.slice(1)), edited(packaged, [['#max_participants = 100', 'max_participant = 10']]));
  try {
    inside('systemctl', 'restart', 'confab');
  } catch {
    // Type=exec: the start itself succeeds, the exit comes just after
  }
  await waitFor(() => unit('ActiveState') === 'failed', { timeout: 15_000, message: 'a wrong configuration should stop the service' });
  await timeLimit(3000); // RestartSec is 2 s: a restart would have come by now
  assert.deepEqual([unit('ExecMainStatus'), unit('NRestarts'), unit('ActiveState')], ['2', '0', 'failed']);
  assert.match(journal(), /unknown field `max_participant`/);

  // (4) HTTPS on 443 with certificate files, as an administrator edits the packaged file.
  const work = mkdtempSync(path.join(tmpdir(), 'confab-package-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const file = (name) => path.join(work, name);
  const openssl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-subj', '/CN=package test CA');
  openssl('req', '-x509', '-CA', file('ca.pem'), '-CAkey', file('ca.key'), ...ec, '-keyout', file('key.pem'), '-out', file('cert.pem'),
    '-subj', `/CN=${DOMAIN}`, '-addext', `subjectAltName=DNS:${DOMAIN}`, '-addext', 'basicConstraints=critical,CA:FALSE');
  const ca = readFileSync(file('ca.pem'));
  mkdirSync(path.join(root, 'etc/confab/tls'), { recursive: true });
  copyFileSync(file('cert.pem'), path.join(root, 'etc/confab/tls/fullchain.pem'));
  copyFileSync(file('key.pem'), path.join(root, 'etc/confab/tls/privkey.pem'));
  inside('chgrp', 'confab', '/etc/confab/tls/privkey.pem');
  inside('chmod', '640', '/etc/confab/tls/privkey.pem');
  const config = edited(packaged, [
    ['#bind = "127.0.0.1:7880"', 'bind = "127.0.0.1:443"'],
    ['#public_ip = "203.0.113.10"', 'public_ip = "127.0.0.1"'],
    ['#ideal_height = 720', 'ideal_height = 480'], // what CI's two cores sustain, as in TEST_CONFIG
    ['#[tls]\n#cert = "/etc/confab/tls/fullchain.pem"\n#key = "/etc/confab/tls/privkey.pem"', '[tls]\ncert = "/etc/confab/tls/fullchain.pem"\nkey = "/etc/confab/tls/privkey.pem"'],
  ]);
  writeFileSync(path.join(root, CONFIG.slice(1)), config);
  assert.match(inside('confab', 'check-config', '--config', CONFIG), /is valid[\s\S]*listen:\s+127\.0\.0\.1:443[\s\S]*HTTPS:\s+certificate \/etc\/confab\/tls\/fullchain\.pem/);
  inside('systemctl', 'restart', 'confab');
  const restarted = Date.now();
  const served = await waitFor(() => httpsGet('/healthz', ca), { timeout: 20_000, interval: 100, message: `https://${DOMAIN}/healthz on 443 (journal: ${journal().slice(-2000)})` });
  assert.equal(served.status, 200);
  assert.match(served.headers['strict-transport-security'] ?? '', /^max-age=\d+/);

  // Two participants at https://meet.confab.test/, with tokens signed by the installed key.
  const home = path.join(work, 'home');
  const nssdb = path.join(home, '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  execFileSync('certutil', ['-N', '-d', `sql:${nssdb}`, '--empty-password'], { stdio: 'pipe' });
  execFileSync('certutil', ['-A', '-d', `sql:${nssdb}`, '-n', 'package test CA', '-t', 'C,,', '-i', file('ca.pem')], { stdio: 'pipe' });
  const site = { url: `https://${DOMAIN}`, wsUrl: `wss://${DOMAIN}`, apiKey: secrets.CONFAB_API_KEY, apiSecret: secrets.CONFAB_API_SECRET };
  const browsers = {};
  const pages = {};
  try {
    await Promise.all(
      ['ada', 'bob'].map(async (id) => {
        browsers[id] = await launchBrowser({ label: `package-${id}`, args: [`--host-resolver-rules=MAP ${DOMAIN} 127.0.0.1`], env: { ...process.env, HOME: home } });
        pages[id] = await openParticipant(browsers[id], site, { room: 'installed', identity: id });
      }),
    );
    for (const [me, other] of [['ada', 'bob'], ['bob', 'ada']]) {
      assert.equal(await pages[me].evaluate(() => isSecureContext), true);
      await assertDecodes(pages[me], me, other, { where: 'from the packaged service' });
    }
    record('https_start_to_video_ms', Date.now() - restarted);
  } catch (err) {
    await screenshotAll(pages, 'package-failure');
    throw err;
  } finally {
    await Promise.all(Object.values(browsers).map((b) => b.close()));
  }

  // (5) Upgrade to a newer revision: the edited file and the key stay, the service restarts.
  const before = { pid: unit('MainPID'), secrets: readFileSync(path.join(root, 'etc/confab/secrets.env'), 'utf8') };
  copyFileSync(path.join(prepared, 'confab-upgrade.deb'), path.join(root, 'root/confab-upgrade.deb'));
  inside('env', 'DEBIAN_FRONTEND=noninteractive', 'dpkg', '-i', '/root/confab-upgrade.deb');
  assert.equal(inside('dpkg-query', '-W', '-f', '${Version}', 'confab'), install.version_upgrade);
  assert.equal(readFileSync(path.join(root, CONFIG.slice(1)), 'utf8'), config, 'the upgrade kept the edited confab.toml');
  assert.equal(readFileSync(path.join(root, 'etc/confab/secrets.env'), 'utf8'), before.secrets, 'and the API key');
  assert.equal(inside('stat', '-c', '%a %U:%G', CONFIG), '640 root:confab\n');
  await waitFor(async () => unit('MainPID') !== before.pid && (await httpsGet('/healthz', ca)).status === 200, {
    timeout: 20_000,
    message: 'the upgraded service should be restarted and serve https again',
  });
});
