//! What `tend top` draws from its model, into any ratatui frame (the
//! terminal, or a `TestBackend` in the tests). No I/O.

use super::model::{self, Mode, Model, Pane};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState};
use std::time::Instant;

/// The colour of a state, as everywhere in tend's output.
pub fn state_style(state: &str) -> Style {
    let fg = match state {
        "ready" => Color::Green,
        "starting" | "stopping" => Color::Yellow,
        "backoff" => Color::Magenta,
        "failed" => Color::Red,
        "completed" => Color::Cyan,
        _ => Color::DarkGray,
    };
    Style::default().fg(fg)
}

/// The key help, one key per line.
pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓ j k PgUp PgDn", "select a service"),
    ("s", "start the selected service"),
    ("x", "stop it"),
    ("r", "restart it"),
    ("R", "reload it"),
    ("K", "send it a signal (type the name, Enter)"),
    ("t", "dependency tree / table"),
    ("Tab l e", "logs / events pane"),
    ("/", "filter by name or state (Enter keeps, Esc clears)"),
    ("q Ctrl-C", "quit"),
];

/// The rows the table and the lower pane get, from the frame's height.
fn split(area: Rect, model: &Model) -> [Rect; 4] {
    let body = area.height.saturating_sub(2);
    let rows = model.visible().len() as u16;
    let cap = (body * 3 / 5).max(5);
    let table = (rows + 3).clamp(4, cap).min(body);
    let [header, table, pane, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    [header, table, pane, footer]
}

/// How many service rows the table area shows (for page keys).
pub fn table_rows(area: Rect, model: &Model) -> usize {
    split(area, model)[1].height.saturating_sub(3) as usize
}

pub fn draw(f: &mut Frame, model: &Model, now: Instant) {
    let area = f.area();
    let [header, body, pane, footer] = split(area, model);
    draw_header(f, header, model);
    if model.tree {
        draw_tree(f, body, model);
    } else {
        draw_table(f, body, model, now);
    }
    draw_pane(f, pane, model);
    draw_footer(f, footer, model);
    if model.mode == Mode::Help {
        draw_help(f, area);
    }
}

fn draw_header(f: &mut Frame, area: Rect, model: &Model) {
    let mut spans = vec![
        Span::styled("tend top", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!("  {} services", model.rows.len())),
    ];
    let summary = model.summary();
    if !summary.is_empty() {
        spans.push(Span::raw(format!(": {summary}")));
    }
    if !model.filter.is_empty() {
        spans.push(Span::styled(
            format!("  filter: {}", model.filter),
            Style::default().fg(Color::Cyan),
        ));
    }
    if let Some(why) = &model.disconnected {
        spans.push(Span::styled(
            format!("  disconnected: {why}"),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_table(f: &mut Frame, area: Rect, model: &Model, now: Instant) {
    let wide = area.width >= 110;
    let mut head = vec![
        "NAME", "STATE", "PID", "UPTIME", "RST", "EXIT", "READY", "CPU", "MEM", "PROCS",
    ];
    let mut widths = vec![
        Constraint::Min(8),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(3),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(5),
    ];
    if wide {
        head.push("INFO");
        widths[0] = Constraint::Length(20);
        widths.push(Constraint::Min(10));
    }
    let visible = model.visible();
    let rows: Vec<Row> = visible
        .iter()
        .map(|r| {
            let mut cells = vec![
                Cell::from(r.name.clone()),
                Cell::from(r.state.clone()).style(state_style(&r.state)),
                Cell::from(model::num_cell(r.pid)),
                Cell::from(model::uptime_cell(r.up_since, now)),
                Cell::from(r.restarts.to_string()),
                Cell::from(r.last_exit.clone()),
                Cell::from(if r.ready { "yes" } else { "no" }),
                Cell::from(model::cpu_cell(r.up_since.and(r.cpu_pct))),
                Cell::from(model::bytes_cell(r.memory)),
                Cell::from(model::num_cell(r.procs)),
            ];
            if wide {
                cells.push(Cell::from(r.info.clone()));
            }
            Row::new(cells)
        })
        .collect();
    let table = Table::new(rows, widths)
        .header(Row::new(head).style(Style::default().add_modifier(Modifier::BOLD)))
        .column_spacing(1)
        .block(Block::default().borders(Borders::ALL).title(" services "))
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(model.selected_index());
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_tree(f: &mut Frame, area: Rect, model: &Model) {
    let sel = model.selected.as_deref();
    let lines: Vec<Line> = model
        .tree_lines()
        .into_iter()
        .map(|l| {
            // `├─ name  state`: the state coloured, the selected name marked.
            let (left, state) = l.rsplit_once("  ").unwrap_or((l.as_str(), ""));
            let name = left.trim_start_matches(['│', '├', '└', '─', ' ']);
            let mut style = Style::default();
            if Some(name) == sel {
                style = style.add_modifier(Modifier::REVERSED);
            }
            Line::from(vec![
                Span::styled(left.to_string(), style),
                Span::raw("  "),
                Span::styled(state.to_string(), state_style(state)),
            ])
        })
        .collect();
    let inner = area.height.saturating_sub(2) as usize;
    // Keep the selected line in view.
    let at = lines
        .iter()
        .position(|l| l.spans.first().is_some_and(|s| s.style != Style::default()))
        .unwrap_or(0);
    let skip = at.saturating_sub(inner.saturating_sub(1));
    let shown: Vec<Line> = lines.into_iter().skip(skip).collect();
    let p = Paragraph::new(shown).block(
        Block::default()
            .borders(Borders::ALL)
            .title(" dependency tree (t: table) "),
    );
    f.render_widget(p, area);
}

fn draw_pane(f: &mut Frame, area: Rect, model: &Model) {
    let inner = area.height.saturating_sub(2) as usize;
    let who = model.selected.as_deref();
    let (title, lines): (String, Vec<&String>) = match model.pane {
        Pane::Logs => (
            format!(" logs: {} (Tab: events) ", who.unwrap_or("-")),
            model.logs.iter().collect(),
        ),
        Pane::Events => match who.and_then(|n| model.row(n)) {
            Some(r) => (
                format!(" events: {} (Tab: logs) ", r.name),
                r.events.iter().collect(),
            ),
            None => (" events (Tab: logs) ".into(), model.events.iter().collect()),
        },
    };
    let start = lines.len().saturating_sub(inner);
    let text: Vec<Line> = lines[start..]
        .iter()
        .map(|l| Line::from(l.as_str()))
        .collect();
    let p = Paragraph::new(text).block(Block::default().borders(Borders::ALL).title(title));
    f.render_widget(p, area);
}

fn draw_footer(f: &mut Frame, area: Rect, model: &Model) {
    let line = match &model.mode {
        Mode::Filter => Line::from(vec![
            Span::styled("/ filter: ", Style::default().fg(Color::Cyan)),
            Span::raw(format!("{}_", model.filter)),
            Span::raw("   (name or state; Enter keeps, Esc clears)"),
        ]),
        Mode::Signal(text) => Line::from(vec![
            Span::styled(
                format!("signal for {}: ", model.selected.as_deref().unwrap_or("-")),
                Style::default().fg(Color::Cyan),
            ),
            Span::raw(format!("{text}_")),
            Span::raw("   (e.g. HUP, USR1; Enter sends TERM if empty; Esc)"),
        ]),
        _ => match &model.message {
            Some(m) => Line::from(Span::styled(m.clone(), Style::default().fg(Color::Yellow))),
            None => Line::from(
                "q quit  s start  x stop  r restart  R reload  K kill  t tree  / filter  ? help",
            ),
        },
    };
    f.render_widget(Paragraph::new(line), area);
}

fn draw_help(f: &mut Frame, area: Rect) {
    let h = (HELP.len() as u16 + 3).min(area.height);
    let w = 70.min(area.width);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>18}  "), Style::default().fg(Color::Cyan)),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from("            any key closes this help"));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" keys ")),
        r,
    );
}
