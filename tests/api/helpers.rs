//! `TestApp`: the service spawned on port 0 with its own data directory, database and bucket,
//! with one method per endpoint. Backends are real: SQLite or PostgreSQL (127.0.0.1:5432, one fresh
//! database per test), and the filesystem or an S3 server (s3s-fs) over loopback TCP.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use consilium::config::{Settings, environment_from};
use consilium::db::SqlRepository;
use consilium::http::Application;
use consilium::services::{Services, admin, keys};
use consilium::storage::{BlobStore, fs::FsStore, s3::S3Store};
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use tempfile::TempDir;

const BUCKET: &str = "consilium-test";
const S3_ACCESS_KEY: &str = "consilium-test-access";
const S3_SECRET_KEY: &str = "consilium-test-secret-key";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    FsSqlite,
    S3Postgres,
}

/// An S3 server over loopback: s3s-fs serving a temporary directory in this process, or, when
/// `CONSILIUM_TEST_S3_ENDPOINT` is set (CI does), a real S3-compatible server there with a fresh
/// bucket per test and credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    access_key: String,
    secret_key: String,
    _root: Option<TempDir>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl S3Server {
    pub async fn start() -> Self {
        if let Ok(endpoint) = std::env::var("CONSILIUM_TEST_S3_ENDPOINT") {
            let server = Self {
                endpoint,
                bucket: format!("consilium-test-{}", uuid::Uuid::new_v4().simple()),
                access_key: std::env::var("AWS_ACCESS_KEY_ID")
                    .expect("AWS_ACCESS_KEY_ID for the external S3 server"),
                secret_key: std::env::var("AWS_SECRET_ACCESS_KEY")
                    .expect("AWS_SECRET_ACCESS_KEY for the external S3 server"),
                _root: None,
                task: None,
            };
            server
                .client()
                .create_bucket()
                .bucket(&server.bucket)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!("the S3 server at CONSILIUM_TEST_S3_ENDPOINT must answer: {e:?}")
                });
            return server;
        }
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(BUCKET)).unwrap();
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(
            S3_ACCESS_KEY,
            S3_SECRET_KEY,
        ));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Self {
            endpoint,
            bucket: BUCKET.to_owned(),
            access_key: S3_ACCESS_KEY.to_owned(),
            secret_key: S3_SECRET_KEY.to_owned(),
            _root: Some(root),
            task: Some(task),
        }
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "test",
            ))
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub fn store(&self) -> S3Store {
        S3Store::from_client(self.client(), self.bucket.clone())
    }

    /// Every object in the bucket with its raw (stored) bytes.
    pub async fn raw_objects(&self) -> Vec<(String, Vec<u8>)> {
        let client = self.client();
        let listed = client
            .list_objects_v2()
            .bucket(&self.bucket)
            .send()
            .await
            .unwrap();
        let mut objects = Vec::new();
        for object in listed.contents() {
            let key = object.key().unwrap().to_owned();
            let body = client
                .get_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .unwrap()
                .body;
            objects.push((key, body.collect().await.unwrap().to_vec()));
        }
        objects
    }

    /// Empties and deletes the bucket, as an operator's mistake would.
    pub async fn remove_bucket(&self) {
        let client = self.client();
        for (key, _) in self.raw_objects().await {
            client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .unwrap();
        }
        client
            .delete_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .unwrap();
    }
}

