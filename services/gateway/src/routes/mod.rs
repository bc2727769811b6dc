//! The HTTP routes: `render` (the API), `plots` (images), `page` (the web page and its
//! assets) and `meta` (what the page offers).

pub mod meta;
pub mod page;
pub mod plots;
pub mod render;
