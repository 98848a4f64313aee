#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with real inputs, so that every run starts from the same seeds:
# images from the caption fixtures, captions from the noun fixtures, the example ads and
# catalogs, and every saved regression input under core/tests/data/fuzz/<target>/.
# Usage: fuzz/seed.sh [fixtures dir]   (default: $SOCIALLENS_FIXTURES or /work/shared/fixtures)
set -euo pipefail
cd "$(dirname "$0")"
root=..
fixtures=${1:-${SOCIALLENS_FIXTURES:-/work/shared/fixtures}}

# A file named by its content's SHA-1, as libFuzzer names corpus entries.
put() { # target file
    local h
    h=$(sha1sum "$2" | cut -d' ' -f1)
    cp "$2" "corpus/$1/$h"
}
# One corpus entry per JSON string found at the jq path on each line of a JSONL file.
lines() { # target jq-filter file
    local tmp
    tmp=$(mktemp)
    jq -r "$2 | @json" "$3" | while IFS= read -r s; do
        printf '%s' "$s" | jq -j . >"$tmp"
        put "$1" "$tmp"
    done
    rm -f "$tmp"
}

for t in decode_preprocess extract_nouns catalog_load ads_load; do
    mkdir -p "corpus/$t"
    if [ -d "$root/core/tests/data/fuzz/$t" ]; then
        for f in "$root/core/tests/data/fuzz/$t"/*; do [ -f "$f" ] && put "$t" "$f"; done
    fi
done

# Images: every format the decoder handles, JPEG baseline/progressive/CMYK/EXIF among them.
for f in "$fixtures"/vit-gpt2/images/* "$root"/core/tests/data/jpeg/*.jpg \
    "$root"/core/tests/data/formats/*.{png,gif,bmp,webp} "$root"/examples/data/photos/*.jpg; do
    [ -f "$f" ] && put decode_preprocess "$f"
done

# Captions: ViT-GPT2 style, random caption words and the tricky cases (punctuation, case,
# possessives, empty text, non-ASCII).
if [ -d "$fixtures/nouns" ]; then
    lines extract_nouns .text "$fixtures/nouns/textblob_reference.jsonl"
    lines extract_nouns .caption "$fixtures/nouns/dev_gold.jsonl"
fi
for f in "$root"/core/tests/data/interest_{gold,holdout}.jsonl; do
    lines extract_nouns .caption "$f"
done

# Ads: the example file whole and line by line.
put ads_load "$root/examples/data/ads.jsonl"
tmp=$(mktemp)
while IFS= read -r line; do
    printf '%s\n' "$line" >"$tmp"
    put ads_load "$tmp"
done <"$root/examples/data/ads.jsonl"
rm -f "$tmp"

for t in decode_preprocess extract_nouns catalog_load ads_load; do
    echo "$t: $(find "corpus/$t" -type f | wc -l) seeds"
done
