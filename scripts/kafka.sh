#!/usr/bin/env bash
# Makes sure a Kafka broker is reachable. Installs tansu, a Kafka-compatible broker from
# crates.io (once: several minutes; the broker-outage test uses it too). With KAFKA_BROKERS set,
# that Kafka is used as it is; otherwise tansu runs on 127.0.0.1:9092 with in-memory storage
# and the topics are created. Safe to repeat; scripts/stack.sh stop|restart kafka stops or
# restarts it. In-memory: a restart loses topics, offsets and the events not yet consumed
# (tansu 0.6.0's durable engines are no substitute: see README, "The local broker").
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"

# Whether the installed tansu has the dynostore feature (memory://), from cargo's record.
tansu_has_memory_storage() {
  grep -q "\"tansu $TANSU_VERSION [^}]*\"features\":\[[^]]*\"dynostore\"" "$HOME/.cargo/.crates2.json" 2>/dev/null
}

if ! command -v tansu >/dev/null 2>&1 || ! tansu_has_memory_storage; then
  say "installing the tansu broker $TANSU_VERSION (cargo install, several minutes, once)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore --quiet --force
fi

if [ -n "${KAFKA_BROKERS:-}" ] && [ "$KAFKA_BROKERS" != "$LOCAL_KAFKA" ]; then
  say "using the Kafka at KAFKA_BROKERS=$KAFKA_BROKERS"
  exit 0
fi

if ! program_running tansu; then
  require_free_port 9092 "the local broker; or point KAFKA_BROKERS at the Kafka listening there"
  say "starting tansu on 127.0.0.1:9092 (log: $LOG_DIR/tansu.log)"
  apply_supervisor_conf tansu
  ctl_do start tansu
  wait_for 10 port_open 9092 || { echo "tansu did not start; see $LOG_DIR/tansu.log" >&2; exit 1; }
fi

existing="$(tansu topic list --broker tcp://127.0.0.1:9092 2>/dev/null || true)"
for topic in order-events order-events.dlq; do
  if ! grep -qF -- "\"name\":\"$topic\"" <<<"$existing"; then
    say "creating topic $topic"
    tansu topic create "$topic" --partitions 3 --broker tcp://127.0.0.1:9092 >/dev/null
  fi
done