/// A fresh PostgreSQL database for one test (commits do not wait for the disk).
pub async fn postgres_database() -> String {
    let base = std::env::var("CONSILIUM_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!("consilium_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must be running for these tests ({base}): {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    // No wait for the WAL flush at each commit: a test's database need not outlive a crash of
    // PostgreSQL itself, and every audited request commits (a preview scroll commits hundreds).
    sqlx::query(&format!(
        "ALTER DATABASE {name} SET synchronous_commit = off"
    ))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    format!("{base}/{name}")
}

pub struct TestApp {
    pub address: String,
    /// The metrics listener (`server.metrics_bind`, a free loopback port).
    pub metrics_address: String,
    pub client: reqwest::Client,
    pub services: Arc<Services>,
    pub admin_token: String,
    pub backend: Backend,
    pub data_dir: Arc<TempDir>,
    pub s3: Option<Arc<S3Server>>,
    pub database_url: String,
    overrides: HashMap<String, String>,
    server: actix_web::dev::ServerHandle,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Backend::FsSqlite, &[]).await
    }

    /// Spawns on `backend` with extra `CONSILIUM__…` overrides.
    pub async fn spawn_with(backend: Backend, overrides: &[(&str, &str)]) -> Self {
        let data_dir = Arc::new(tempfile::tempdir().unwrap());
        let (s3, database_url) = match backend {
            Backend::FsSqlite => (
                None,
                format!("sqlite://{}/consilium.db", data_dir.path().display()),
            ),
            Backend::S3Postgres => (
                Some(Arc::new(S3Server::start().await)),
                postgres_database().await,
            ),
        };
        let overrides = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::start(backend, data_dir, s3, database_url, overrides, None).await
    }

    async fn start(
        backend: Backend,
        data_dir: Arc<TempDir>,
        s3: Option<Arc<S3Server>>,
        database_url: String,
        overrides: HashMap<String, String>,
        admin_token: Option<String>,
    ) -> Self {
        let mut vars: HashMap<String, String> = HashMap::from([
            (
                "CONSILIUM__DATA_DIR".into(),
                data_dir.path().display().to_string(),
            ),
            ("CONSILIUM__SERVER__BIND".into(), "127.0.0.1:0".into()),
            (
                "CONSILIUM__SERVER__METRICS_BIND".into(),
                "127.0.0.1:0".into(),
            ),
            ("CONSILIUM__SERVER__ENVIRONMENT".into(), "test".into()),
            ("CONSILIUM__SERVER__WORKERS".into(), "2".into()),
            ("CONSILIUM__DATABASE__URL".into(), database_url.clone()),
            (
                "CONSILIUM__INTAKE__UPLOAD_BUDGET_WAIT_SECONDS".into(),
                "5".into(),
            ),
        ]);
        vars.extend(overrides.clone());
        let config_dir = tempfile::tempdir().unwrap();
        let settings =
            Settings::load_from(config_dir.path(), None, environment_from(Some(vars))).unwrap();
        let keys = keys::load_key_ring(&settings).unwrap();
        let repo = Arc::new(SqlRepository::connect(&database_url, 5).await.unwrap());
        let blobs: Arc<dyn BlobStore> = match &s3 {
            Some(server) => Arc::new(server.store()),
            None => Arc::new(FsStore::open(&data_dir.path().join("blobs")).await.unwrap()),
        };
        let services = Arc::new(Services::assemble(settings, repo, blobs, keys).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let app = Application::with_listener(Arc::clone(&services), listener).unwrap();
        let port = app.port();
        let metrics_port = app.metrics_port().expect("metrics are on in tests");
        let server = app.handle();
        tokio::spawn(app.into_server());
        let admin_token = match admin_token {
            Some(token) => token,
            None => admin::create_token(services.repo.as_ref(), "test-admin")
                .await
                .unwrap(),
        };
        Self {
            address: format!("http://127.0.0.1:{port}"),
            metrics_address: format!("http://127.0.0.1:{metrics_port}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            services,
            admin_token,
            backend,
            data_dir,
            s3,
            database_url,
            overrides,
            server,
        }
    }

    /// Stops the server and starts a new one on the same data, database and bucket.
    pub async fn restart(self) -> Self {
        self.server.stop(true).await;
        let Self {
            backend,
            data_dir,
            s3,
            database_url,
            overrides,
            admin_token,
            ..
        } = self;
        Self::start(
            backend,
            data_dir,
            s3,
            database_url,
            overrides,
            Some(admin_token),
        )
        .await
    }

    pub async fn post_request(&self, form: Form) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/requests", self.address))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_case(&self, case_id: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/v1/cases/{case_id}", self.address))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap()
    }

    pub async fn list_cases(&self, query: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/v1/cases{query}", self.address))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_document_content(&self, document_id: &str) -> reqwest::Response {
        self.client
            .get(format!(
                "{}/api/v1/documents/{document_id}/content",
                self.address
            ))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }

    /// A GET of `path` with `bearer` as the token, or none.
    pub async fn get_as(&self, path: &str, bearer: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.address));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send().await.unwrap()
    }

    /// `GET /api/v1/cases/{case_id}/audit` as the administrator.
    pub async fn case_audit(&self, case_id: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/v1/cases/{case_id}/audit", self.address))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap()
    }

    // ---- links, as the administrator issues them ----------------------------------------------

    /// `POST /api/v1/cases/{case_id}/links` as the administrator.
    pub async fn create_link(&self, case_id: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/cases/{case_id}/links", self.address))
            .bearer_auth(&self.admin_token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /api/v1/cases/{case_id}/links` without a token.
    pub async fn create_link_anonymously(&self, case_id: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/cases/{case_id}/links", self.address))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `GET /api/v1/cases/{case_id}/links` as the administrator.
    pub async fn list_links(&self, case_id: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/v1/cases/{case_id}/links", self.address))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap()
    }

    /// `DELETE /api/v1/links/{link_id}` as the administrator.
    pub async fn revoke_link(&self, link_id: &str) -> reqwest::Response {
        self.client
            .delete(format!("{}/api/v1/links/{link_id}", self.address))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap()
    }

    // ---- links, as their recipient uses them (`link` is the link's path, `/l/{token}`) ---------

    /// `GET /l/{token}`: the landing page, with no `Accept`.
    pub async fn link_landing(&self, link: &str) -> reqwest::Response {
        self.get(link).await
    }

    /// `GET /l/{token}` with `Accept: text/html`.
    pub async fn link_landing_html(&self, link: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{link}", self.address))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap()
    }

    /// `POST /l/{token}/open`, with the passcode field when one is given.
    pub async fn open_link(&self, link: &str, passcode: Option<&str>) -> reqwest::Response {
        let form: Vec<(&str, &str)> = passcode.map(|p| vec![("passcode", p)]).unwrap_or_default();
        self.client
            .post(format!("{}{link}/open", self.address))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// `POST /l/{token}/open` (an empty passcode) sent with `Origin: origin`, and
    /// `X-Forwarded-Host` when given.
    pub async fn open_link_from(
        &self,
        link: &str,
        origin: &str,
        forwarded_host: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}{link}/open", self.address))
            .header("origin", origin)
            .form(&[("passcode", "")]);
        if let Some(host) = forwarded_host {
            request = request.header("x-forwarded-host", host);
        }
        request.send().await.unwrap()
    }

    /// `GET /l/{token}/case` in the session `cookie` (`name=value`), with no `Accept`: the summary.
    pub async fn link_case(&self, link: &str, cookie: &str) -> reqwest::Response {
        self.link_get(&format!("{link}/case"), cookie, &[]).await
    }

    /// `GET /l/{token}/case` in the session `cookie` with `Accept: text/html`: the case page.
    pub async fn link_case_html(&self, link: &str, cookie: &str) -> reqwest::Response {
        self.link_get(&format!("{link}/case"), cookie, &[("accept", "text/html")])
            .await
    }

    /// `GET /l/{token}/documents/{document_id}` in the session `cookie`.
    pub async fn link_download(
        &self,
        link: &str,
        document_id: &str,
        cookie: &str,
    ) -> reqwest::Response {
        self.link_get(&format!("{link}/documents/{document_id}"), cookie, &[])
            .await
    }

    /// `GET /l/{token}/documents/{document_id}/preview?{query}` in the session `cookie` (no `?`
    /// when `query` is empty).
    pub async fn link_preview(
        &self,
        link: &str,
        document_id: &str,
        query: &str,
        cookie: &str,
    ) -> reqwest::Response {
        self.link_get(&preview_path(link, document_id, query), cookie, &[])
            .await
    }

    /// `link_preview` with `If-None-Match: etag`.
    pub async fn link_preview_if_none_match(
        &self,
        link: &str,
        document_id: &str,
        query: &str,
        cookie: &str,
        etag: &str,
    ) -> reqwest::Response {
        self.link_get(
            &preview_path(link, document_id, query),
            cookie,
            &[("if-none-match", etag)],
        )
        .await
    }

    /// `POST /l/{token}/documents` (multipart, the request's fields) in the session `cookie`.
    pub async fn link_upload(&self, link: &str, cookie: &str, form: Form) -> reqwest::Response {
        self.link_post(&format!("{link}/documents"), cookie, form)
            .await
    }

    /// `POST /l/{token}/opinion` (multipart) in the session `cookie`.
    pub async fn link_opinion(&self, link: &str, cookie: &str, form: Form) -> reqwest::Response {
        self.link_post(&format!("{link}/opinion"), cookie, form)
            .await
    }

    async fn link_get(
        &self,
        path: &str,
        cookie: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .get(format!("{}{path}", self.address))
            .header("cookie", cookie);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    async fn link_post(&self, path: &str, cookie: &str, form: Form) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header("cookie", cookie)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    // ---- partners (`key` is the partner's `csk_…` key) -----------------------------------------

    /// `POST /api/v1/cases`, with `Idempotency-Key` when given.
    pub async fn partner_create_case(
        &self,
        key: &str,
        idempotency_key: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/api/v1/cases", self.address))
            .bearer_auth(key)
            .json(body);
        if let Some(idempotency_key) = idempotency_key {
            request = request.header("Idempotency-Key", idempotency_key);
        }
        request.send().await.unwrap()
    }

    /// `GET /api/v1/cases/{case}` with a partner key (`case` is an id or a reference).
    pub async fn partner_get_case(&self, key: &str, case: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/v1/cases/{case}", self.address))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// `PATCH /api/v1/cases/{case}`: a partner corrects its case.
    pub async fn partner_correct_case(
        &self,
        key: &str,
        case: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.client
            .patch(format!("{}/api/v1/cases/{case}", self.address))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `PUT /api/v1/cases/{case}/documents/{client_document_id}`: the raw bytes, with their name,
    /// category and (when given) SHA-256 in headers.
    pub async fn partner_put_document(
        &self,
        key: &str,
        case: &str,
        client_document_id: &str,
        document: PartnerDocument<'_>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .put(format!(
                "{}/api/v1/cases/{case}/documents/{client_document_id}",
                self.address
            ))
            .bearer_auth(key)
            .header("Content-Type", "application/octet-stream")
            .header("X-Filename", document.filename)
            .header("X-Category", document.category)
            .body(document.bytes);
        if let Some(sha) = document.sha256 {
            request = request.header("X-Content-SHA256", sha);
        }
        request.send().await.unwrap()
    }

    /// Runs one SQL statement on the service's database (SQLite or PostgreSQL), with text binds;
    /// returns the rows it changed. For states no API reaches yet (expiry, statuses, tampering).
    pub async fn execute_sql(&self, sql: &str, binds: &[&str]) -> u64 {
        if self.database_url.starts_with("sqlite") {
            let pool = sqlx::SqlitePool::connect(&self.database_url).await.unwrap();
            let mut query = sqlx::query(sql);
            for bind in binds {
                query = query.bind(*bind);
            }
            let done = query.execute(&pool).await;
            pool.close().await;
            done.unwrap().rows_affected()
        } else {
            let pool = sqlx::PgPool::connect(&self.database_url).await.unwrap();
            let mut query = sqlx::query(sql);
            for bind in binds {
                query = query.bind(*bind);
            }
            let done = query.execute(&pool).await;
            pool.close().await;
            done.unwrap().rows_affected()
        }
    }

    /// The Prometheus text from the metrics listener.
    pub async fn metrics(&self) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.metrics_address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the metrics listener answers");
        response.text().await.unwrap()
    }

    /// Every object key in the blob store.
    pub async fn stored_keys(&self) -> Vec<String> {
        self.services.blobs.list("").await.unwrap()
    }

    /// (cases, documents) rows.
    pub async fn row_counts(&self) -> (i64, i64) {
        self.services.repo.counts().await.unwrap()
    }

    /// Everything at rest: each file under the data directory and each object in the bucket,
    /// as (where, bytes).
    pub async fn bytes_at_rest(&self) -> Vec<(String, Vec<u8>)> {
        let mut found = Vec::new();
        let mut dirs = vec![self.data_dir.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                if entry.file_type().unwrap().is_dir() {
                    dirs.push(entry.path());
                } else {
                    found.push((
                        entry.path().display().to_string(),
                        std::fs::read(entry.path()).unwrap(),
                    ));
                }
            }
        }
        if let Some(s3) = &self.s3 {
            found.extend(s3.raw_objects().await);
        }
        found
    }

    /// Asserts that a refused request left nothing behind.
    pub async fn assert_nothing_stored(&self) {
        assert_eq!(self.row_counts().await, (0, 0), "no case or document row");
        assert_eq!(self.stored_keys().await, Vec::<String>::new(), "no blob");
    }
}

/// A document as a partner puts it: the body and its `X-Filename`, `X-Category` and
/// `X-Content-SHA256` headers.
pub struct PartnerDocument<'a> {
    pub filename: &'a str,
    pub category: &'a str,
    pub bytes: Vec<u8>,
    pub sha256: Option<&'a str>,
}

impl<'a> PartnerDocument<'a> {
    pub fn new(filename: &'a str, category: &'a str, bytes: Vec<u8>) -> Self {
        Self {
            filename,
            category,
            bytes,
            sha256: None,
        }
    }

    /// With `X-Content-SHA256: sha256`.
    pub fn sha256(self, sha256: &'a str) -> Self {
        Self {
            sha256: Some(sha256),
            ..self
        }
    }
}

fn preview_path(link: &str, document_id: &str, query: &str) -> String {
    if query.is_empty() {
        format!("{link}/documents/{document_id}/preview")
    } else {
        format!("{link}/documents/{document_id}/preview?{query}")
    }
}

/// Runs `async fn $name(backend: Backend)` as two tests, `$name::on_fs_sqlite` and
/// `$name::on_s3_postgres` (a module beside the function, of the same name).
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn on_fs_sqlite() {
                super::$name($crate::helpers::Backend::FsSqlite).await;
            }

            #[tokio::test]
            async fn on_s3_postgres() {
                super::$name($crate::helpers::Backend::S3Postgres).await;
            }
        }
    )+};
}
pub(crate) use on_both_backends;

/// A complete, valid patient form without files.
pub fn patient_form() -> Form {
    form_with(&[])
}

/// The valid form with some fields replaced (an empty value removes the field).
pub fn form_with(changes: &[(&str, &str)]) -> Form {
    let mut fields: Vec<(String, String)> = [
        ("full_name", "Amelia Zanzibar-Quint"),
        ("email", "amelia.quint@example.org"),
        ("phone", "+44 20 7946 0958"),
        ("contact_preference", "email"),
        ("service", "records_review"),
        (
            "condition",
            "Suspected sarcoidosis; I would like a review of my CT and biopsy.",
        ),
        ("terms_accepted", "true"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (name, value) in changes {
        fields.retain(|(k, _)| k != name);
        if !value.is_empty() {
            fields.push(((*name).to_owned(), (*value).to_owned()));
        }
    }
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k, v);
    }
    form
}

pub fn file(name: &str, bytes: Vec<u8>) -> Part {
    Part::bytes(bytes).file_name(name.to_owned())
}

/// Reads a problem response and checks its status and code.
pub async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status for {code}");
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["type"], format!("/problems/{code}"), "{body}");
    body
}
