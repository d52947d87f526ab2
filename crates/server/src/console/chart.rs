//! Charts drawn on the server as SVG: no script, no external service, and the pages' CSP (no
//! inline styles) holds, since every size is an SVG attribute. Geometry is computed apart from
//! the markup so it can be tested; the markup is maud, so labels (product names are typed by
//! people) are escaped. Each chart is an image with a title and a description for screen
//! readers, and each bar has its own title (its tooltip); the pages show the figures in a table
//! as well.

use chrono::NaiveDate;
use maud::{Markup, html};

use super::page::tokens;
use super::words::reports as w;

/// Width of every chart's coordinate space; the stylesheet scales it to the page.
const WIDTH: f64 = 720.0;
/// Height of the column and line charts.
const HEIGHT: f64 = 220.0;
/// Room for the value axis's labels on the left, and for the day labels at the bottom.
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 26.0;
/// Share of a day's slot its bar fills.
const BAR_FILL: f64 = 0.8;
/// Horizontal bars: the label column, the room for the value after the bar, and each row.
const LABEL_WIDTH: f64 = 190.0;
const VALUE_WIDTH: f64 = 90.0;
const ROW: f64 = 28.0;
const ROW_BAR: f64 = 18.0;
/// Longest label drawn in full beside a horizontal bar; the rest is in its tooltip.
const LABEL_CHARS: usize = 18;

/// A rectangle in the chart's coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// The top of a value axis: the smallest 1, 2 or 5 × 10ⁿ at or above `max` (1 for nothing), so
/// the axis reads as a round number.
pub fn nice_ceiling(max: u64) -> u64 {
    let mut unit = 1u64;
    loop {
        for step in [1, 2, 5] {
            match unit.checked_mul(step) {
                Some(top) if top >= max => return top,
                Some(_) => {}
                None => return max,
            }
        }
        match unit.checked_mul(10) {
            Some(u) => unit = u,
            None => return max,
        }
    }
}

/// Height in the plot of `value` on an axis up to `scale`.
fn height(value: u64, scale: u64, plot: f64) -> f64 {
    if scale == 0 {
        return 0.0;
    }
    plot * (value.min(scale) as f64 / scale as f64)
}

/// A number for an SVG attribute: two decimals at most, no trailing zeros.
fn n(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// The bars of a column chart with one slot per day of the range: (slot, rectangle) for each day
/// with a value, heights proportional to the values on an axis up to `scale`.
pub fn day_bars(values: &[u64], scale: u64) -> Vec<(usize, Rect)> {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / values.len().max(1) as f64;
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0)
        .map(|(i, v)| {
            let h = height(*v, scale, plot_h);
            let w = (slot * BAR_FILL).max(1.0);
            (
                i,
                Rect {
                    x: LEFT + slot * i as f64 + (slot - w) / 2.0,
                    y: TOP + plot_h - h,
                    w,
                    h,
                },
            )
        })
        .collect()
}

/// The bars of a horizontal bar chart, one row per value, lengths proportional to the values on
/// an axis up to `scale`.
pub fn row_bars(values: &[u64], scale: u64) -> Vec<Rect> {
    let plot_w = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| Rect {
            x: LABEL_WIDTH,
            y: TOP + ROW * i as f64 + (ROW - ROW_BAR) / 2.0,
            w: height(*v, scale, plot_w),
            h: ROW_BAR,
        })
        .collect()
}

/// The points of a line over `span` days (x: days from the start), on an axis up to `scale`.
pub fn line_points(points: &[(f64, u64)], span: f64, scale: u64) -> Vec<(f64, f64)> {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let span = if span > 0.0 { span } else { 1.0 };
    points
        .iter()
        .map(|(x, y)| {
            (
                LEFT + plot_w * (x.clamp(0.0, span) / span),
                TOP + plot_h - height(*y, scale, plot_h),
            )
        })
        .collect()
}

