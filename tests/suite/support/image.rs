//! A tiny OCI image built by hand, and skopeo to push and pull it.
//!
//! Where skopeo 1.9.3 (containers/image v5.23) finds credentials, as checked
//! on this machine against the emulator:
//! - `--src-authfile`/`--dest-authfile` (or `REGISTRY_AUTH_FILE`) is read first,
//!   and a docker `config.json` works there, `auths` and `credHelpers` alike;
//! - it is not exclusive: when the file is missing or has no entry for the
//!   registry, skopeo goes on to `$DOCKER_CONFIG/config.json` (checked; going
//!   by containers/image's source, `$XDG_CONFIG_HOME/containers/auth.json`
//!   comes before it, and `$HOME/.docker/config.json` replaces it when
//!   `DOCKER_CONFIG` is unset);
//! - in `$DOCKER_CONFIG/config.json` it honours `auths` and `credHelpers`
//!   (running `docker-credential-<name> get` from PATH) but ignores `credsStore`.
//!
//! The helpers therefore run skopeo with a cleared environment (PATH only) and
//! throwaway HOME and XDG directories, so only the credentials a test hands over count.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// The tag the layout's single manifest is named by.
pub const OCI_TAG: &str = "latest";
/// The one file in the image's only layer.
pub const IMAGE_FILE: (&str, &[u8]) = ("hello.txt", b"hello from the ci-registry-login test bed\n");

/// Writes an OCI image layout to `dir/oci` (same bytes every time) and returns its path.
pub fn oci_image(dir: &Path) -> PathBuf {
    let layout = dir.join("oci");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("create OCI layout");
    let write_blob = |bytes: &[u8]| -> Value {
        let digest = sha256_hex(bytes);
        std::fs::write(blobs.join(&digest), bytes).expect("write blob");
        json!({"digest": format!("sha256:{digest}"), "size": bytes.len()})
    };
    let tar = tar_with_one_file(IMAGE_FILE.0, IMAGE_FILE.1);
    let mut layer = write_blob(&gzip_stored(&tar));
    layer["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+gzip");
    let image_config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&tar))]},
    });
    let mut config = write_blob(&serde_json::to_vec(&image_config).unwrap());
    config["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [layer],
    });
    let mut descriptor = write_blob(&serde_json::to_vec(&manifest).unwrap());
    descriptor["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
    descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": OCI_TAG});
    let index = json!({"schemaVersion": 2, "manifests": [descriptor]});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    layout
}

/// Where skopeo takes credentials from.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// `--src-authfile`/`--dest-authfile` (a docker `config.json` works).
    AuthFile(PathBuf),
    /// `DOCKER_CONFIG=dir`, the way a CI job's `docker login` leaves things.
    DockerConfig(PathBuf),
    None,
}

/// skopeo against a registry on loopback.
#[derive(Clone, Debug)]
pub struct Skopeo {
    credentials: Credentials,
    /// Verify TLS with this CA; without it TLS is not verified and plain HTTP is allowed.
    ca_file: Option<PathBuf>,
}

impl Skopeo {
    pub fn new(credentials: Credentials) -> Skopeo {
        Skopeo {
            credentials,
            ca_file: None,
        }
    }

    /// Verifies the registry's certificate against `ca_file` (e.g. `test-ca.crt`).
    pub fn trusting(mut self, ca_file: &Path) -> Skopeo {
        self.ca_file = Some(ca_file.to_path_buf());
        self
    }

    /// Pushes the [`oci_image`] to `registry/repo:tag`.
    pub fn push(&self, registry: &str, repo: &str, tag: &str) -> Output {
        let work = tempfile::tempdir().unwrap();
        let layout = oci_image(work.path());
        let source = format!("oci:{}:{OCI_TAG}", layout.display());
        self.copy(
            work.path(),
            "dest",
            &source,
            &format!("docker://{registry}/{repo}:{tag}"),
        )
    }

