//! Host modules over the clients: thin conversions between Rhai values and client types.

pub mod phala;
pub mod sim;

use rhai::Dynamic;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A client value as a script value (structs become maps).
pub fn to_script<T: Serialize>(value: &T) -> Result<Dynamic, Error> {
    rhai::serde::to_dynamic(value)
        .map_err(|e| Error::invalid("host", format!("cannot hand a value to the script: {e}")))
}

/// A script value back as a client type; `what` names the expected value in the error.
pub fn from_script<T: DeserializeOwned>(value: &Dynamic, what: &str) -> Result<T, Error> {
    rhai::serde::from_dynamic(value).map_err(|e| {
        Error::invalid("host", format!("expected {what}: {e}")).with_hint(format!(
            "pass the value returned by the function that gives {what}"
        ))
    })
}