/// The frame every chart shares: the image role, its title and description, then its marks.
fn frame(id: &str, title: &str, desc: &str, height: f64, marks: Markup) -> Markup {
    html! {
        figure.chart {
            figcaption aria-hidden="true" { (title) }
            svg.chart id=(id) viewBox=(format!("0 0 {} {}", n(WIDTH), n(height))) role="img"
                aria-labelledby=(format!("{id}-title {id}-desc")) {
                title id=(format!("{id}-title")) { (title) }
                desc id=(format!("{id}-desc")) { (desc) }
                (marks)
            }
        }
    }
}

/// What an empty chart says, in its middle.
fn empty_marks(message: &str, height: f64) -> Markup {
    html! {
        text.empty x=(n(WIDTH / 2.0)) y=(n(height / 2.0)) text-anchor="middle" { (message) }
    }
}

/// The value axis of the column and line charts: the baseline, the top line and their labels.
fn value_axis(scale: u64) -> Markup {
    let base = HEIGHT - BOTTOM;
    html! {
        line.axis x1=(n(LEFT)) y1=(n(TOP)) x2=(n(WIDTH - RIGHT)) y2=(n(TOP)) {}
        line.axis x1=(n(LEFT)) y1=(n(base)) x2=(n(WIDTH - RIGHT)) y2=(n(base)) {}
        text x=(n(LEFT - 6.0)) y=(n(TOP + 4.0)) text-anchor="end" { (tokens(scale)) }
        text x=(n(LEFT - 6.0)) y=(n(base + 4.0)) text-anchor="end" { "0" }
    }
}

/// Labels under the plot: the first at the left edge, the last at the right.
fn x_labels(first: &str, last: &str) -> Markup {
    let y = HEIGHT - 8.0;
    html! {
        text x=(n(LEFT)) y=(n(y)) text-anchor="start" { (first) }
        text x=(n(WIDTH - RIGHT)) y=(n(y)) text-anchor="end" { (last) }
    }
}

/// Tokens per day over a range, one column per day with use (`days` holds every day of the
/// range, in order).
pub fn tokens_per_day(id: &str, title: &str, days: &[(NaiveDate, u64)]) -> Markup {
    let total: u64 = days.iter().map(|(_, t)| t).sum();
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return frame(
            id,
            title,
            w::CHART_NO_USE,
            HEIGHT,
            empty_marks(w::CHART_NO_USE, HEIGHT),
        );
    };
    let labels = x_labels(&first.0.to_string(), &last.0.to_string());
    if total == 0 {
        let marks = html! { (labels) (empty_marks(w::CHART_NO_USE, HEIGHT)) };
        return frame(id, title, w::CHART_NO_USE, HEIGHT, marks);
    }
    let values: Vec<u64> = days.iter().map(|(_, t)| *t).collect();
    let scale = nice_ceiling(values.iter().copied().max().unwrap_or(0));
    let bars = day_bars(&values, scale);
    let desc = w::chart_days_desc(total, bars.len(), first.0, last.0);
    let marks = html! {
        (value_axis(scale))
        (labels)
        @for (i, r) in &bars {
            rect.bar x=(n(r.x)) y=(n(r.y)) width=(n(r.w)) height=(n(r.h)) data-day=(days[*i].0.to_string()) {
                title { (w::chart_day_tokens(days[*i].0, days[*i].1)) }
            }
        }
    };
    frame(id, title, &desc, HEIGHT, marks)
}