    /// Pulls `registry/repo:tag` into a throwaway OCI layout.
    pub fn pull(&self, registry: &str, repo: &str, tag: &str) -> Output {
        let work = tempfile::tempdir().unwrap();
        let target = format!("oci:{}:{tag}", work.path().join("pulled").display());
        self.copy(
            work.path(),
            "src",
            &format!("docker://{registry}/{repo}:{tag}"),
            &target,
        )
    }

    /// `skopeo copy` with the registry side (`src` or `dest`) configured.
    fn copy(&self, work: &Path, side: &str, from: &str, to: &str) -> Output {
        let certs = work.join("certs");
        // An XDG_RUNTIME_DIR that does not exist draws a warning on every run.
        std::fs::create_dir_all(work.join("run")).unwrap();
        let mut command = Command::new("skopeo");
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", work.join("home"))
            .env("XDG_RUNTIME_DIR", work.join("run"))
            .env("XDG_CONFIG_HOME", work.join("config"))
            // The policy is not under test; this spares a dependency on /etc/containers.
            .args(["--insecure-policy", "copy"]);
        match &self.credentials {
            Credentials::AuthFile(file) => {
                command.arg(format!("--{side}-authfile")).arg(file);
            }
            Credentials::DockerConfig(dir) => {
                command.env("DOCKER_CONFIG", dir);
            }
            Credentials::None => {
                command.arg(format!("--{side}-no-creds"));
            }
        }
        match &self.ca_file {
            Some(ca) => {
                std::fs::create_dir_all(&certs).unwrap();
                std::fs::copy(ca, certs.join("ca.crt")).expect("copy CA");
                command.arg(format!("--{side}-cert-dir")).arg(&certs);
            }
            None => {
                command.arg(format!("--{side}-tls-verify=false"));
            }
        }
        command.args([from, to]).output().expect("run skopeo")
    }
}

/// Pushes the test image with credentials from `auth_file`.
pub fn skopeo_push(auth_file: &Path, registry: &str, repo: &str, tag: &str) -> Output {
    Skopeo::new(Credentials::AuthFile(auth_file.to_path_buf())).push(registry, repo, tag)
}

/// Pulls with credentials from `auth_file`.
pub fn skopeo_pull(auth_file: &Path, registry: &str, repo: &str, tag: &str) -> Output {
    Skopeo::new(Credentials::AuthFile(auth_file.to_path_buf())).pull(registry, repo, tag)
}

/// Pushes with `DOCKER_CONFIG=docker_config` (it reads `config.json` there).
pub fn skopeo_push_docker_config(
    docker_config: &Path,
    registry: &str,
    repo: &str,
    tag: &str,
) -> Output {
    Skopeo::new(Credentials::DockerConfig(docker_config.to_path_buf())).push(registry, repo, tag)
}

/// Pulls with `DOCKER_CONFIG=docker_config`.
pub fn skopeo_pull_docker_config(
    docker_config: &Path,
    registry: &str,
    repo: &str,
    tag: &str,
) -> Output {
    Skopeo::new(Credentials::DockerConfig(docker_config.to_path_buf())).pull(registry, repo, tag)
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A ustar archive holding one regular file, with fixed metadata.
fn tar_with_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let mut put =
        |offset: usize, bytes: &[u8]| header[offset..offset + bytes.len()].copy_from_slice(bytes);
    put(0, name.as_bytes());
    put(100, b"0000644\0"); // mode
    put(108, b"0000000\0"); // uid
    put(116, b"0000000\0"); // gid
    put(124, format!("{:011o}\0", content.len()).as_bytes());
    put(136, b"00000000000\0"); // mtime: the epoch, for identical bytes every run
    put(148, b"        "); // checksum field counts as spaces while summing
    put(156, b"0"); // regular file
    put(257, b"ustar\0");
    put(263, b"00");
    let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().next_multiple_of(512), 0);
    tar.resize(tar.len() + 1024, 0); // two zero blocks end the archive
    tar
}

/// gzip with "stored" (uncompressed) deflate blocks: valid gzip without a
/// compressor, which the test image's few KiB do not need.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = data.chunks(u16::MAX as usize).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len())); // BFINAL, BTYPE=00
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
