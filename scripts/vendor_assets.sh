#!/usr/bin/env bash
# Vendor the browser assets of the demo page and the offline API docs from the npm registry.
#
# Pinned versions; `npm pack` fetches each tarball (npm checks its registry integrity hash),
# and only the files the app serves, plus each package's license files, are copied to
# app/static/vendor/, unmodified but for one line of redoc (below). VERSIONS.md is rewritten with the sha256 of every file, so a re-run
# that changes nothing leaves a clean `git diff`.
#
# redoc stays on 2.x: FastAPI's `get_redoc_html` loads it with a classic <script> tag
# (3.x is an ES module and reports telemetry by default).
set -euo pipefail
cd "$(dirname "$0")/.."

PLOTLY=4.1.2
SWAGGER_UI=5.35.0
REDOC=2.5.4

VENDOR=app/static/vendor
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# fetch PACKAGE VERSION DEST FILE... : copy FILE (a path inside the package) to DEST/.
fetch() {
    local package=$1 version=$2 dest=$3
    shift 3
    local tarball
    tarball=$(cd "$WORK" && npm pack --silent "$package@$version" | tail -n 1)
    mkdir -p "$WORK/$package" "$VENDOR/$dest"
    tar -xzf "$WORK/$tarball" -C "$WORK/$package"
    for file in LICENSE "$@"; do
        cp "$WORK/$package/package/$file" "$VENDOR/$dest/$(basename "$file")"
    done
}

fetch plotly.js-dist-min "$PLOTLY" plotly plotly.min.js
fetch swagger-ui-dist "$SWAGGER_UI" swagger-ui swagger-ui-bundle.js swagger-ui.css NOTICE \
    swagger-ui-bundle.js.LICENSE.txt
fetch redoc "$REDOC" redoc bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt

# The one patch: ReDoc 2 draws its "API docs by Redocly" logo from cdn.redoc.ly, the only
# request of the docs pages that would leave this server. An empty `src` fetches nothing and
# fires `error`, on which ReDoc drops the image; the attribution link itself stays.
REDOC_JS="$VENDOR/redoc/redoc.standalone.js"
REDOC_UPSTREAM=$(sha256sum "$REDOC_JS" | cut -d' ' -f1)
LOGO='src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'
[[ $(grep -o "$LOGO" "$REDOC_JS" | wc -l) -eq 1 ]] || {
    echo "redoc $REDOC: expected the CDN logo URL exactly once; review the patch" >&2
    exit 1
}
sed -i "s|$LOGO|src:\"\"|" "$REDOC_JS"
if grep -Eq 'src:"https?://' "$REDOC_JS"; then
    echo "redoc $REDOC: still loads an image from elsewhere" >&2
    exit 1
fi

row() {  # row PACKAGE VERSION LICENSE DIR
    local file
    for file in "$VENDOR/$4"/*; do
        printf '| `%s` | %s | %s | `%s` | `%s` |\n' "$1" "$2" "$3" "${file#"$VENDOR/"}" \
            "$(sha256sum "$file" | cut -d' ' -f1)"
    done
}

{
    echo "# Vendored browser assets"
    echo
    echo "Fetched from the npm registry by \`scripts/vendor_assets.sh\` (\`make vendor\`); do not"
    echo "edit these files by hand. No page of the app loads anything from a CDN."
    echo
    echo "| Package | Version | License | File | sha256 |"
    echo "|---|---|---|---|---|"
    row plotly.js-dist-min "$PLOTLY" MIT plotly
    row swagger-ui-dist "$SWAGGER_UI" Apache-2.0 swagger-ui
    row redoc "$REDOC" MIT redoc
    echo
    echo "Files are byte-identical to the package tarballs (\`*.LICENSE.txt\` list the licenses of"
    echo "the code bundled inside), but for one patch: in \`redoc/redoc.standalone.js\` the"
    echo "\"API docs by Redocly\" logo, loaded from \`https://cdn.redoc.ly/redoc/logo-mini.svg\`,"
    echo "gets an empty \`src\`, so that the docs make no request outside this server (upstream"
    echo "sha256 \`$REDOC_UPSTREAM\`)."
    echo
    echo "Source maps are not vendored. redoc stays on 2.x, the major version FastAPI's"
    echo "\`get_redoc_html\` targets (3.x is an ES module and sends telemetry by default)."
} > "$VENDOR/VERSIONS.md"
echo "vendored into $VENDOR:" && ls -l "$VENDOR"/*
