//! The HTTP routes: `render` (the API), `watch` (live pages), `plots` (images), `page` (the web page and its
//! assets), `meta` (what the page offers) and `contract` (the OpenAPI and AsyncAPI
//! documents).

pub mod contract;
pub mod meta;
pub mod page;
pub mod plots;
pub mod render;
pub mod watch;
