//! `multipart/form-data` bodies (RFC 7578), shared by the api tests and
//! `ledger-bench` (both include this file with `#[path]`): a statement upload
//! is a plain form, built here without a client library's multipart feature.

/// The body of `parts` (name, file name for a file part, content): its
/// `Content-Type` (with the boundary) and bytes.
pub fn form(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = format!("ledger-form-{}", uuid::Uuid::now_v7().simple());
    let mut body = Vec::new();
    for (name, filename, content) in parts {
        let disposition = match filename {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(format!("--{boundary}\r\n{disposition}").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
