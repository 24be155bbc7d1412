#!/usr/bin/env bash
# The LADSPA plugin in a PipeWire filter-chain (the configuration of docs/integration.md), in a
# private headless PipeWire that this script starts and stops itself.
#
# Two filter-chains: ghostnv_input_dry -> ghostnv_output_dry at Strength 0 (the plugin must then
# pass the input through exactly, delayed), and ghostnv_input -> ghostnv_output at Strength 1.
# pw-play plays a generated file into both sinks while pw-record records both sources; pw_compare
# checks the dry recording sample-exactly and the denoised one for noise removal.
#
# Usage: pipewire_test.sh PLUGIN_SO PW_COMPARE [RUN_ENV...]
# Exits 77 (skipped) when dbus-daemon, pipewire, wireplumber or pw-cat are missing, or when the
# daemons do not come up (a machine without the needed privileges).
set -uo pipefail
plugin=$1
compare=$2
shift 2
run_env=("$@")   # sanitizer builds: LD_PRELOAD of the ASan runtime for pipewire (it loads the plugin)

for tool in dbus-daemon pipewire wireplumber pw-play pw-record pw-cli; do
  command -v $tool > /dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

tmp=$(mktemp -d /tmp/ghostnv_pwfc_XXXXXX)
pids=()
cleanup() {
  local p
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    p=${pids[$i]}
    kill -TERM "$p" 2> /dev/null
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2> /dev/null
    wait "$p" 2> /dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

export XDG_RUNTIME_DIR=$tmp/run XDG_CONFIG_HOME=$tmp/config XDG_STATE_HOME=$tmp/state \
       XDG_DATA_HOME=$tmp/data HOME=$tmp
export DBUS_SESSION_BUS_ADDRESS=unix:path=$XDG_RUNTIME_DIR/bus
unset PIPEWIRE_REMOTE PIPEWIRE_RUNTIME_DIR
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME/pipewire/pipewire.conf.d" "$XDG_STATE_HOME" "$XDG_DATA_HOME"
chmod 700 "$XDG_RUNTIME_DIR"

chain() {  # name-suffix strength description
  cat <<CONF
  { name = libpipewire-module-filter-chain
    args = {
      node.description = "$3"
      media.name       = "$3"
      filter.graph = {
        nodes = [
          { type   = ladspa
            name   = ghostnv
            plugin = $plugin
            label  = ghostnv_mono
            control = {
              "Strength" = $2
              "VAD Threshold" = 0.0
              "VAD Grace Period (ms)" = 250
            }
          }
        ]
      }
      audio.rate = 48000
      audio.channels = 1
      audio.position = [ MONO ]
      capture.props = {
        node.name   = "ghostnv_input$1"
        node.description = "GhostNV input$1"
        media.class = Audio/Sink
      }
      playback.props = {
        node.name   = "ghostnv_output$1"
        node.description = "$3"
        media.class = Audio/Source
      }
    }
  }
CONF
}
{
  echo "context.modules = ["
  chain "" 1.0 "GhostNV noise suppression"
  chain "_dry" 0.0 "GhostNV dry"
  echo "]"
} > "$XDG_CONFIG_HOME/pipewire/pipewire.conf.d/ghostnv-denoise.conf"

wait_for() {  # seconds command...
  local end=$((SECONDS + $1)); shift
  until "$@" > /dev/null 2>&1; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.1
  done
}

dbus-daemon --session --address="$DBUS_SESSION_BUS_ADDRESS" --nofork --nopidfile > "$tmp/dbus.log" 2>&1 &
pids+=($!)
wait_for 5 test -S "$XDG_RUNTIME_DIR/bus" || { echo "SKIP: dbus-daemon did not start"; exit 77; }
env "${run_env[@]}" pipewire > "$tmp/pipewire.log" 2>&1 &
pids+=($!)
if ! wait_for 5 test -S "$XDG_RUNTIME_DIR/pipewire-0"; then
  cat "$tmp/pipewire.log"; echo "SKIP: pipewire did not start"; exit 77
fi
wireplumber > "$tmp/wireplumber.log" 2>&1 &
pids+=($!)
nodes_up() { pw-cli ls Node | grep -q '"ghostnv_output"' && pw-cli ls Node | grep -q '"ghostnv_output_dry"'; }
if ! wait_for 10 nodes_up; then
  echo "FAIL: the filter-chain nodes did not appear"; tail -20 "$tmp/pipewire.log"; exit 1
fi

"$compare" gen "$tmp/in.wav" 3 || exit 1
pw-record --target ghostnv_output_dry --rate 48000 --channels 1 --format f32 "$tmp/dry.wav" \
  > "$tmp/rec-dry.log" 2>&1 &
rec_dry=$!
pw-record --target ghostnv_output --rate 48000 --channels 1 --format f32 "$tmp/wet.wav" \
  > "$tmp/rec-wet.log" 2>&1 &
rec_wet=$!
pids+=($rec_dry $rec_wet)
sleep 0.5
pw-play --target ghostnv_input_dry "$tmp/in.wav" > "$tmp/play-dry.log" 2>&1 &
play_dry=$!
pw-play --target ghostnv_input "$tmp/in.wav" > "$tmp/play-wet.log" 2>&1 &
play_wet=$!
pids+=($play_dry $play_wet)
wait_for 20 bash -c "! kill -0 $play_dry 2>/dev/null && ! kill -0 $play_wet 2>/dev/null" ||
  { echo "FAIL: pw-play did not finish"; exit 1; }
sleep 0.5   # the plugin's latency and PipeWire's buffers drain into the recordings
kill -INT $rec_dry $rec_wet
wait $rec_dry $rec_wet 2> /dev/null
grep -i "ghostnv LADSPA\|error" "$tmp/pipewire.log" | head -5
[ -n "${GHOSTNV_PW_KEEP:-}" ] && cp "$tmp"/*.wav "$tmp"/*.log "$GHOSTNV_PW_KEEP"/
"$compare" check "$tmp/in.wav" "$tmp/dry.wav" "$tmp/wet.wav"
