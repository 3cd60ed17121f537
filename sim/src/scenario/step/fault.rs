//! `fault`: inject one fault (the `target` key picks the component, see [`crate::scenario::fault`]).

use crate::scenario::fault::FaultSpec;

pub type Fault = FaultSpec;
