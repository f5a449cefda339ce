//! PEM tests.
