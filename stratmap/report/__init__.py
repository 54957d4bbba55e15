"""The 策略管理看板 (strategy dashboard): a results directory → one self-contained HTML file, or a
Markdown summary for a pull request (docs/report.md).

    from stratmap.report.inputs import load_results
    from stratmap.report.render import render_html

    Path("report.html").write_text(render_html(load_results(Path("runs/q1"))), encoding="utf-8")

Nothing is imported here: ``stratmap check`` builds its parser with ``report.command`` and must
not pay for pandas, Jinja2 or Plotly.
"""
