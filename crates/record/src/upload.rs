//! Finished files to an S3-compatible store, without ever losing one.
//!
//! A recording is always written to the local recordings folder first. When
//! a store is configured, the finished file is uploaded (a single PUT when
//! small, multipart in 8 MiB parts when large; object_store retries each
//! request with backoff) and checked there by its size; only then is the local
//! copy removed. If the store stays unreachable, the file stays where it is,
//! the job says so (`backup_storage_used`, and its details name the folder and
//! the error), and the recorder tries again every `retry_every` until it
//! succeeds, across restarts too.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use tokio::io::AsyncReadExt;

/// Files up to this size go up in one request.
const SINGLE_PUT: u64 = 8 << 20;
const PART: usize = 8 << 20;

#[derive(Clone)]
pub struct S3Settings {
    /// `http(s)://host:port` of an S3-compatible server; empty for AWS.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret: String,
    /// Put before each file's path inside the bucket.
    pub prefix: String,
    /// How often uploads that failed are tried again.
    pub retry_every: Duration,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log.
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key", &self.access_key)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct Uploader {
    store: Arc<AmazonS3>,
    settings: S3Settings,
}

impl Uploader {
    pub fn new(settings: S3Settings) -> Result<Self, String> {
        let mut builder = AmazonS3Builder::new()
            .with_region(&settings.region)
            .with_bucket_name(&settings.bucket)
            .with_access_key_id(&settings.access_key)
            .with_secret_access_key(&settings.secret)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(250),
                    max_backoff: Duration::from_secs(4),
                    base: 2.0,
                },
                max_retries: 4,
                retry_timeout: Duration::from_secs(60),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(120))
                    .with_allow_http(settings.endpoint.starts_with("http://")),
            );
        if !settings.endpoint.is_empty() {
            builder = builder
                .with_endpoint(&settings.endpoint)
                .with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|e| format!("S3 settings: {e}"))?;
        Ok(Self {
            store: Arc::new(store),
            settings,
        })
    }

    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }

    /// Upload `local` as `key` (under the prefix); where it is now.
    pub async fn upload(&self, local: &Path, key: &str) -> Result<String, String> {
        let key = format!("{}{key}", self.settings.prefix);
        let location =
            ObjectPath::parse(&key).map_err(|e| format!("bad object name {key:?}: {e}"))?;
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| format!("cannot read {}: {e}", local.display()))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| format!("cannot read {}: {e}", local.display()))?
            .len();
        let failed = |e: &dyn std::fmt::Display| format!("upload to {}: {e}", self.url(&key));
        if size <= SINGLE_PUT {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes)
                .await
                .map_err(|e| format!("cannot read {}: {e}", local.display()))?;
            self.store
                .put(&location, PutPayload::from(bytes))
                .await
                .map_err(|e| failed(&e))?;
        } else {
            let upload = self
                .store
                .put_multipart(&location)
                .await
                .map_err(|e| failed(&e))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
            let mut buf = vec![0; PART];
            loop {
                let n = match file.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(format!("cannot read {}: {e}", local.display()));
                    }
                };
                // At most two parts in flight: memory stays near 3 parts.
                if let Err(e) = writer.wait_for_capacity(2).await {
                    return Err(failed(&e));
                }
                writer.write(&buf[..n]);
            }
            writer.finish().await.map_err(|e| failed(&e))?;
        }
        let stored = self.store.head(&location).await.map_err(|e| failed(&e))?;
        if stored.size != size {
            return Err(failed(&format!(
                "the store holds {} bytes of {size}",
                stored.size
            )));
        }
        Ok(self.url(&key))
    }

    /// Where `key` is, as a URL people and tools can use.
    fn url(&self, key: &str) -> String {
        let s = &self.settings;
        if s.endpoint.is_empty() {
            format!("https://{}.s3.{}.amazonaws.com/{key}", s.bucket, s.region)
        } else {
            format!("{}/{}/{key}", s.endpoint.trim_end_matches('/'), s.bucket)
        }
    }
}