/// Horizontal bars, one row per (label, value), with the value after each bar.
pub fn bars_by_row(id: &str, title: &str, rows: &[(String, u64)], empty: &str) -> Markup {
    if rows.iter().all(|(_, v)| *v == 0) {
        let h = TOP * 2.0 + ROW * 2.0;
        return frame(id, title, empty, h, empty_marks(empty, h));
    }
    let values: Vec<u64> = rows.iter().map(|(_, v)| *v).collect();
    let scale = values.iter().copied().max().unwrap_or(0);
    let rects = row_bars(&values, scale);
    let h = TOP * 2.0 + ROW * rows.len() as f64;
    let desc = rows
        .iter()
        .map(|(l, v)| format!("{l}: {}", tokens(*v)))
        .collect::<Vec<_>>()
        .join("; ");
    let marks = html! {
        @for ((label, value), r) in rows.iter().zip(&rects) {
            @let mid = r.y + r.h / 2.0 + 4.0;
            g.row {
                title { (label) ": " (w::n_tokens(*value)) }
                text x=(n(LABEL_WIDTH - 8.0)) y=(n(mid)) text-anchor="end" { (short(label)) }
                rect.bar x=(n(r.x)) y=(n(r.y)) width=(n(r.w)) height=(n(r.h)) {}
                text.value x=(n(r.x + r.w + 6.0)) y=(n(mid)) { (tokens(*value)) }
            }
        }
    };
    frame(id, title, &desc, h, marks)
}

/// A label cut to fit beside a bar.
fn short(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        return label.to_owned();
    }
    let mut s: String = label.chars().take(LABEL_CHARS - 1).collect();
    s.push('…');
    s
}

