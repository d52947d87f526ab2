//! `jeton products …`: the catalogue (R-CAT-1..3).

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use jeton_api::{Item, NewProduct, Product, ProductChange, ProductDetail};

use super::Ctx;
use super::output::{self, blocks, fields, table};

#[derive(Debug, Subcommand)]
pub enum ProductsCmd {
    /// Add a product to the catalogue (operator)
    Add(AddArgs),
    /// List the products in the catalogue
    List,
    /// Show one product with its items and rate history
    Show {
        /// The product's key
        #[arg(id = "product_key", value_name = "KEY")]
        key: String,
    },
    /// Change a product; only the options given change (operator)
    Update(UpdateArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// A stable key for the product, e.g. autocad
    #[arg(id = "product_key", value_name = "KEY")]
    pub key: String,
    /// The product's name, e.g. AutoCAD
    #[arg(long)]
    pub name: String,
    /// Tokens per 24-hour usage period (0 is allowed)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub daily_rate: i64,
    /// Tokens per reported result of a type, e.g. render.cloud=5 (repeat for more types)
    #[arg(long = "result-rate", value_name = "TYPE=N", value_parser = parse_result_rate)]
    pub result_rates: Vec<(String, i64)>,
    /// The product pauses idle sessions (no new usage period while idle)
    #[arg(long)]
    pub idle_aware: bool,
    /// A downloadable item, e.g. 2027,windows,https://example.com/a.exe (repeat for more)
    #[arg(long = "item", value_name = "VERSION,PLATFORM,URL", value_parser = parse_item)]
    pub items: Vec<Item>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The product's key
    #[arg(id = "product_key", value_name = "KEY")]
    pub key: String,
    /// A new name
    #[arg(long)]
    pub name: Option<String>,
    /// A new daily rate, for charges from now on
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub daily_rate: Option<i64>,
    /// Replace all result rates with these (repeat for more types)
    #[arg(long = "result-rate", value_name = "TYPE=N", value_parser = parse_result_rate)]
    pub result_rates: Vec<(String, i64)>,
    /// Remove all result rates
    #[arg(long, conflicts_with = "result_rates")]
    pub no_result_rates: bool,
    /// Whether the product pauses idle sessions
    #[arg(long, value_name = "true|false")]
    pub idle_aware: Option<bool>,
    /// Replace all downloadable items with these (repeat for more)
    #[arg(long = "item", value_name = "VERSION,PLATFORM,URL", value_parser = parse_item)]
    pub items: Vec<Item>,
    /// Remove all downloadable items
    #[arg(long, conflicts_with = "items")]
    pub no_items: bool,
}

pub async fn run(cmd: ProductsCmd, ctx: &Ctx) -> Result<()> {
    match cmd {
        ProductsCmd::Add(args) => {
            let new = NewProduct {
                key: args.key,
                name: args.name,
                daily_rate: args.daily_rate,
                result_rates: rate_map(args.result_rates)?,
                idle_awareness: args.idle_aware,
                items: args.items,
            };
            let product = ctx.client.create_product(&new).await?;
            ctx.out.print(&product, |p| {
                blocks([format!("Added product {}.", p.key), describe(p)])
            })
        }
        ProductsCmd::List => {
            let products = ctx.client.list_products().await?;
            ctx.out.print(&products, |list| list_table(list))
        }
        ProductsCmd::Show { key } => {
            let detail = ctx.client.product(&key).await?;
            ctx.out.print(&detail, show)
        }
        ProductsCmd::Update(args) => {
            let change = change_from(&args)?;
            let product = ctx.client.update_product(&args.key, &change).await?;
            ctx.out.print(&product, |p| {
                blocks([format!("Updated product {}.", p.key), describe(p)])
            })
        }
    }
}

fn change_from(args: &UpdateArgs) -> Result<ProductChange> {
    let change = ProductChange {
        name: args.name.clone(),
        daily_rate: args.daily_rate,
        result_rates: if args.no_result_rates {
            Some(BTreeMap::new())
        } else if args.result_rates.is_empty() {
            None
        } else {
            Some(rate_map(args.result_rates.clone())?)
        },
        idle_awareness: args.idle_aware,
        items: if args.no_items {
            Some(Vec::new())
        } else if args.items.is_empty() {
            None
        } else {
            Some(args.items.clone())
        },
    };
    if change == ProductChange::default() {
        bail!(
            "nothing to change: give at least one of --name, --daily-rate, --result-rate, \
             --no-result-rates, --idle-aware, --item, --no-items"
        );
    }
    Ok(change)
}

/// `TYPE=N`, e.g. `render.cloud=5`.
pub fn parse_result_rate(s: &str) -> Result<(String, i64), String> {
    const FORM: &str =
        "expected TYPE=N, a result type and its whole-token rate, e.g. render.cloud=5";
    let Some((kind, rate)) = s.split_once('=') else {
        return Err(FORM.into());
    };
    let kind = kind.trim();
    if kind.is_empty() {
        return Err(format!("the result type is missing; {FORM}"));
    }
    let rate = rate
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("{:?} is not a whole number of tokens; {FORM}", rate.trim()))?;
    Ok((kind.to_string(), rate))
}

