//! todo
pub fn repl(_: crate::host::session::SessionOptions, _: Option<&str>) -> i32 {
    0
}
