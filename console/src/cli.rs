//! Command-line interface. (Being built: see issue 4.)
