//! The dashboard's view of a step's variants, holdout and outcomes: what
//! `cadenced report` prints under a cadence's table, drawn as inline SVG.
//! Per variant a bar of its reply rate with its 95% interval as whiskers,
//! the comparison's verdict, the holdout's lift with its interval, and the
//! outcomes. Every figure comes from the [`StepReport`] the report builds
//! (the same tallies); each bar carries a `<title>` with the exact numbers
//! (two decimals of a percentage: the report's four of a rate), so that a
//! screen reader, and a test, can read them.

use chrono_tz::Tz;
use serde::Serialize;

use crate::core::report::{Lift, StepReport, VariantReport};
use crate::core::stats::{Comparison, NOT_YET};
use crate::time::{Human, parse_instant};

/// Where the bars start and how wide the scale is (the funnel's columns).
const BAR_X: f64 = 140.0;
const BAR_W: f64 = 300.0;
/// One variant's row.
const ROW: u32 = 36;
/// The axis under the bars.
const AXIS: u32 = 22;

#[derive(Debug, Serialize)]
pub(super) struct VariantView {
    id: String,
    reached: u64,
    replied: u64,
    rate: String,
    lo: String,
    hi: String,
    /// Everything the row shows, in words.
    title: String,
    /// Of the whisker alone.
    whisker_title: String,
    winner: bool,
    y: u32,
    bar_w: f64,
    x_lo: f64,
    x_hi: f64,
    x_rate: f64,
    meetings: u64,
    won: u64,
    lost: u64,
    value: String,
}

