// moto's S3-compatible server (from PyPI, in the SDK virtualenv) for the recording tests: started on
// loopback with an empty bucket, and files downloaded from it with boto3, which moto brings.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { artifactLog, waitFor } from './lib.mjs';
import { PYTHON } from './sdk/peers.mjs';

export const BUCKET = 'recordings';
const ACCESS_KEY = 'test';
const SECRET = 'test-secret';

/** moto's S3 server on 127.0.0.1:port, with an empty bucket; {stop()}. */
export async function startS3(t, port, label) {
  const log = artifactLog(label);
  const child = spawn(PYTHON, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', log.fd, log.fd] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const s3 = {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGKILL');
      await exited;
      log.close();
    },
  };
  t.after(() => s3.stop());
  await waitFor(async () => (await fetch(s3.url).catch(() => null))?.ok, { timeout: 20_000, message: `moto should serve on ${s3.url}` });
  // moto keeps no credentials: the bucket is made with a plain request.
  const made = await fetch(`${s3.url}/${BUCKET}`, { method: 'PUT' });
  assert.ok(made.ok, `bucket ${BUCKET} should be created: ${made.status}`);
  return s3;
}

/** The `[recording.s3]` section of a server config that uploads to `s3`. */
export function s3Config(s3, { retryEvery = 60 } = {}) {
  return `[recording.s3]\nendpoint = "${s3.url}"\nbucket = "${BUCKET}"\naccess_key = "${ACCESS_KEY}"\nsecret = "${SECRET}"\nretry_every = ${retryEvery}\n`;
}

/** Downloads the object at `url` (as a job's location names it) to `file`; returns `file`. */
export function downloadS3(s3, url, file) {
  const key = url.slice(`${s3.url}/${BUCKET}/`.length);
  const py = `import boto3, sys\nboto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3], region_name='us-east-1').download_file('${BUCKET}', sys.argv[4], sys.argv[5])`;
  execFileSync(PYTHON, ['-c', py, s3.url, ACCESS_KEY, SECRET, key, file], { stdio: 'pipe' });
  return file;
}
