#!/usr/bin/env bash
# Install the headless browser the browser tests drive: Debian's Chromium and ChromeDriver
# (/usr/bin/chromium, /usr/bin/chromedriver), and a CJK font (fonts-wqy-microhei) so the
# explorer's Chinese names render in screenshots. Idempotent: does nothing when all are there.
# Installs only as root (CI runs as root); otherwise it says what to run and exits 0 -- the
# browser tests then skip locally, and fail under CI=true.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver

have_browser() { [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; }
have_cjk_font() { ! command -v fc-list >/dev/null 2>&1 || [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; }

if have_browser && have_cjk_font; then
    echo "install-browser: $CHROMIUM, $DRIVER and a CJK font are present; nothing to do"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if have_browser; then
        echo "install-browser: no CJK font (Chinese names show as boxes in screenshots);" \
             "install one with: sudo apt-get install -y fonts-wqy-microhei"
    else
        echo "install-browser: $CHROMIUM or $DRIVER is missing and this is not root; install" \
             "them with: sudo apt-get install -y chromium chromium-driver fonts-wqy-microhei" \
             "(until then the browser tests skip; under CI=true they fail)"
    fi
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get on this machine; install Chromium and ChromeDriver at" \
         "$CHROMIUM and $DRIVER by hand"
    exit 0
fi

echo "install-browser: installing Debian packages chromium chromium-driver fonts-wqy-microhei ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q chromium chromium-driver fonts-wqy-microhei >/dev/null
if have_browser; then
    echo "install-browser: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)" \
         "and $("$DRIVER" --version 2>/dev/null | cut -d' ' -f1-2 || echo chromedriver)"
else
    echo "install-browser: apt-get finished but $CHROMIUM / $DRIVER are still missing" >&2
    exit 1
fi
