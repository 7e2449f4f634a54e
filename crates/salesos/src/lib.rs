//! SalesOS: a self-hosted sales automation platform in one binary.
//!
//! This crate is the wiring: [`app`] lists the areas (each its own crate, on the
//! `salesos-platform` crate, whose pure values live in `salesos-model`) and builds an
//! [`app::Application`] from them; [`cli`] is the binary's command line.

pub mod app;
pub mod cli;
