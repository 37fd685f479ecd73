"""Small bar charts drawn as inline SVG on the server: no script, no library, readable without colour (each bar
has a tooltip with its numbers)."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

GREEN, RED, ORANGE, GREY = "#2e7d32", "#c62828", "#ef6c00", "#9e9e9e"


def stacked_bars(buckets, colours, *, width=360, height=60, label=""):
    """buckets: [(caption, (value, ...))]; the values of a bucket are stacked bottom up in `colours` order."""
    if not buckets:
        return ""
    top = max((sum(values) for _, values in buckets), default=0) or 1
    step = width / len(buckets)
    bar = max(step - 2, 1)
    rects = []
    for index, (caption, values) in enumerate(buckets):
        y = height
        for value, colour in zip(values, colours, strict=False):
            if not value:
                continue
            h = max(value / top * (height - 12), 1)
            y -= h
            rects.append((f"{index * step:.1f}", f"{y:.1f}", f"{bar:.1f}", f"{h:.1f}", colour, caption))
        if y == height:  # an empty bucket still shows where it is
            rects.append((f"{index * step:.1f}", f"{height - 1:.1f}", f"{bar:.1f}", "1", "#e0e0e0", caption))
    body = format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
                            rects)
    scale = format_html('<text x="{}" y="9" font-size="9" text-anchor="end" fill="#757575">{}</text>', width, top)
    return format_html('<svg class="chart" role="img" aria-label="{}" width="{}" height="{}" viewBox="0 0 {} {}">'
                       '{}{}</svg>', label, width, height, width, height, body, scale)


def meter(used, limit, *, width=120, height=10):
    """A share of a budget as a thin bar: green, orange past 70 %, red past 90 %."""
    share = min(used / limit, 1.0) if limit else 0.0
    colour = RED if share > 0.9 else ORANGE if share > 0.7 else GREEN
    return format_html('<svg class="meter" role="img" aria-label="{} of {}" width="{}" height="{}">'
                       '<rect width="{}" height="{}" fill="#e0e0e0"></rect>'
                       '<rect width="{}" height="{}" fill="{}"></rect></svg>', used, limit, width, height, width,
                       height, f"{share * width:.1f}", height, colour)


def legend(*pairs):
    return mark_safe(" ".join(format_html('<span class="legend"><i style="background:{}"></i>{}</span>', colour,
                                          text) for colour, text in pairs))
