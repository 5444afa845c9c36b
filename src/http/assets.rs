//! The form's stylesheet, script and icon, compiled into the binary and served from `/static/{name}`.
//! Pages link them as `/static/{name}?v={hash}`: the hash changes with the bytes, so the files can be
//! cached for a long time while pages (sent with `no-store`) always name the current version.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use ring::digest;

use super::problem::ApiError;
use crate::services::ServiceError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "site.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/site.css"),
    },
    Asset {
        name: "form.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/form.js"),
    },
    Asset {
        name: "viewer.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/viewer.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/icon.svg"),
    },
];

/// `(name, first 12 hex digits of SHA-256)` for each asset.
static VERSIONS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let hash = hex::encode(digest::digest(&digest::SHA256, a.bytes));
            (a.name, hash[..12].to_owned())
        })
        .collect()
});

/// The versioned URL of an asset, for links in pages.
pub fn url(name: &str) -> String {
    let version = VERSIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("0", |(_, v)| v.as_str());
    format!("/static/{name}?v={version}")
}

/// `GET /static/{name}`.
pub async fn serve(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name.as_str())
        .ok_or(ServiceError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(asset.bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_versioned_url() {
        for asset in ASSETS {
            let url = url(asset.name);
            assert!(
                url.starts_with(&format!("/static/{}?v=", asset.name)),
                "{url}"
            );
            assert_eq!(url.len(), format!("/static/{}?v=", asset.name).len() + 12);
        }
    }
}
