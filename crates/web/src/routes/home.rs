use axum::response::Html;
use axum::routing::get;
use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

/// A plain landing page; the holder-facing pages come with the registration site.
async fn home() -> Html<&'static str> {
    Html(
        "<!doctype html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>HPKI セカンド電子証明書</title></head>\
         <body><h1>HPKI セカンド電子証明書サービス</h1>\
         <p>このサービスは稼働中です。初期登録用QRコードを読み取ると、登録用のページが開きます。</p>\
         <p><a href=\"/me\">ご自身の証明書・端末・署名の履歴を見る（サインイン）</a></p>\
         <p lang=\"en\">The HPKI second electronic certificate service is running.</p></body></html>\n",
    )
}
