use axum::extract::State;
use common::auth::AuthUser;
use common::http::{Json, Query};
use common::pagination::{Page, PageQuery};
use common::ApiResult;

use crate::notifications::{self, Notification};
use crate::AppState;

/// `GET /notifications`: the caller's notifications, newest first, paginated.
pub async fn list_notifications(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page<Notification>>> {
    let page = query.parse()?;
    let rows = notifications::list(&state.db, user.user_id, page).await?;
    Ok(Json(Page::from_rows(rows, page, notifications::cursor_of)))
}
