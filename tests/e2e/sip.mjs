// A phone for the SIP tests: Debian's sipp (package sip-tester) speaks SIP, and this file is the
// phone's media, RTP on loopback: G.711 μ-law audio and RFC 4733 keypad digits, sent and kept.

import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { artifactLog } from './lib.mjs';

/** A linear sample (-1..1) as a μ-law byte (G.711, as the reference encoder rounds). */
export function mulawEncode(x) {
  let v = Math.max(-32768, Math.min(32767, Math.round(x * 32767))) >> 2;
  let mask = 0xff;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  }
  v = Math.min(v, 8159) + 33;
  let segment = 31 - Math.clz32(v) - 5;
  if (segment > 7) return 0x7f ^ mask;
  segment = Math.max(0, segment);
  return ((segment << 4) | ((v >> (segment + 1)) & 0x0f)) ^ mask;
}

/** A μ-law byte as a linear sample (-1..1). */
export function mulawDecode(code) {
  const c = ~code & 0xff;
  const segment = (c >> 4) & 0x07;
  const magnitude = ((((c & 0x0f) << 3) + 0x84) << segment) - 0x84;
  return (c & 0x80 ? -magnitude : magnitude) / 32768;
}

function rtp({ pt, marker = false, seq, ts, ssrc }, payload) {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  payload.copy(b, 12);
  return b;
}

/**
 * The phone's RTP: `signalled` is the socket its SDP names, `sender` the one it really sends and
 * receives on (as behind NAT, where the two differ). Everything the gateway sends to either is
 * kept as decoded samples with its arrival time: {at, samples (8 kHz), on}.
 */
export async function phoneMedia() {
  const bind = () =>
    new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => resolve(s));
    });
  const [signalled, sender] = [await bind(), await bind()];
  const heard = [];
  let gateway = null;
  let resolveFirst;
  const first = new Promise((r) => (resolveFirst = r));
  for (const [name, s] of [['signalled', signalled], ['sender', sender]]) {
    s.on('message', (msg, rinfo) => {
      if (msg.length < 12 || (msg[1] & 0x7f) !== 0) return;
      gateway ??= { address: rinfo.address, port: rinfo.port };
      resolveFirst();
      heard.push({ at: Date.now(), on: name, samples: [...msg.subarray(12)].map(mulawDecode) });
    });
  }
  const stream = { seq: 1000, ts: 160_000, ssrc: 0x5eed };
  const send = (packet) => sender.send(packet, gateway.port, gateway.address);
  let toneTimer = null;
  return {
    signalledPort: signalled.address().port,
    heard,
    /** Resolves when the gateway first sends (the prompt), with its RTP address. */
    firstPacket: () => first.then(() => gateway),
    /** Keys `digits` as RFC 4733 events (payload type `pt`), without the marker bit, each end packet three times. */
    async keyDigits(digits, pt = 101) {
      for (const d of digits) {
        const event = '0123456789*#'.indexOf(d);
        for (let n = 1; n <= 5; n++) {
          send(rtp({ pt, seq: stream.seq++, ts: stream.ts, ssrc: stream.ssrc }, Buffer.from([event, 10, (n * 160) >> 8, (n * 160) & 0xff])));
          await new Promise((r) => setTimeout(r, 20));
        }
        for (let i = 0; i < 3; i++) send(rtp({ pt, seq: stream.seq++, ts: stream.ts, ssrc: stream.ssrc }, Buffer.from([event, 0x80 | 10, 960 >> 8, 960 & 0xff])));
        stream.ts += 8000;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    /** Sends a sine of `freq` Hz in PCMU, 20 ms a packet, until stopTone(). */
    playTone(freq, level = 0.3) {
      let t = 0;
      toneTimer = setInterval(() => {
        const payload = Buffer.alloc(160);
        for (let i = 0; i < 160; i++, t++) payload[i] = mulawEncode(level * Math.sin((2 * Math.PI * freq * t) / 8000));
        send(rtp({ pt: 0, seq: stream.seq++, ts: stream.ts, ssrc: stream.ssrc }, payload));
        stream.ts += 160;
      }, 20);
    },
    stopTone() {
      clearInterval(toneTimer);
    },
    close() {
      clearInterval(toneTimer);
      signalled.close();
      sender.close();
    },
  };
}

/**
 * A sipp scenario for one call: INVITE `sip:<dialled>@<gateway>` from `caller` ({name, user};
 * sipp fields such as [call_number] allowed), offering PCMU and telephone-events with its media at
 * `mediaPort` (a number, or a sipp keyword such as [rtpstream_audio_port]), ACK, then `afterAck`
 * (sipp actions), then holding `holdMs` and hanging up, or (`expectBye`) waiting up to `holdMs`
 * for the gateway to hang up.
 */
export function callScenario({ dialled, caller = { name: 'Ada Phone', user: '+15551234' }, mediaPort, holdMs, expectBye = false, afterAck = '' }) {
  const headers = (method, cseq) => `${method} sip:${dialled}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "${caller.name}" <sip:${caller.user}@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:${dialled}@[remote_ip]:[remote_port]>${method === 'INVITE' ? '' : '[peer_tag_param]'}
      Call-ID: [call_id]
      CSeq: ${cseq} ${method}
      Contact: <sip:${caller.user}@[local_ip]:[local_port]>
      Max-Forwards: 70`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<scenario name="call">
  <send retrans="500"><![CDATA[
      ${headers('INVITE', 1)}
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 127.0.0.1
      s=call
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio ${mediaPort} RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
      ${headers('ACK', 1)}
      Content-Length: 0
  ]]></send>
${afterAck}
${expectBye ? `  <recv request="BYE" timeout="${holdMs}"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>` : `  <pause milliseconds="${holdMs}"/>
  <send retrans="500"><![CDATA[
      ${headers('BYE', 2)}
      Content-Length: 0
  ]]></send>
  <recv response="200" crlf="true"/>`}
</scenario>
`;
}

/**
 * Runs sipp as the caller of one call (callScenario) to the gateway at 127.0.0.1:`sipPort`.
 * Resolves to {code, log} when sipp exits (0: the call went as scripted).
 */
export function sippCall({ sipPort, localPort, mediaPort, holdMs, dir, expectBye = false, dialled = 'dialin', label = 'sipp' }) {
  const scenario = path.join(dir, 'dial-in.xml');
  writeFileSync(scenario, callScenario({ dialled, mediaPort, holdMs, expectBye }));
  const log = artifactLog(label);
  const child = spawn('sipp', [`127.0.0.1:${sipPort}`, '-sf', scenario, '-m', '1', '-i', '127.0.0.1', '-p', String(localPort), '-nostdin', '-timeout', `${Math.ceil(holdMs / 1000) + 30}s`, '-trace_err', '-error_file', path.join(dir, 'sipp-errors.log')], {
    cwd: dir,
    stdio: ['ignore', log.fd, log.fd],
  });
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      log.close();
      resolve({ code, log: log.path });
    });
    child.once('error', (err) => resolve({ code: -1, log: `${log.path}: ${err.message} (Debian's package sip-tester has sipp)` }));
  });
}