/// A quantity over time as a line with the area under it: `points` are (days from the start,
/// value), in order; the axis runs from `start` to `end` (labels).
pub fn line_over_days(
    id: &str,
    title: &str,
    desc: &str,
    points: &[(f64, u64)],
    (start, end): (&str, &str),
    empty: &str,
) -> Markup {
    let span = points.iter().map(|(x, _)| *x).fold(0.0, f64::max);
    let top = points.iter().map(|(_, y)| *y).max().unwrap_or(0);
    if points.len() < 2 || span <= 0.0 || top == 0 {
        return frame(id, title, empty, HEIGHT, empty_marks(empty, HEIGHT));
    }
    let scale = nice_ceiling(top);
    let xy = line_points(points, span, scale);
    let path = xy
        .iter()
        .enumerate()
        .map(|(i, (x, y))| format!("{}{},{}", if i == 0 { "M" } else { "L" }, n(*x), n(*y)))
        .collect::<Vec<_>>()
        .join(" ");
    let base = n(HEIGHT - BOTTOM);
    let area = match (xy.first(), xy.last()) {
        (Some(f), Some(l)) => format!("{path} L{},{base} L{},{base} Z", n(l.0), n(f.0)),
        _ => String::new(),
    };
    let marks = html! {
        (value_axis(scale))
        (x_labels(start, end))
        path.area d=(area) {}
        path.line d=(path) {}
    };
    frame(id, title, desc, HEIGHT, marks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_axis_tops_at_a_round_number() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(10), 10);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(150), 200);
        assert_eq!(nice_ceiling(4_321), 5_000);
        assert_eq!(nice_ceiling(u64::MAX), u64::MAX, "no overflow");
    }

    #[test]
    fn day_bars_are_proportional_and_only_for_days_with_use() {
        let bars = day_bars(&[10, 0, 20, 5], 20);
        assert_eq!(
            bars.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 2, 3],
            "no bar for a day without use"
        );
        let (h10, h20, h5) = (bars[0].1.h, bars[1].1.h, bars[2].1.h);
        assert!((h20 - 2.0 * h10).abs() < 1e-9, "{h10} {h20}");
        assert!((h10 - 2.0 * h5).abs() < 1e-9, "{h10} {h5}");
        assert!(
            (h20 - (HEIGHT - TOP - BOTTOM)).abs() < 1e-9,
            "the top is the scale"
        );
        for (_, r) in &bars {
            assert!(
                (r.y + r.h - (HEIGHT - BOTTOM)).abs() < 1e-9,
                "bars stand on the base"
            );
            assert!(
                r.x >= LEFT && r.x + r.w <= WIDTH - RIGHT,
                "inside the plot: {r:?}"
            );
        }
        assert!(
            bars[0].1.x < bars[1].1.x && bars[1].1.x < bars[2].1.x,
            "in day order"
        );
        // A year of days still gives each bar a visible width.
        let year = day_bars(&[1; 366], 1);
        assert_eq!(year.len(), 366);
        assert!(year.iter().all(|(_, r)| r.w >= 1.0));
    }

    #[test]
    fn row_bars_are_proportional_to_the_largest() {
        let rows = row_bars(&[40, 10, 0], 40);
        assert!((rows[0].w - 4.0 * rows[1].w).abs() < 1e-9);
        assert_eq!(rows[2].w, 0.0);
        assert!((rows[0].x + rows[0].w - (WIDTH - VALUE_WIDTH)).abs() < 1e-9);
        assert!(rows[1].y > rows[0].y, "one row under the other");
        assert_eq!(row_bars(&[0], 0)[0].w, 0.0, "no division by zero");
    }

    #[test]
    fn line_points_span_the_plot() {
        let xy = line_points(&[(0.0, 100), (50.0, 50), (100.0, 0)], 100.0, 100);
        assert_eq!(xy[0], (LEFT, TOP));
        assert_eq!(xy[2], (WIDTH - RIGHT, HEIGHT - BOTTOM));
        assert!((xy[1].1 - (TOP + (HEIGHT - TOP - BOTTOM) / 2.0)).abs() < 1e-9);
    }

    #[test]
    fn a_range_without_use_draws_an_empty_chart_with_a_message() {
        let days = [(day("2026-01-01"), 0), (day("2026-01-02"), 0)];
        let svg = tokens_per_day("c", "Tokens per day", &days).into_string();
        assert!(!svg.contains("class=\"bar\""), "{svg}");
        assert!(svg.contains(w::CHART_NO_USE), "{svg}");
        let none = tokens_per_day("c", "Tokens per day", &[]).into_string();
        assert!(none.contains(w::CHART_NO_USE));
        let rows = bars_by_row("p", "Tokens per product", &[], "Nothing").into_string();
        assert!(rows.contains("Nothing") && !rows.contains("<rect"));
        let flat = line_over_days("b", "t", "d", &[(0.0, 0)], ("a", "b"), "Nothing");
        assert!(flat.into_string().contains("Nothing"));
    }

    #[test]
    fn charts_are_labelled_images() {
        let days = [
            (day("2026-01-01"), 70),
            (day("2026-01-02"), 0),
            (day("2026-01-03"), 35),
        ];
        let svg = tokens_per_day("per-day", "Tokens per day", &days).into_string();
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-labelledby=\"per-day-title per-day-desc\""));
        assert!(svg.contains("<title id=\"per-day-title\">Tokens per day</title>"));
        assert_eq!(svg.matches("class=\"bar\"").count(), 2, "{svg}");
        assert!(
            svg.contains("2026-01-03: 35 tokens"),
            "each bar has its tooltip: {svg}"
        );
    }

    #[test]
    fn labels_are_escaped() {
        let rows = [("<script>alert(1)</script> & Co".to_owned(), 5)];
        let svg = bars_by_row("p", "A \"title\"", &rows, "none").into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(svg.contains("&amp; Co"), "{svg}");
        assert!(svg.contains("A &quot;title&quot;") || svg.contains("A \"title\""));
    }

    #[test]
    fn long_labels_are_cut_with_the_whole_in_the_tooltip() {
        let long = "A product with a very long name indeed".to_owned();
        let svg = bars_by_row("p", "t", &[(long.clone(), 1)], "none").into_string();
        assert!(
            svg.contains(&format!("<title>{long}: 1 token</title>")),
            "{svg}"
        );
        assert!(svg.contains(&short(&long)) && short(&long).ends_with('…'));
        assert_eq!(short(&long).chars().count(), LABEL_CHARS);
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(n(12.0), "12");
        assert_eq!(n(12.5), "12.5");
        assert_eq!(n(1.0 / 3.0), "0.33");
        assert_eq!(n(-0.0), "0");
    }
}
