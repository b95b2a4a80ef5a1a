#!/usr/bin/env bash
# Regenerates the turn-taking test set of issue 14 in fixtures/turns/ (docs/notes/turns.md):
# flite voices at several speeds, as a phone line hears them (8 kHz μ-law WAV with a noise floor).
#
#   questions/     questions and answers that end cleanly
#   paused/        sentences with a 600–900 ms thinking pause in the middle
#   backchannels/  "yeah", "mm-hm", "uh-huh", "okay", "right"… to say over the agent
#   interrupts/    "wait", "stop", "no", "hold on"… to say over the agent
#   agent/         the agent's replies (what it plays), and echo/ the same replies as they come back
#                  on the caller's line at −20 dB and −10 dB (with the line's noise)
#   manifest.json  one entry per file: category, text, voice, speed, pause (ms) where there is one
#
# Needs flite and sox (Debian: flite, sox). Deterministic: sox's noise is seeded (-R).
# Usage: bash scripts/turns-fixtures.sh [out-dir]   (default fixtures/turns; the WAVs are not committed)
set -euo pipefail
OUT=${1:-"$(dirname "$0")/../fixtures/turns"}
command -v flite >/dev/null || { echo "flite is needed (apt-get install flite)" >&2; exit 1; }
command -v sox >/dev/null || { echo "sox is needed (apt-get install sox)" >&2; exit 1; }
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"/{questions,paused,backchannels,interrupts,agent,echo}
VOICES=(slt rms awb kal16)
SPEEDS=(0.85 1.0 1.2)            # flite duration_stretch: < 1 faster, > 1 slower
NOISE_VOL=0.006                  # white noise floor of the line (about −50 dBFS)
MANIFEST="$OUT/manifest.json"
echo '[' > "$MANIFEST"; FIRST=1

say() { # voice speed text out.wav (16 kHz mono)
  flite -voice "$1" --setf duration_stretch="$2" -t "$3" -o "$TMP/raw.wav"
  sox -q "$TMP/raw.wav" -r 16000 -c 1 -b 16 "$4"
}
phone() { # in.wav out.wav seed: noise floor, 8 kHz, μ-law (what a PCMU line carries)
  local dur; dur=$(soxi -D "$1")
  sox -q -R -n -r 16000 -c 1 -b 16 "$TMP/noise.wav" synth "$dur" whitenoise vol "$NOISE_VOL"
  sox -q -m "$1" "$TMP/noise.wav" -r 8000 -e u-law -b 8 "$2"
}
entry() { # category file text voice speed [pauseMs]
  local pause=${6:-}
  [ $FIRST = 1 ] && FIRST=0 || echo ',' >> "$MANIFEST"
  printf '  {"category":"%s","file":"%s","text":"%s","voice":"%s","speed":%s%s}' "$1" "$2" "$3" "$4" "$5" "${pause:+,\"pauseMs\":$pause}" >> "$MANIFEST"
}
slug() { echo "$1" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9' '-' | sed 's/-\+/-/g; s/^-//; s/-$//' | cut -c1-40; }

QUESTIONS=("What time does the store open tomorrow?" "I would like to book a table for two people." "Can you tell me my account balance?" "Yes, that is correct." "My order number is four five six seven.")
PAUSED=("I would like to book a table for|um, four people on Friday." "My name is|John Smith and I am calling about my bill." "Can you move my appointment to|next Tuesday afternoon?" "I think the problem is|that the router keeps restarting.")
BACKCHANNELS=("yeah" "mm-hm" "mhm" "uh-huh" "okay" "right" "yeah yeah" "sure")
INTERRUPTS=("wait" "stop" "no" "hold on" "wait, stop" "no no, that is wrong" "sorry, I meant Tuesday")
AGENT=("Our store opens at nine in the morning and closes at eight in the evening, every day except Sunday." "I have booked a table for two people tomorrow evening at seven. You will receive a confirmation by text message.")

n=0
for v in "${VOICES[@]}"; do for s in "${SPEEDS[@]}"; do
  for t in "${QUESTIONS[@]}"; do
    f="questions/$v-$s-$(slug "$t").wav"; say "$v" "$s" "$t" "$TMP/a.wav"; phone "$TMP/a.wav" "$OUT/$f"; entry questions "$f" "$t" "$v" "$s"
  done
  for t in "${PAUSED[@]}"; do
    n=$((n + 1)); pause=$((600 + (n * 73) % 301))          # 600–900 ms, spread deterministically
    say "$v" "$s" "${t%%|*}" "$TMP/a.wav"; say "$v" "$s" "${t#*|}" "$TMP/b.wav"
    # flite pads its output: trim the silence at the cut so the pause is the one named
    sox -q "$TMP/a.wav" "$TMP/a2.wav" reverse silence 1 0.02 0.5% reverse
    sox -q "$TMP/b.wav" "$TMP/b2.wav" silence 1 0.02 0.5%
    sox -q -n -r 16000 -c 1 -b 16 "$TMP/p.wav" trim 0 "$(printf '0.%03d' "$pause")"
    sox -q "$TMP/a2.wav" "$TMP/p.wav" "$TMP/b2.wav" "$TMP/c.wav"
    f="paused/$v-$s-$(slug "${t/|/ }").wav"; phone "$TMP/c.wav" "$OUT/$f"; entry paused "$f" "${t/|/ }" "$v" "$s" "$pause"
  done
  for t in "${BACKCHANNELS[@]}"; do
    f="backchannels/$v-$s-$(slug "$t").wav"; say "$v" "$s" "$t" "$TMP/a.wav"; phone "$TMP/a.wav" "$OUT/$f"; entry backchannels "$f" "$t" "$v" "$s"
  done
  for t in "${INTERRUPTS[@]}"; do
    f="interrupts/$v-$s-$(slug "$t").wav"; say "$v" "$s" "$t" "$TMP/a.wav"; phone "$TMP/a.wav" "$OUT/$f"; entry interrupts "$f" "$t" "$v" "$s"
  done
done; done
# The agent's replies (flite kal, as the local engine speaks) and their echo at −20 / −10 dB.
for t in "${AGENT[@]}"; do
  say kal 1.0 "$t" "$TMP/a.wav"
  f="agent/$(slug "$t").wav"; sox -q "$TMP/a.wav" -r 8000 -e u-law -b 8 "$OUT/$f"; entry agent "$f" "$t" kal 1.0
  for db in 20 10; do
    sox -q "$TMP/a.wav" "$TMP/e.wav" gain -"$db"
    f="echo/$(slug "$t")-minus$db-db.wav"; phone "$TMP/e.wav" "$OUT/$f"; entry "echo-$db-db" "$f" "$t" kal 1.0
  done
done
printf '\n]\n' >> "$MANIFEST"
echo "fixtures/turns: $(grep -c '"file"' "$MANIFEST") files in $OUT"