/// `VERSION,PLATFORM,URL`; the URL may itself hold commas.
pub fn parse_item(s: &str) -> Result<Item, String> {
    const FORM: &str =
        "expected VERSION,PLATFORM,URL, e.g. 2027,windows,https://downloads.example.com/a.exe";
    let parts: Vec<&str> = s.splitn(3, ',').map(str::trim).collect();
    match parts[..] {
        [version, platform, url]
            if !version.is_empty() && !platform.is_empty() && !url.is_empty() =>
        {
            Ok(Item {
                version: version.into(),
                platform: platform.into(),
                url: url.into(),
            })
        }
        _ => Err(FORM.into()),
    }
}

fn rate_map(rates: Vec<(String, i64)>) -> Result<BTreeMap<String, i64>> {
    let mut map = BTreeMap::new();
    for (kind, rate) in rates {
        if map.insert(kind.clone(), rate).is_some() {
            bail!("--result-rate {kind}=… is given twice; give each result type once");
        }
    }
    Ok(map)
}

fn list_table(products: &[Product]) -> String {
    if products.is_empty() {
        return "No products yet: add one with `jeton products add`.".into();
    }
    let mut t = table(
        &[
            "key",
            "name",
            "daily rate",
            "result rates",
            "idle aware",
            "items",
            "added",
        ],
        &[2, 5],
    );
    for p in products {
        t.add_row(vec![
            p.key.clone(),
            p.name.clone(),
            p.daily_rate.to_string(),
            output::rates(&p.result_rates),
            output::yes_no(p.idle_awareness).into(),
            p.items.len().to_string(),
            output::date(&p.added_at),
        ]);
    }
    t.to_string()
}

/// A product's fields and its items.
fn describe(p: &Product) -> String {
    let summary = fields(&[
        ("key", p.key.clone()),
        ("name", p.name.clone()),
        ("daily rate", output::tokens(p.daily_rate)),
        ("result rates", output::rates(&p.result_rates)),
        ("idle aware", output::yes_no(p.idle_awareness).into()),
        ("added", output::time(&p.added_at)),
        ("updated", output::time(&p.updated_at)),
    ]);
    let items = if p.items.is_empty() {
        "No downloadable items.".to_string()
    } else {
        let mut t = table(&["version", "platform", "url"], &[]);
        for item in &p.items {
            t.add_row(vec![
                item.version.clone(),
                item.platform.clone(),
                item.url.clone(),
            ]);
        }
        t.to_string()
    };
    blocks([summary, items])
}

fn show(detail: &ProductDetail) -> String {
    let mut history = table(&["from", "daily rate", "result rates", "by"], &[1]);
    for change in &detail.rate_history {
        history.add_row(vec![
            output::time(&change.at),
            change.daily_rate.to_string(),
            output::rates(&change.result_rates),
            change.actor.clone(),
        ]);
    }
    blocks([
        describe(&detail.product),
        format!("Rate history:\n{history}"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_rates_read_type_equals_tokens() {
        assert_eq!(
            parse_result_rate("render.cloud=5"),
            Ok(("render.cloud".into(), 5))
        );
        assert_eq!(parse_result_rate(" export = 0 "), Ok(("export".into(), 0)));
        for bad in ["foo", "=5", "render=", "render=five", "render=1.5"] {
            let err = parse_result_rate(bad).unwrap_err();
            assert!(err.contains("TYPE=N"), "{bad}: {err}");
        }
    }

    #[test]
    fn items_need_version_platform_and_url() {
        assert_eq!(
            parse_item("2027,windows,https://x.example/a,b.exe"),
            Ok(Item {
                version: "2027".into(),
                platform: "windows".into(),
                url: "https://x.example/a,b.exe".into(),
            }),
            "the URL keeps its commas"
        );
        for bad in [
            "a,b",
            "a",
            ",windows,https://x",
            "2027,,https://x",
            "2027,windows,",
        ] {
            let err = parse_item(bad).unwrap_err();
            assert!(err.contains("VERSION,PLATFORM,URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_result_type_given_twice_is_refused() {
        let err = rate_map(vec![("a".into(), 1), ("a".into(), 2)]).unwrap_err();
        assert!(err.to_string().contains("twice"));
    }

    fn update(extra: &[&str]) -> Result<ProductChange> {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            args: UpdateArgs,
        }
        let mut argv = vec!["t", "autocad"];
        argv.extend_from_slice(extra);
        let args = T::try_parse_from(argv).unwrap().args;
        change_from(&args)
    }

    #[test]
    fn updates_send_only_what_is_given() {
        let change = update(&["--daily-rate", "9"]).unwrap();
        assert_eq!(
            change,
            ProductChange {
                daily_rate: Some(9),
                ..ProductChange::default()
            }
        );
        let change = update(&["--no-items", "--idle-aware", "false"]).unwrap();
        assert_eq!(change.items, Some(vec![]));
        assert_eq!(change.idle_awareness, Some(false));
        assert_eq!(change.result_rates, None);
        let err = update(&[]).unwrap_err().to_string();
        assert!(err.contains("nothing to change"), "{err}");
    }
}
