#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`.
#
# - An engine that already answers is left alone (exit 0 at once).
# - As root on Debian with no engine: install docker.io from Debian's mirror if dockerd is
#   missing, start dockerd in the background (log: $DOCKERD_LOG), and wait until it answers.
# - Otherwise: print what the user must do and exit 1.
#
# Environment: DOCKER_WAIT_SECONDS (default 60), DOCKERD_LOG (default /var/log/dockerd.log).
set -euo pipefail

wait_seconds="${DOCKER_WAIT_SECONDS:-60}"
dockerd_log="${DOCKERD_LOG:-/var/log/dockerd.log}"

say() { printf 'ensure-docker: %s\n' "$*" >&2; }

engine_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if engine_answers; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || [ ! -r /etc/debian_version ]; then
    say "no Docker engine answers 'docker info'."
    say "Start one (e.g. 'sudo systemctl start docker'), or install Docker Engine for your system:"
    say "  Debian/Ubuntu: sudo apt-get install docker.io && sudo systemctl enable --now docker"
    say "and make sure your user may talk to it (member of the 'docker' group)."
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
    say "dockerd is not installed: installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates >/dev/null
fi

# A systemd host starts the packaged service; a container or a bare host runs dockerd itself.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    say "starting docker.service"
    systemctl start docker.service || true
fi

if ! engine_answers && ! pgrep -x dockerd >/dev/null 2>&1; then
    say "starting dockerd in the background (log: ${dockerd_log})"
    mkdir -p "$(dirname "${dockerd_log}")"
    nohup dockerd >>"${dockerd_log}" 2>&1 </dev/null &
fi

for _ in $(seq 1 "${wait_seconds}"); do
    if engine_answers; then
        say "Docker engine is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
        exit 0
    fi
    sleep 1
done

say "the Docker engine did not answer within ${wait_seconds}s. Last lines of ${dockerd_log}:"
tail -n 20 "${dockerd_log}" >&2 || true
exit 1
