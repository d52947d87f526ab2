//! R-ACC-1..3: which products a Flex user may open.

use std::collections::BTreeSet;

use crate::product::ProductKey;

/// A user's own selection (R-ACC-1). `All` is stored as "all", not as a list, so that products
/// added to Flex later are included (R-ACC-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductAccess {
    All,
    Selected(BTreeSet<ProductKey>),
}

impl ProductAccess {
    pub fn none() -> ProductAccess {
        ProductAccess::Selected(BTreeSet::new())
    }
}

/// What a Flex user may open: while the team's default assignments are on (a non-empty list) every
/// Flex user gets exactly that set (R-ACC-3); otherwise their own selection. Only products in the
/// catalogue count.
pub fn effective_products(
    selection: &ProductAccess,
    defaults: &BTreeSet<ProductKey>,
    catalogue: &BTreeSet<ProductKey>,
) -> BTreeSet<ProductKey> {
    if !defaults.is_empty() {
        return defaults.intersection(catalogue).cloned().collect();
    }
    match selection {
        ProductAccess::All => catalogue.clone(),
        ProductAccess::Selected(keys) => keys.intersection(catalogue).cloned().collect(),
    }
}

/// Whether a Flex user may open `product`, a product of the catalogue: [`effective_products`]
/// asked about one product, without the rest of the catalogue.
pub fn allows(
    selection: &ProductAccess,
    defaults: &BTreeSet<ProductKey>,
    product: &ProductKey,
) -> bool {
    effective_products(selection, defaults, &BTreeSet::from([product.clone()])).contains(product)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> BTreeSet<ProductKey> {
        k.iter().map(|k| ProductKey::parse(k).unwrap()).collect()
    }

    #[test]
    fn r_acc_1_a_selection_gives_exactly_those_products() {
        let catalogue = keys(&["autocad", "maya", "revit"]);
        let sel = ProductAccess::Selected(keys(&["autocad", "revit"]));
        assert_eq!(
            effective_products(&sel, &keys(&[]), &catalogue),
            keys(&["autocad", "revit"])
        );
        assert!(effective_products(&ProductAccess::none(), &keys(&[]), &catalogue).is_empty());
    }

    #[test]
    fn r_acc_2_all_includes_products_added_later() {
        let mut catalogue = keys(&["autocad"]);
        assert_eq!(
            effective_products(&ProductAccess::All, &keys(&[]), &catalogue),
            keys(&["autocad"])
        );
        catalogue.insert(ProductKey::parse("maya").unwrap());
        assert_eq!(
            effective_products(&ProductAccess::All, &keys(&[]), &catalogue),
            keys(&["autocad", "maya"])
        );
    }

    #[test]
    fn r_acc_3_defaults_replace_selections_while_on() {
        let catalogue = keys(&["autocad", "maya", "revit"]);
        let defaults = keys(&["maya"]);
        for sel in [
            ProductAccess::All,
            ProductAccess::Selected(keys(&["autocad"])),
            ProductAccess::none(),
        ] {
            assert_eq!(
                effective_products(&sel, &defaults, &catalogue),
                keys(&["maya"])
            );
        }
        // Off again (empty list): the user's own selection applies.
        let sel = ProductAccess::Selected(keys(&["autocad"]));
        assert_eq!(
            effective_products(&sel, &keys(&[]), &catalogue),
            keys(&["autocad"])
        );
    }

    #[test]
    fn allows_answers_like_the_effective_set_for_each_product_of_the_catalogue() {
        let catalogue = keys(&["autocad", "maya", "revit"]);
        let selections = [
            ProductAccess::All,
            ProductAccess::none(),
            ProductAccess::Selected(keys(&["maya"])),
        ];
        for defaults in [keys(&[]), keys(&["revit"]), keys(&["autocad", "maya"])] {
            for selection in &selections {
                let effective = effective_products(selection, &defaults, &catalogue);
                for product in &catalogue {
                    assert_eq!(
                        allows(selection, &defaults, product),
                        effective.contains(product),
                        "{selection:?}, defaults {defaults:?}, {product}"
                    );
                }
            }
        }
    }
}