#[derive(Debug, Serialize)]
pub(super) struct Verdict {
    /// `winner` or `not-yet`.
    class: &'static str,
    text: String,
    /// With `pick_winner`: since when new leads get only the winner (RFC 3339).
    since: Option<String>,
    since_text: Option<String>,
    /// The difference between the two best, in words.
    difference: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct LiftView {
    /// `None`: nobody got the step or was held out yet.
    value: Option<String>,
    lo: Option<String>,
    hi: Option<String>,
    significant: bool,
    title: String,
    x_zero: f64,
    x_value: f64,
    x_lo: f64,
    x_hi: f64,
    /// The scale's ends, in points.
    scale: String,
    reached: u64,
    replied: u64,
    held_out: u64,
    held_out_replied: u64,
}

#[derive(Debug, Serialize)]
pub(super) struct Outcomes {
    meetings: u64,
    won: u64,
    lost: u64,
    value: String,
}

/// One step's variants, verdict, lift and outcomes.
#[derive(Debug, Serialize)]
pub(super) struct ExperimentView {
    step: String,
    variants: Vec<VariantView>,
    height: u32,
    axis_y: u32,
    /// The scale's end, as a percentage.
    scale: String,
    bar_x: f64,
    bar_end: f64,
    verdict: Option<Verdict>,
    lift: Option<LiftView>,
    outcomes: Option<Outcomes>,
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// A rate as exactly as the report has it (four decimals of a rate).
fn pct_exact(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// A difference of rates in percentage points, signed.
fn points(x: f64) -> String {
    format!("{:+.1}", x * 100.0)
}

fn points_exact(x: f64) -> String {
    format!("{:+.2}", x * 100.0)
}

fn money(x: f64) -> String {
    format!("{x}")
}

/// One decimal of a pixel.
fn px(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The end of a rate scale: the next 5% above `max`, within (0, 1].
fn scale_end(max: f64) -> f64 {
    ((max * 20.0).ceil() / 20.0).clamp(0.05, 1.0)
}

/// The views of the steps of `steps` that have variants, a holdout or outcomes.
pub(super) fn views(steps: &[StepReport], tz: Tz) -> Vec<ExperimentView> {
    steps
        .iter()
        .filter(|s| !s.variants.is_empty() || s.lift.is_some() || s.meetings + s.won + s.lost > 0)
        .map(|s| view(s, tz))
        .collect()
}

fn view(s: &StepReport, tz: Tz) -> ExperimentView {
    let max = scale_end(s.variants.iter().map(|v| v.reply_interval[1]).fold(0.0, f64::max));
    let x = |r: f64| px(BAR_X + (r / max).clamp(0.0, 1.0) * BAR_W);
    let winner = s.comparison.as_ref().map(|c| c.winner.as_str()).filter(|w| *w != NOT_YET);
    let variants: Vec<VariantView> = s
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| variant_view(v, u32::try_from(i).unwrap_or(u32::MAX).saturating_mul(ROW), winner, &x))
        .collect();
    let rows = u32::try_from(variants.len()).unwrap_or(u32::MAX).saturating_mul(ROW);
    ExperimentView {
        step: s.step.clone(),
        height: if variants.is_empty() { 0 } else { rows + AXIS },
        axis_y: rows + 4,
        scale: pct(max),
        bar_x: BAR_X,
        bar_end: BAR_X + BAR_W,
        variants,
        verdict: s.comparison.as_ref().map(|c| verdict(c, s.winner_since.as_deref(), tz)),
        lift: s.lift.as_ref().map(lift_view),
        outcomes: (s.meetings + s.won + s.lost > 0).then(|| Outcomes {
            meetings: s.meetings,
            won: s.won,
            lost: s.lost,
            value: money(s.value),
        }),
    }
}

fn variant_view(v: &VariantReport, y: u32, winner: Option<&str>, x: &impl Fn(f64) -> f64) -> VariantView {
    let [lo, hi] = v.reply_interval;
    let whisker_title = format!("95% interval {} to {}", pct_exact(lo), pct_exact(hi));
    let title = format!(
        "variant {}: {} of {} replied, reply rate {}, {whisker_title}; {} meetings, {} won, {} lost, value {}",
        v.id,
        v.replied,
        v.reached,
        pct_exact(v.reply_rate),
        v.meetings,
        v.won,
        v.lost,
        money(v.value)
    );
    VariantView {
        id: v.id.clone(),
        reached: v.reached,
        replied: v.replied,
        rate: pct(v.reply_rate),
        lo: pct(lo),
        hi: pct(hi),
        title,
        whisker_title,
        winner: winner == Some(v.id.as_str()),
        y,
        bar_w: px(x(v.reply_rate) - BAR_X),
        x_lo: x(lo),
        x_hi: x(hi),
        x_rate: x(v.reply_rate),
        meetings: v.meetings,
        won: v.won,
        lost: v.lost,
        value: money(v.value),
    }
}

fn verdict(c: &Comparison, since: Option<&str>, tz: Tz) -> Verdict {
    let difference = match (c.difference, c.interval, &c.leading, &c.runner_up) {
        (Some(d), Some([lo, hi]), Some(a), Some(b)) => {
            Some(format!("{a} minus {b}: {} points, 95% interval {} to {}", points(d), points(lo), points(hi)))
        }
        _ => None,
    };
    let since_text = since.and_then(|t| parse_instant(t).ok()).map(|t| Human(t, tz).to_string());
    if c.winner == NOT_YET {
        let more = c
            .leads_needed
            .map_or_else(|| "no difference to extrapolate yet".to_string(), |n| format!("about {n} more leads"));
        let why = c.why.as_deref().map(|w| format!(" ({w})")).unwrap_or_default();
        return Verdict {
            class: "not-yet",
            text: format!("not yet: {more}{why}"),
            since: None,
            since_text,
            difference,
        };
    }
    let text = match &since_text {
        Some(t) => format!("winner: {} since {t}; new leads get only it", c.winner),
        None => format!("winner: {}", c.winner),
    };
    Verdict { class: "winner", text, since: since.map(str::to_string), since_text, difference }
}

fn lift_view(l: &Lift) -> LiftView {
    let (lo, hi) = l.interval.map_or((0.0, 0.0), |[lo, hi]| (lo, hi));
    // Symmetric around zero, to the next 5 points past the interval's farther end.
    let end = ((lo.abs().max(hi.abs()) * 20.0).ceil() / 20.0).clamp(0.05, 1.0);
    let zero = BAR_X + BAR_W / 2.0;
    let x = |d: f64| px(zero + (d / end).clamp(-1.0, 1.0) * BAR_W / 2.0);
    let counts = format!(
        "{} of {} who got the step replied before the next, {} of {} held out",
        l.replied, l.reached, l.held_out_replied, l.held_out
    );
    let title = match (l.value, l.interval) {
        (Some(v), Some([lo, hi])) => format!(
            "lift over the holdout: {} points, 95% interval {} to {} points; {counts}",
            points_exact(v),
            points_exact(lo),
            points_exact(hi)
        ),
        _ => format!("lift over the holdout: not yet; {counts}"),
    };
    LiftView {
        value: l.value.map(points),
        lo: l.interval.map(|[lo, _]| points(lo)),
        hi: l.interval.map(|[_, hi]| points(hi)),
        significant: l.significant,
        title,
        x_zero: px(zero),
        x_value: x(l.value.unwrap_or(0.0)),
        x_lo: x(lo),
        x_hi: x(hi),
        scale: format!("{:.0}", end * 100.0),
        reached: l.reached,
        replied: l.replied,
        held_out: l.held_out,
        held_out_replied: l.held_out_replied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(id: &str, reached: u64, replied: u64, interval: [f64; 2]) -> VariantReport {
        VariantReport {
            id: id.into(),
            reached,
            replied,
            reply_rate: crate::core::report::rate(replied, reached),
            reply_interval: interval,
            meetings: 1,
            won: 0,
            lost: 0,
            value: 12.5,
        }
    }

    #[test]
    fn bars_and_whiskers_share_one_scale_and_titles_carry_the_exact_numbers() {
        let v = variant("a", 8, 2, [0.0715, 0.5907]);
        let x = |r: f64| px(BAR_X + r / 0.6 * BAR_W);
        let view = variant_view(&v, 30, Some("a"), &x);
        assert_eq!((view.x_lo, view.x_rate, view.x_hi), (175.8, 265.0, 435.4));
        assert_eq!(view.bar_w, 125.0);
        assert!(view.winner);
        assert_eq!(view.whisker_title, "95% interval 7.15% to 59.07%");
        assert_eq!(
            view.title,
            "variant a: 2 of 8 replied, reply rate 25.00%, 95% interval 7.15% to 59.07%; \
             1 meetings, 0 won, 0 lost, value 12.5"
        );
        assert_eq!((view.lo.as_str(), view.rate.as_str(), view.hi.as_str()), ("7.1%", "25.0%", "59.1%"));
    }

    #[test]
    fn the_scale_ends_at_the_next_five_percent() {
        assert_eq!(scale_end(0.5907), 0.6);
        assert_eq!(scale_end(0.0), 0.05);
        assert_eq!(scale_end(1.0), 1.0);
        assert_eq!(scale_end(0.6), 0.6);
    }

    #[test]
    fn verdicts_say_not_yet_with_the_leads_needed_or_name_the_winner_and_since_when() {
        let mut c = crate::core::stats::compare(
            &[
                crate::core::stats::Arm { id: "a".into(), reached: 8, replied: 2 },
                crate::core::stats::Arm { id: "b".into(), reached: 8, replied: 1 },
            ],
            100,
        );
        let tz = chrono_tz::Europe::Berlin;
        let not_yet = verdict(&c, None, tz);
        let n = c.leads_needed.unwrap();
        assert_eq!(not_yet.class, "not-yet");
        assert!(not_yet.text.starts_with(&format!("not yet: about {n} more leads (")), "{}", not_yet.text);
        assert!(not_yet.difference.unwrap().starts_with("a minus b: +12.5 points, 95% interval -"));
        c.winner = "b".into();
        let won = verdict(&c, Some("2026-03-02T11:00:00Z"), tz);
        assert_eq!(won.class, "winner");
        assert_eq!(won.text, "winner: b since Mon 2026-03-02 12:00 CET (11:00 UTC); new leads get only it");
        assert_eq!(won.since.as_deref(), Some("2026-03-02T11:00:00Z"));
    }

    #[test]
    fn a_lift_is_drawn_around_zero() {
        let l = Lift {
            value: Some(0.0909),
            interval: Some([-0.2621, 0.377]),
            held_out: 5,
            held_out_replied: 0,
            reached: 11,
            replied: 1,
            reply_rate: 0.0909,
            held_out_reply_rate: 0.0,
            significant: false,
        };
        let v = lift_view(&l);
        assert_eq!(v.scale, "40");
        assert_eq!((v.x_lo, v.x_zero, v.x_value, v.x_hi), (191.7, 290.0, 324.1, 431.4));
        assert_eq!(v.value.as_deref(), Some("+9.1"));
        assert!(v.title.starts_with("lift over the holdout: +9.09 points, 95% interval -26.21 to +37.70 points; "));
    }
}
