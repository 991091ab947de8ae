#!/bin/sh
# mesos2ns1-enable.sh: enable mesos2ns1 on a Mesos master when the cluster
# asks for it.  A cloud-init user-data part (text/x-shellscript) or a Heat
# SoftwareConfig (group: script); see docs/PACKAGING.md, "Magnum".
#
# The image has the mesos2ns1 package installed and inert.  This fragment
# writes /etc/mesos2ns1/config.json and the NS1 API key file, which is what
# turns the cron job on, only when MESOS2NS1_ENABLED is true (the cluster
# label mesos2ns1_enabled=true).  Otherwise it changes nothing.
#
# Inputs, as environment variables (Heat SoftwareConfig inputs) or, for a
# cloud-init part built with Heat's str_replace, the @@...@@ placeholders:
#   MESOS2NS1_ENABLED   "true" to enable (label mesos2ns1_enabled)
#   MESOS2NS1_ZONE      NS1 zone that receives the records (label mesos2ns1_zone)
#   MESOS2NS1_DOMAIN    domain the records are named under: the zone or a
#                       name inside it (label mesos2ns1_domain; default:
#                       mesos.<zone>, a domain of the cluster's own)
#   MESOS2NS1_NS1_KEY   NS1 API key (a hidden Heat parameter, not a label:
#                       labels are readable by everyone who can see the
#                       cluster template)
#   MESOS2NS1_ENDPOINT  NS1 API base URL (optional)
#   MESOS_MASTERS_IPS   space-separated master addresses (Magnum's heat-params);
#                       required: without it the fragment fails and enables nothing
set -eu

# Magnum's write-heat-params fragment leaves the cluster's parameters here.
if [ -r /etc/sysconfig/heat-params ]; then
    # shellcheck disable=SC1091
    . /etc/sysconfig/heat-params
fi

placeholder() { case $1 in @@*@@) echo "$2" ;; *) echo "$1" ;; esac; }
enabled=$(placeholder "${MESOS2NS1_ENABLED:-@@MESOS2NS1_ENABLED@@}" false)
zone=$(placeholder "${MESOS2NS1_ZONE:-@@MESOS2NS1_ZONE@@}" "")
domain=$(placeholder "${MESOS2NS1_DOMAIN:-@@MESOS2NS1_DOMAIN@@}" "mesos.$zone")
key=$(placeholder "${MESOS2NS1_NS1_KEY:-@@MESOS2NS1_NS1_KEY@@}" "")
endpoint=$(placeholder "${MESOS2NS1_ENDPOINT:-@@MESOS2NS1_ENDPOINT@@}" "")
masters=$(placeholder "${MESOS_MASTERS_IPS:-@@MESOS_MASTERS_IPS@@}" "")

case $enabled in
    true|True|TRUE|yes|1) ;;
    *) echo "mesos2ns1: not enabled for this cluster (mesos2ns1_enabled=$enabled)"; exit 0 ;;
esac

die() { echo "mesos2ns1: $*" >&2; exit 1; }
# Only plain names and addresses: nothing here needs JSON escaping.
echo "$zone" | grep -Eq '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$' || die "bad or missing zone '$zone'"
echo "$domain" | grep -Eq '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$' || die "bad domain '$domain'"
echo "$key" | grep -Eq '^[A-Za-z0-9_-]+$' || die "bad or missing NS1 API key"
[ -z "$endpoint" ] || echo "$endpoint" | grep -Eq '^https://[A-Za-z0-9.:/_-]+$' || die "bad endpoint '$endpoint'"
# No fallback: 127.0.0.1 would be published as master0 and in master.D.
list=
for m in $masters; do
    echo "$m" | grep -Eq '^[A-Za-z0-9.:-]+$' || die "bad master address '$m'"
    case $m in *:*) hp=$m ;; *) hp=$m:5050 ;; esac
    list="$list${list:+, }\"$hp\""
done
[ -n "$list" ] || die "no Mesos master addresses (MESOS_MASTERS_IPS is empty or unset; Magnum's heat-params should set it): not enabling"
getent passwd mesos2ns1 >/dev/null || die "the mesos2ns1 package is not installed in this image"

umask 027
tmp=$(mktemp -d /etc/mesos2ns1/.enable.XXXXXX)
printf '%s\n' "$key" > "$tmp/ns1.key"
{
    echo "{"
    echo "  \"masters\": [$list],"
    echo "  \"domain\": \"$domain\","
    echo "  \"zone\": \"$zone\","
    [ -z "$endpoint" ] || echo "  \"ns1Endpoint\": \"$endpoint\","
    echo "  \"ns1KeyFile\": \"/etc/mesos2ns1/ns1.key\""
    echo "}"
} > "$tmp/config.json"
# Every master runs the job; only the leading one publishes.
echo 'MESOS2NS1_SYNC_ARGS="--only-if-leader"' > "$tmp/environment"
for f in ns1.key environment config.json; do   # config.json last: it enables the job
    chown root:mesos2ns1 "$tmp/$f"
    chmod 0640 "$tmp/$f"
    mv -f "$tmp/$f" "/etc/mesos2ns1/$f"
done
rmdir "$tmp"
echo "mesos2ns1: enabled for zone $zone (masters: $masters)"
