#!/bin/sh
# Render the Alertmanager config template with the Telegram settings from the environment.
#
#   sh render-config.sh TEMPLATE OUTPUT
#
# Alertmanager 0.25 cannot read its Telegram token from a file or the environment; the
# compose file runs this script at container start and Alertmanager reads OUTPUT (on
# tmpfs). Each value is checked before use (exit 2 naming the variable and the fix); the
# token's value is never printed. OUTPUT is written with mode 600.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: render-config.sh TEMPLATE OUTPUT" >&2
    exit 2
fi
template=$1
output=$2

fail() {
    echo "render-config.sh: $*" >&2
    exit 2
}

token=${ALERTMANAGER_TELEGRAM_BOT_TOKEN:-}
chat_id=${ALERTMANAGER_TELEGRAM_CHAT_ID:-}
api_url=${ALERTMANAGER_TELEGRAM_API_URL:-https://api.telegram.org}

printf '%s' "$token" | grep -Eq '^[0-9]{1,20}:[A-Za-z0-9_-]{1,100}$' ||
    fail "ALERTMANAGER_TELEGRAM_BOT_TOKEN is missing or not a Telegram bot token (digits:characters, as @BotFather gives it); set it in .env"
printf '%s' "$chat_id" | grep -Eq '^-?[0-9]{1,20}$' ||
    fail "ALERTMANAGER_TELEGRAM_CHAT_ID='$chat_id' is not a chat id; use the numeric id of the chat or group (groups are negative), e.g. -1001234567890"
printf '%s' "$api_url" | grep -Eq '^https?://[A-Za-z0-9.:_-]+(/[A-Za-z0-9._~-]+)*/?$' ||
    fail "ALERTMANAGER_TELEGRAM_API_URL='$api_url' is not an http(s) URL without query; leave it unset for https://api.telegram.org"
[ -r "$template" ] || fail "cannot read the template $template"

umask 077
sed -e "s|\${ALERTMANAGER_TELEGRAM_BOT_TOKEN}|$token|g" \
    -e "s|\${ALERTMANAGER_TELEGRAM_CHAT_ID}|$chat_id|g" \
    -e "s|\${ALERTMANAGER_TELEGRAM_API_URL}|${api_url%/}|g" \
    "$template" >"$output.tmp"
if grep -q '\${' "$output.tmp"; then
    rm -f "$output.tmp"
    fail "the template $template has a placeholder this script does not know"
fi
mv "$output.tmp" "$output"
