"""How every browser test and the map benchmark start Debian's Chromium (``shutil.which("chromium")``):
headless, software WebGL, and nothing that reaches beyond localhost (no QUIC, no background
networking, no component updates, no sync). ``playwright install`` cannot download browsers here."""

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
