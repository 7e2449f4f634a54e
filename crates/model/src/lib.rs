//! Value types with rules, parsed on construction. Pure: no database, HTTP or runtime
//! types, so every rule here is tested without I/O.

pub mod patch;
pub mod values;

pub use values::*;

/// An enum stored and sent as fixed text (`"individual_contributor"`), with the list of
/// its values, `as_str` and a `FromStr` whose error names the accepted values.
///
/// The texts are taken as token trees, not `literal` fragments: a `literal` reaches derive
/// macros wrapped in an invisible group, which utoipa's attribute parser does not read, so
/// the OpenAPI document named the variants (`New`) instead of the wire texts (`new`).
#[macro_export]
macro_rules! text_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident = $text:tt),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown value `{other}`; expected one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
