# hbeat: shared part of the heartbeat-style resource scripts in this
# directory. Each script maps heartbeat's positional arguments
# (`IPaddr2::10.0.0.10/24/eth1 start` runs `IPaddr2 10.0.0.10/24/eth1 start`)
# to OCF_RESKEY_* variables and calls hbeat_ocf_run, which runs the OCF
# agent of resource-agents. Sourced, not run; POSIX sh.
#
# Actions: start, stop, status (the agent's monitor, printed heartbeat's
# way: "running" exit 0, "stopped" exit 3, any other code passed through:
# 5 not installed, 6 not configured, ...), monitor and validate-all (the
# agent's code as it is; `hbeat check --validate` runs validate-all),
# meta-data. Anything else is a usage error (exit 2).

: "${OCF_ROOT:=/usr/lib/ocf}"
: "${OCF_FUNCTIONS_DIR:=$OCF_ROOT/lib/heartbeat}"
export OCF_ROOT OCF_FUNCTIONS_DIR
OCF_RA_VERSION_MAJOR=1
OCF_RA_VERSION_MINOR=0
export OCF_RA_VERSION_MAJOR OCF_RA_VERSION_MINOR

hbeat_usage() {
    echo "usage: ${0##*/} $1 start|stop|status|monitor|validate-all|meta-data" >&2
    exit 2
}

hbeat_is_ipv4() {
    case $1 in
        *[!0-9.]*|"") return 1 ;;
        *.*.*.*) return 0 ;;
        *) return 1 ;;
    esac
}

# hbeat_ocf_run AGENT ACTION [PROVIDER]: the agent's OCF_RESKEY_* are set.
hbeat_ocf_run() {
    agent=$1 action=$2 provider=${3:-heartbeat}
    script=$OCF_ROOT/resource.d/$provider/$agent
    if [ ! -x "$script" ]; then
        echo "ERROR: ${0##*/}: OCF agent $script is missing or not executable" \
             "(install resource-agents)" >&2
        exit 5
    fi
    : "${OCF_RESOURCE_INSTANCE:=${agent}_hbeat}"
    export OCF_RESOURCE_INSTANCE
    OCF_RESOURCE_TYPE=$agent
    OCF_RESOURCE_PROVIDER=$provider
    export OCF_RESOURCE_TYPE OCF_RESOURCE_PROVIDER
    case $action in
        start|stop|meta-data|monitor|validate-all)
            exec "$script" "$action" ;;
        status)
            "$script" monitor
            rc=$?
            case $rc in
                0) echo "running"; exit 0 ;;
                7) echo "stopped"; exit 3 ;;
                *) echo "failed (OCF monitor exit code $rc)"; exit "$rc" ;;
            esac ;;
        *)
            echo "ERROR: ${0##*/}: unknown action [$action]" >&2
            exit 2 ;;
    esac
}
