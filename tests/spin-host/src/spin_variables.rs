//! `spin:variables/variables@3.0.0`: the component's `[component.X.variables]`,
//! expanded over the application's variables at start.

use wasmtime::component::Accessor;

use crate::bindings::spin::variables::variables::{self, Error, HostWithStore};
use crate::runtime::{Ctx, Spin};
use crate::variables::GetError;

impl HostWithStore for Spin {
    async fn get<T: Send>(accessor: &Accessor<T, Self>, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(
            accessor.with(|mut access| match access.get().grants.variables.get(&name) {
                Ok(value) => Ok(value),
                Err(GetError::InvalidName) => Err(Error::InvalidName(name)),
                Err(GetError::Undefined) => Err(Error::Undefined(name)),
            }),
        )
    }
}

impl variables::Host for Ctx {}
