#!/usr/bin/env bash
# The whole test suite, from a fresh clone: formatting, lints, unit and
# end-to-end tests (real SQLite files, a real SMTP server on loopback, a real
# Dovecot IMAP server, systemd-analyze for the unit file).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests run for real: Dovecot (IMAP), systemd-analyze, Chromium.
need=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# A real headless browser for the dashboard's test, driven over WebDriver.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
fi

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets
