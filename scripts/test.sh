#!/usr/bin/env bash
# The whole test suite, from a fresh clone: formatting, lints, unit and
# end-to-end tests (real SQLite files, a real SMTP server on loopback, a real
# Dovecot IMAP/LMTP server and a real Postfix with a private CA's TLS,
# systemd-analyze for the unit file).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests run for real: Dovecot (IMAP, LMTP), Postfix (a
# mail server with its own config under a temp dir), openssl (a private CA for
# the tests' TLS) and systemd-analyze. Postfix is installed with "No
# configuration": nothing in /etc/postfix is set up and no system Postfix runs.
# Chromium and chromium-driver: the dashboard's test drives a real headless browser.
need=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
[ -e /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
[ -x /usr/sbin/postfix ] || need+=(postfix)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# A real headless browser for the dashboard's test, driven over WebDriver.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "postfix postfix/main_mailer_type select No configuration" | "${sudo[@]}" debconf-set-selections
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  # A system Postfix that the package started would hold port 25; the tests
  # run their own instances, so stop it (a no-op when it never started).
  if [[ " ${need[*]} " == *" postfix "* ]] && "${sudo[@]}" /usr/sbin/postfix status >/dev/null 2>&1; then
    "${sudo[@]}" /usr/sbin/postfix stop || true
  fi
fi

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets
