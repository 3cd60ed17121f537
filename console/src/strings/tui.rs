//! Words of the interactive screens.
