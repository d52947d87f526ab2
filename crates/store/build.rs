//! `sqlx::migrate!` embeds the migration folders when the crate is compiled; without this, adding
//! a migration file changes no source file and Cargo would keep the build that lacks it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
