use axum::extract::State;
use common::auth::AuthUser;
use common::error::ErrorBody;
use common::http::{Json, Query};
use common::pagination::{Page, PageQuery};
use common::ApiResult;

use crate::notifications::{self, Notification};
use crate::AppState;

/// The caller's notifications, newest first, paginated.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of notifications", body = Page<Notification>),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
    ))]
pub async fn list_notifications(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page<Notification>>> {
    let page = query.parse()?;
    let rows = {
        let _timer = state.metrics.db_query.start("list_notifications");
        notifications::list(&state.db, user.user_id, page).await?
    };
    Ok(Json(Page::from_rows(rows, page)))
}
