//! `matrix-console demo`. (Being built: see issue 4.)
