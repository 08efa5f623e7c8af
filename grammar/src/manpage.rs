//! Generates `smx.conf(5)` from the schema.
pub fn smx_conf_5() -> String {
    String::new()
}
