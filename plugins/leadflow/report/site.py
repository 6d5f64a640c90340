"""Write the report site: `index.<locale>.html` and one page per topic and locale, the charts' CSV files
under `data/`, the Vega bundle beside them, and the template gallery under `gallery/`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from leadflow.report.charts import Figure, figures, records
from leadflow.report.queries import ReportWindow
from leadflow.report.text import LOCALES, PAGES, column, t

BUNDLE = "vega-bundle.js"
PERCENT_COLUMNS = {"rate", "share", "ci_low", "ci_high", "spam_rate", "bounce_rate", "base_rate"}


@dataclass(frozen=True)
class SiteFiles:
    """What `write_site` wrote: the index page, every page, and the CSV files."""

    index: Path
    pages: list[Path]
    csv: list[Path]


@cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script, from the pinned vl-convert-python package (no network)."""
    import vl_convert

    return str(vl_convert.javascript_bundle())  # type: ignore[call-arg]  # the stub misses its default


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def spec_json(spec: dict[str, Any]) -> Markup:
    """A chart spec as JSON safe inside a <script> element (no `<`, `>` or `&` that could end it)."""
    text = json.dumps(spec, ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))  # noqa: S704


def _cell(name: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "✔" if value else ""
    if isinstance(value, float):
        if name in PERCENT_COLUMNS:
            return f"{value:.2%}" if value < 0.01 else f"{value:.1%}"
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(figure: Figure, locale: str) -> Markup:
    """The figure's rows as an HTML table, with flagged cells classed ok / warn / bad."""
    rows = records(figure.frame)
    names = list(figure.frame.columns)
    head = "".join(f"<th>{escape(column(locale, n))}</th>" for n in names)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for n in names:
            value = row[n]
            classes = [figure.flags[n][i]] if n in figure.flags and figure.flags[n][i] else []
            if isinstance(value, str):
                classes.append("text")
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{escape(_cell(n, value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return Markup(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")  # noqa: S704


def _format(value: Any, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "–"
    if percent:
        return f"{float(value):.1%}"
    if isinstance(value, float):
        return f"{value:,.2f}" if not value.is_integer() else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _index_panels(data: dict[str, pd.DataFrame], locale: str, gallery: bool) -> list[Markup]:
    head = records(data["headline"])[0] if not data["headline"].empty else {}
    kpis = "".join(
        f'<div class="kpi"><div class="value">{escape(_format(head.get(k)))}</div>'
        f'<div class="label">{escape(t(locale, k))}</div></div>'
        for k in ("leads", "mean_score", "hot", "sales_qualified", "customer", "new_hot_7d", "new_sql_7d")
    )
    links = "".join(f'<li><a href="{p}.{locale}.html">{escape(t(locale, p))}</a></li>' for p in PAGES)
    if gallery:
        links += f'<li><a href="gallery/index.html">{escape(t(locale, "gallery"))}</a></li>'
    return [
        Markup(f"<h2>{escape(t(locale, 'headline'))}</h2><div class='kpis'>{kpis}</div>"),  # noqa: S704
        Markup(f"<ul class='pages'>{links}</ul>"),  # noqa: S704
    ]


def _calibration_panels(data: dict[str, pd.DataFrame], locale: str, window: ReportWindow) -> list[Markup]:
    summary = records(data["calibration_summary"])
    row = summary[0] if summary else {}
    if not row.get("leads"):
        text = t(locale, "calibration_none", days=window.calibration_days)
    else:
        text = t(
            locale,
            "calibration_intro",
            days=window.calibration_days,
            night=row["cohort_night"],
            leads=f"{row['leads']:,}",
            converted=f"{int(row['converted'] or 0):,}",
            base_rate=_format(row["base_rate"], percent=True),
            auc=_format(None if row["roc_auc"] is None else round(row["roc_auc"], 3)),
        )
    return [Markup(f"<h2>{escape(t(locale, 'calibration_summary'))}</h2><p>{escape(text)}</p>")]  # noqa: S704


def _notices(data: dict[str, pd.DataFrame], locale: str, page: str) -> list[str]:
    if page != "calibration":
        return []
    dist = data["score_distribution"]
    spikes = dist[dist["clamp_spike"].astype(bool)] if not dist.empty else dist
    return [
        t(locale, "clamp_spike", share=f"{float(row.share):.1%}", max=_format(float(row.bin_low)))
        for row in spikes.itertuples()
    ]


def write_site(
    out: Path,
    data: dict[str, pd.DataFrame],
    window: ReportWindow,
    *,
    gallery: bool = False,
    default_locale: str = "ja",
    pages: tuple[str, ...] = ("index", *PAGES),
    label: str = "",
    suffix: str = "",
) -> SiteFiles:
    """Write the report pages for `data` (the query results for `window`) into `out`: every page, or only
    `pages`, with `label` after each title and `suffix` in every file name (e.g. a candidate rules' page
    beside the report's own: `calibration-candidate.ja.html`, `data/<chart>-candidate.csv`)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(exist_ok=True)
    (out / BUNDLE).write_text(vega_bundle(), encoding="utf-8")
    template = _environment().get_template("page.html.j2")
    written: list[Path] = []
    csv: dict[str, Path] = {}
    for locale in LOCALES:
        other = next(x for x in LOCALES if x != locale)
        for page in pages:
            figs = [] if page == "index" else figures(data, locale, page)
            for fig in figs:
                fig.key += suffix
                if fig.key not in csv:
                    csv[fig.key] = out / "data" / f"{fig.key}.csv"
                    fig.frame.to_csv(csv[fig.key], index=False)
            panels = (
                _index_panels(data, locale, gallery)
                if page == "index"
                else _calibration_panels(data, locale, window)
                if page == "calibration"
                else []
            )
            html = template.render(
                locale=locale,
                page=page,
                pages=PAGES,
                title=f"{t(locale, page)} {label}".strip(),
                as_of=window.as_of.isoformat(),
                start_date=window.start_date.isoformat(),
                other_href=f"{page}{suffix}.{other}.html",
                gallery=gallery,
                figures=figs,
                panels=panels,
                notices=_notices(data, locale, page),
                t=lambda key, _locale=locale, **values: t(_locale, key, **values),
                spec_json=spec_json,
                table=lambda fig, _locale=locale: table(fig, _locale),
            )
            path = out / f"{page}{suffix}.{locale}.html"
            path.write_text(html, encoding="utf-8")
            written.append(path)
    index = out / f"{pages[0]}{suffix}.{default_locale}.html"
    if not suffix:
        index = out / "index.html"
        index.write_text((out / f"{pages[0]}.{default_locale}.html").read_text(encoding="utf-8"), encoding="utf-8")
    return SiteFiles(index=index, pages=written, csv=list(csv.values()))
