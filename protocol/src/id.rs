//! String ids: one macro for every id newtype, here and in the crates above.

/// Defines a newtype over `String` for one kind of id, with `new`, `as_str`, `Display`
/// and `From<&str>`/`From<String>`.
///
/// Attributes given before `struct` (docs, serde derives) go on the type, after its own
/// derives, so `#[serde(transparent)]` works:
///
/// ```
/// pykernel_protocol::string_id! {
///     /// Names one widget.
///     pub struct WidgetId;
/// }
/// assert_eq!(WidgetId::from("w1").as_str(), "w1");
/// ```
#[macro_export]
macro_rules! string_id {
    ($(#[$meta:meta])* $vis:vis struct $name:ident;) => {
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $(#[$meta])*
        $vis struct $name(String);

        impl $name {
            /// Wraps a string as this kind of id.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string (on the wire, where it travels).
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::core::convert::From<&str> for $name {
            fn from(id: &str) -> Self {
                Self::new(id)
            }
        }

        impl ::core::convert::From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }
    };
}
