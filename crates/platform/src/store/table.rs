//! One declaration per table: [`table!`](crate::table) declares a table's row type, and
//! from the same field list its name and column lists, so a `SELECT` can never list its
//! columns in another order or number than the type that decodes them.
//!
//! ```text
//! salesos_platform::table! {
//!     /// A stored widget.
//!     #[derive(Clone, Debug)]
//!     pub struct WidgetRow in "widgets" {
//!         pub id: Uuid,
//!         pub name: String,
//!         pub created_at: DateTime<Utc>,
//!     }
//! }
//! // WidgetRow::TABLE == "widgets"; WidgetRow::COLUMNS == "id, name, created_at"
//! ```
//!
//! The columns a write sets are declared beside their values by [`columns!`](crate::columns),
//! for the same reason.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

/// A table's row type, as [`table!`](crate::table) declares it.
pub trait Table: FromQueryResult + Send + Sync {
    /// The table's name.
    const TABLE: &'static str;
    /// The row type's columns, comma-separated in field order: for `SELECT` and
    /// `RETURNING`.
    const COLUMNS: &'static str;
    /// The same columns, one by one.
    const COLUMN_NAMES: &'static [&'static str];
}

/// The row with this id in this workspace; another workspace's row is not found.
pub async fn find_in_workspace<T: Table, C: ConnectionTrait>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<T>, DbErr> {
    let sql = format!(
        "SELECT {} FROM {} WHERE workspace_id = $1 AND id = $2",
        T::COLUMNS,
        T::TABLE
    );
    let stmt = super::statement(
        conn.get_database_backend(),
        &sql,
        vec![workspace_id.into(), id.into()],
    );
    T::find_by_statement(stmt).one(conn).await
}

/// Declare a table's row type: a struct whose fields are the table's columns, decoded by
/// `FromQueryResult`, with [`Table`] implemented from the same field list.
#[macro_export]
macro_rules! table {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident in $table:literal {
            $(#[$first_meta:meta])* $first_vis:vis $first:ident : $first_ty:ty
            $(, $(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty)* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(sea_orm::FromQueryResult)]
        $vis struct $name {
            $(#[$first_meta])* $first_vis $first: $first_ty,
            $($(#[$field_meta])* $field_vis $field: $ty,)*
        }

        impl $name {
            /// The table's name.
            #[allow(dead_code)]
            pub const TABLE: &'static str = $table;
            /// The columns of this row type, comma-separated in field order.
            #[allow(dead_code)]
            pub const COLUMNS: &'static str =
                concat!(stringify!($first) $(, ", ", stringify!($field))*);
        }

        impl $crate::store::table::Table for $name {
            const TABLE: &'static str = $table;
            const COLUMNS: &'static str = $name::COLUMNS;
            const COLUMN_NAMES: &'static [&'static str] =
                &[stringify!($first) $(, stringify!($field))*];
        }
    };
}

/// The columns a write sets, each beside the value it gets, so names and values cannot
/// fall out of step. Declares a constant with the column names and a function with the
/// values, in the same order:
///
/// ```text
/// salesos_platform::columns! {
///     /// What an update of a widget writes.
///     pub(crate) fn widget_values(w: &Widget) -> WIDGET_COLUMNS {
///         name: w.name.clone(),
///         size: w.size,
///     }
/// }
/// ```
#[macro_export]
macro_rules! columns {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident($arg:ident : $arg_ty:ty) -> $names:ident {
            $($column:ident : $value:expr),+ $(,)?
        }
    ) => {
        /// The columns, in the order of the values of the function of the same declaration.
        $vis const $names: &[&str] = &[$(stringify!($column)),+];

        $(#[$meta])*
        $vis fn $name($arg: $arg_ty) -> Vec<sea_orm::Value> {
            vec![$(sea_orm::Value::from($value)),+]
        }
    };
}

#[cfg(test)]
mod tests {
    use super::Table;
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    crate::table! {
        /// A row for the test.
        #[derive(Clone, Debug)]
        #[allow(dead_code)]
        pub struct WidgetRow in "widgets" {
            pub id: Uuid,
            /// A documented field.
            pub name: Option<String>,
            pub created_at: DateTime<Utc>,
        }
    }

    struct Widget {
        name: &'static str,
        size: i32,
    }

    crate::columns! {
        fn widget_values(w: &Widget) -> WIDGET_COLUMNS {
            name: w.name,
            size: w.size,
        }
    }

    #[test]
    fn a_declaration_gives_the_column_lists_in_field_order() {
        assert_eq!(WidgetRow::TABLE, "widgets");
        assert_eq!(WidgetRow::COLUMNS, "id, name, created_at");
        assert_eq!(
            <WidgetRow as Table>::COLUMN_NAMES,
            &["id", "name", "created_at"]
        );
        let values = widget_values(&Widget { name: "w", size: 3 });
        assert_eq!(WIDGET_COLUMNS, &["name", "size"]);
        assert_eq!(values.len(), WIDGET_COLUMNS.len());
        assert_eq!(values[1], sea_orm::Value::from(3));
    }
}
