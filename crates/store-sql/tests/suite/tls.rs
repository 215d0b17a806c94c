//! TLS to PostgreSQL: a server of this test's own that takes connections only over TLS
//! (`hostssl` lines alone in pg_hba.conf) with a certificate from a test CA. `sslmode=verify-full`
//! with that CA connects and works; without TLS the server refuses, and with another CA the
//! client refuses the server: a database address alone cannot be impersonated.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hpki_core::store::Store;
use hpki_store_sql::{ConnectOptions, DatabaseUrl, Schema, SessionLimits, SqlStore};
use hpki_test_support::{as_postgres, POSTGRES_BIN};

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A CA (`name`.crt, `name`.key) in `dir`.
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

/// The server: stopped when dropped.
struct Server {
    bin: String,
    data: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c"])
            .arg(format!(
                "{}/pg_ctl -D {} stop -m immediate",
                self.bin, self.data
            ))
            .output();
    }
}

async fn connect(url: &str) -> Result<SqlStore, hpki_core::store::StoreError> {
    SqlStore::connect(&ConnectOptions {
        url: DatabaseUrl::parse(url).expect("url"),
        max_connections: 2,
        connect_timeout: Duration::from_secs(5),
        schema: Schema::Migrate,
        limits: SessionLimits::default(),
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_is_verified_and_plain_connections_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path();
    ca(root, "testca");
    ca(root, "otherca");
    std::fs::write(
        root.join("server.ext"),
        "subjectAltName = DNS:localhost\nextendedKeyUsage = serverAuth\n",
    )
    .expect("ext");
    openssl(
        root,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        root,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "testca.crt",
            "-CAkey",
            "testca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    // The postgres user reads and writes in here; the key only they read.
    let owned = Command::new("chown")
        .args(["-R", "postgres"])
        .arg(root)
        .status()
        .expect("chown");
    assert!(owned.success());
    let bin = POSTGRES_BIN.to_owned();
    let data = format!("{}/pg", root.display());
    let r = root.display();
    as_postgres(&format!(
        "chmod 600 {r}/server.key && {bin}/initdb -D {data} -U postgres -A trust >/dev/null"
    ));
    let server = Server {
        bin: bin.clone(),
        data: data.clone(),
    };
    std::fs::write(
        format!("{data}/pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    )
    .expect("pg_hba.conf");
    let conf = format!(
        "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{r}'\n\
         ssl = on\nssl_cert_file = '{r}/server.crt'\nssl_key_file = '{r}/server.key'\n"
    );
    let mut pgconf = std::fs::read_to_string(format!("{data}/postgresql.conf")).expect("conf");
    pgconf.push_str(&conf);
    std::fs::write(format!("{data}/postgresql.conf"), pgconf).expect("conf");
    as_postgres(&format!(
        "{bin}/pg_ctl -D {data} -l {r}/pg.log -w start >/dev/null && \
         {bin}/createdb -h {r} -p {port} -U postgres hpki"
    ));

    let base = format!("postgres://postgres@localhost:{port}/hpki");
    let verified = connect(&format!(
        "{base}?sslmode=verify-full&sslrootcert={r}/testca.crt"
    ))
    .await
    .expect("TLS, the server verified by the test CA");
    verified.ping().await.expect("works");
    assert!(verified.schema_version().await.expect("version") > 0);
    verified.close().await;
    let plain = connect(&format!("{base}?sslmode=disable")).await;
    assert!(plain.is_err(), "a connection without TLS was taken");
    let impostor = connect(&format!(
        "{base}?sslmode=verify-full&sslrootcert={r}/otherca.crt"
    ))
    .await;
    assert!(
        impostor.is_err(),
        "a server the CA did not certify was trusted"
    );
    drop(server);
}
