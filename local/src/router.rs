//! Every function's routes merged on one router: the one place a new function's routes are
//! added for `zhibo serve`, the tests and the demo (on AWS, API Gateway routes to each Lambda).

use axum::Router;
use fn_play::PlayState;
use zhibo_store::Deps;

/// The routes of rooms, wechat, hooks, webhooks and play, without fallbacks.
pub fn function_routes(deps: Deps, play: PlayState) -> Router {
    fn_rooms::router(deps.clone())
        .merge(fn_wechat::router(deps.clone()))
        .merge(fn_hooks::router(deps.clone()))
        .merge(fn_webhooks::router(deps))
        .merge(fn_play::router(play))
}

/// [`function_routes`] with the JSON 404 and 405 answers every function gives.
pub fn api_router(deps: Deps, play: PlayState) -> Router {
    zhibo_api::with_fallbacks(function_routes(deps, play))
}
