# Medians of the plugin's steps from the log bench/cni-steps.sh collects:
# "EXEC <verb> <epoch seconds>" lines, then the plugin's own log lines.
function seconds_of_day(stamp,    t) {
    # 2026-12-04T22:45:01.123456Z
    t = substr(stamp, 12, 15)
    return substr(t, 1, 2) * 3600 + substr(t, 4, 2) * 60 + substr(t, 7)
}
function median(values, n,    i, j, tmp) {
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && values[j - 1] > values[j]; j--) {
            tmp = values[j]; values[j] = values[j - 1]; values[j - 1] = tmp
        }
    return n % 2 ? values[(n + 1) / 2] : (values[n / 2] + values[n / 2 + 1]) / 2
}
function step(name, at) {
    if (verb == "" || calls[verb] > 100) return
    count[verb, name]++
    took[verb, name, count[verb, name]] = (at - last) * 1000
    if (!(verb SUBSEP name in seen)) { seen[verb, name] = 1; order[verb, ++steps[verb]] = name }
    last = at
}
/^EXEC / {
    verb = $2
    calls[verb]++
    last = $3 % 86400
    next
}
/ start/                          { step("exec to start", seconds_of_day($1)) }
/reserved the pod IPs/            { step("netns, node network, IPAM reserve (veth meanwhile)", seconds_of_day($1)) }
/wired the veth pair/             { step("finish the wiring", seconds_of_day($1)) }
/weftd programmed the endpoint/   { step("weftd's request to reply", seconds_of_day($1)) }
/cutting off the host veth/       { step("to cutting off", seconds_of_day($1)) }
/released the pod IPs/            { step("cut off, release the IPs", seconds_of_day($1)) }
/told weftd/                      { step("tell weftd", seconds_of_day($1)) }
/ done/                           { step("to done", seconds_of_day($1)); verb = "" }
END {
    for (v in steps) {
        printf "| %s step | median |\n|---|---|\n", v
        for (i = 1; i <= steps[v]; i++) {
            name = order[v, i]
            n = count[v, name]
            for (k = 1; k <= n; k++) vals[k] = took[v, name, k]
            printf "| %s | %.2f ms |\n", name, median(vals, n)
        }
        print ""
    }
}
