//! Minimal OCI images written by hand and pushed with the real skopeo.

use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::skopeo::{auth_args, tls_args, Skopeo, SkopeoAuth, TlsMode};

const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes a one-layer OCI image to `registry_host/repository:tag` with the real skopeo
/// (`skopeo copy --preserve-digests oci:DIR:TAG docker://…`) and returns its manifest digest
/// (`sha256:…`). The image is built in Rust in a temporary OCI layout: an uncompressed tar layer
/// holding one file whose content names `repository:tag`, so every image has its own digest.
/// `creds` are the push credentials (`None`: anonymous); `tls` as for [`Skopeo::inspect_raw`].
///
/// # Panics
///
/// When skopeo is missing or the push fails (the message carries skopeo's stderr).
pub async fn push_test_image(
    registry_host: &str,
    repository: &str,
    tag: &str,
    creds: Option<(&str, &str)>,
    tls: TlsMode<'_>,
) -> String {
    let skopeo = Skopeo::new();
    let layout = tempfile::Builder::new()
        .prefix("regcred-testkit-oci-")
        .tempdir()
        .expect("create OCI layout dir");
    let manifest_digest = write_layout(layout.path(), tag, &format!("{repository}:{tag}\n"));
    let digest_file = layout.path().join("pushed-digest");

    let mut args: Vec<String> = vec![
        "copy".into(),
        "--preserve-digests".into(),
        "--digestfile".into(),
        digest_file.display().to_string(),
    ];
    let auth = match creds {
        Some((user, password)) => SkopeoAuth::Creds(user, password),
        None => SkopeoAuth::Anonymous,
    };
    args.extend(auth_args(auth, "dest-"));
    args.extend(tls_args(tls, "dest-"));
    args.push(format!("oci:{}:{tag}", layout.path().display()));
    args.push(format!("docker://{registry_host}/{repository}:{tag}"));

    let output = skopeo.run(&args).await;
    assert!(
        output.success,
        "skopeo copy to {registry_host}/{repository}:{tag} failed:\n{}",
        output.stderr
    );
    let pushed = std::fs::read_to_string(&digest_file).expect("skopeo wrote --digestfile");
    assert_eq!(
        pushed.trim(),
        manifest_digest,
        "skopeo changed the manifest despite --preserve-digests"
    );
    manifest_digest
}

/// Writes an OCI image layout with one image tagged `tag` whose single layer holds
/// `regcred-testkit.txt` = `content`; returns the manifest digest.
fn write_layout(dir: &Path, tag: &str, content: &str) -> String {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("create blobs dir");
    let layer = tar_with_one_file("regcred-testkit.txt", content.as_bytes());
    let layer_digest = write_blob(dir, &layer);

    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        // Uncompressed, so the diff ID is the layer digest.
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    }))
    .expect("config serializes");
    let config_digest = write_blob(dir, &config);

    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer.len(),
        }],
    }))
    .expect("manifest serializes");
    let manifest_digest = write_blob(dir, &manifest);

    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": tag },
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).expect("write index.json");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("write oci-layout");
    manifest_digest
}

/// Stores `content` under `blobs/sha256/` and returns its digest.
fn write_blob(dir: &Path, content: &[u8]) -> String {
    let hex_digest = hex::encode(Sha256::digest(content));
    std::fs::write(dir.join("blobs/sha256").join(&hex_digest), content).expect("write blob");
    format!("sha256:{hex_digest}")
}

/// A POSIX ustar archive with one regular file: a 512-byte header, the content padded to 512,
/// and the two zero blocks that end an archive.
fn tar_with_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    assert!(name.len() < 100, "tar name fits the header");
    let mut header = [0u8; 512];
    let mut put = |offset: usize, value: &[u8]| {
        header[offset..offset + value.len()].copy_from_slice(value);
    };
    put(0, name.as_bytes());
    put(100, b"0000644\0"); // mode
    put(108, b"0000000\0"); // uid
    put(116, b"0000000\0"); // gid
    put(124, format!("{:011o}\0", content.len()).as_bytes()); // size
    put(136, b"00000000000\0"); // mtime: the epoch, so the layer is reproducible
    put(148, b"        "); // checksum, counted as spaces
    put(156, b"0"); // regular file
    put(257, b"ustar\0"); // magic
    put(263, b"00"); // version
    let checksum: u32 = header.iter().map(|&byte| u32::from(byte)).sum();
    header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());

    let mut archive = header.to_vec();
    archive.extend_from_slice(content);
    archive.resize(archive.len().div_ceil(512) * 512, 0);
    archive.resize(archive.len() + 1024, 0);
    archive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_header_checksum_matches_the_format() {
        let archive = tar_with_one_file("a.txt", b"hello\n");
        assert_eq!(archive.len(), 512 + 512 + 1024);
        let header = &archive[..512];
        let stored =
            u32::from_str_radix(std::str::from_utf8(&header[148..154]).unwrap(), 8).unwrap();
        let mut blanked = header.to_vec();
        blanked[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, blanked.iter().map(|&b| u32::from(b)).sum::<u32>());
        assert_eq!(&archive[512..518], b"hello\n");
    }

    #[test]
    fn tar_is_read_by_the_system_tar() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layer.tar");
        std::fs::write(&path, tar_with_one_file("a.txt", b"hello\n")).unwrap();
        let output = std::process::Command::new("tar")
            .arg("-xOf")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.stdout, b"hello\n");
    }
}
