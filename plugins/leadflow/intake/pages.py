"""The unsubscribe and preferences pages of `leadflow serve`: plain HTML in the lead's locale, no JavaScript."""

from __future__ import annotations

from html import escape

_TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "confirm_title": "配信停止の確認",
        "confirm_body": "{masked} 宛てのマーケティングメールの配信を停止します。"
        "よろしければ下のボタンを押してください。",
        "confirm_button": "配信を停止する",
        "done_title": "配信を停止しました",
        "done_body": "{masked} 宛てのマーケティングメールは今後お送りしません。"
        "ご契約や取引に関するご連絡は引き続きお送りすることがあります。",
        "prefs_title": "メール配信設定",
        "prefs_body": "{masked} 宛てのメール配信の設定です。マーケティングメールをすべて停止できます。",
        "prefs_button": "マーケティングメールをすべて停止する",
        "expired_title": "このリンクは有効期限が切れています",
        "expired_body": "お手数ですが、最近お送りしたメールの配信停止リンクをご利用いただくか、"
        "そのメールに返信してください。",
    },
    "en": {
        "confirm_title": "Confirm unsubscribe",
        "confirm_body": "Marketing email to {masked} will stop. Press the button below to confirm.",
        "confirm_button": "Unsubscribe",
        "done_title": "You are unsubscribed",
        "done_body": "We will send no more marketing email to {masked}. "
        "Messages about your account or orders may still reach you.",
        "prefs_title": "Email preferences",
        "prefs_body": "Email settings for {masked}. You can stop all marketing email here.",
        "prefs_button": "Stop all marketing email",
        "expired_title": "This link has expired",
        "expired_body": "Please use the unsubscribe link in a more recent email from us, or reply to that email.",
    },
}

_INVALID = (
    "<h1>このリンクは無効です / This link is not valid</h1>"
    "<p>リンクが途中で切れていないかご確認ください。最近お送りしたメールのリンクもご利用いただけます。</p>"
    "<p>Please check that the whole link was opened, or use the link in a more recent email from us.</p>"
)

SECURITY_HEADERS = {
    # no scripts, nothing loaded from elsewhere, the form posts only here, the token never leaks via Referer
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = (
    "body{font-family:system-ui,-apple-system,'Hiragino Sans','Noto Sans JP',sans-serif;max-width:36em;"
    "margin:3em auto;padding:0 1em;line-height:1.7;color:#222}"
    "button{font-size:1em;padding:.6em 1.4em;border:0;border-radius:4px;background:#c0392b;color:#fff;cursor:pointer}"
)


def _document(lang: str, title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _text(locale: str) -> dict[str, str]:
    return _TEXT.get(locale, _TEXT["en"])


def confirm_page(locale: str, masked: str, token: str, *, preferences: bool = False) -> str:
    """The GET page: what will happen, and one button that POSTs to the same link."""
    t = _text(locale)
    title, body, button = (
        (t["prefs_title"], t["prefs_body"], t["prefs_button"])
        if preferences
        else (t["confirm_title"], t["confirm_body"], t["confirm_button"])
    )
    form = (
        f'<form method="post" action="?token={escape(token, quote=True)}">'
        '<input type="hidden" name="source" value="page">'
        f'<button type="submit">{escape(button)}</button></form>'
    )
    return _document(locale, title, f"<h1>{escape(title)}</h1><p>{escape(body.format(masked=masked))}</p>{form}")


def done_page(locale: str, masked: str) -> str:
    """After the page's own POST: unsubscribed."""
    t = _text(locale)
    body = escape(t["done_body"].format(masked=masked))
    return _document(locale, t["done_title"], f"<h1>{escape(t['done_title'])}</h1><p>{body}</p>")


def expired_page(locale: str) -> str:
    t = _text(locale)
    title = escape(t["expired_title"])
    return _document(locale, t["expired_title"], f"<h1>{title}</h1><p>{escape(t['expired_body'])}</p>")


def invalid_page() -> str:
    """A bilingual page for a token that does not verify: it says nothing about why."""
    return _document("ja", "無効なリンク / Invalid link", _INVALID)
