# shellcheck shell=bash disable=SC2034  # sourced by tests/devcloud/start
# Heat (orchestration) for the devcloud: heat-api on 127.0.0.1:8004 and one
# heat-engine, from Debian's heat-api/heat-engine (Heat 19, Zed), on the
# devcloud's MariaDB (database heat) and RabbitMQ.
#
# Sourced by start, which calls these functions at its matching steps (they
# use start's helpers: put, auth_section, svc, wait_for, sql, manage...):
#   heat_configure   $STATE/etc/heat/{heat.conf,api-paste.ini}
#   heat_database    once per state dir: database heat + heat-manage db_sync
#                    (in the background, beside the other migrations)
#   heat_keystone    user heat (admin in project service), service
#                    orchestration + endpoints, domain heat with its admin
#                    heat_domain_admin, role heat_stack_user (background)
#   heat_start       heat-engine and heat-api (setsid, recorded, restarted
#                    only when their config changed)
#   heat_wait        heat-api answers; a heat-engine started by this run has
#                    registered itself in heat.service
# Every step is idempotent; an already running Heat adds ~0.1 s to start.

HEAT_PACKAGES="heat-api heat-engine"
HEAT_PORT=8004
HEAT_DB_JOB=""
HEAT_KEYSTONE_JOB=""

heat_configure() {
  if ! command -v heat-engine > /dev/null || [ ! -f /etc/heat/api-paste.ini ]; then
    die "Heat is not installed ($HEAT_PACKAGES); run start without DEVCLOUD_SKIP_INSTALL=1"
  fi
  mkdir -p "$E/heat" "$STATE/heat"
  put "$E/heat/api-paste.ini" < /etc/heat/api-paste.ini
  put "$E/heat/heat.conf" <<EOF
[DEFAULT]
host = devcloud
log_dir = $LOG
state_path = $STATE/heat
transport_url = rabbit://guest:guest@127.0.0.1:5672/
region_name_for_services = RegionOne
num_engine_workers = 1
graceful_shutdown_timeout = 5
# 32 characters: encrypts the credentials Heat keeps in its database
auth_encryption_key = devcloud-heat-auth-key-32-chars!
# stack users (wait conditions, software deployments) live in domain heat
stack_user_domain_name = heat
stack_domain_admin = heat_domain_admin
stack_domain_admin_password = $DEVCLOUD_SERVICE_PASSWORD
# no heat-api-cfn runs here; these URLs only end up in user_data
heat_metadata_server_url = http://127.0.0.1:8000
heat_waitcondition_server_url = http://127.0.0.1:8000/v1/waitcondition
default_log_levels = amqp=WARN,amqplib=WARN,sqlalchemy=WARN,oslo.messaging=INFO,oslo_messaging=INFO,iso8601=WARN,urllib3.connectionpool=WARN,requests.packages.urllib3.connectionpool=WARN,keystonemiddleware=WARN,routes.middleware=WARN,stevedore=WARN,keystoneauth=WARN,oslo_policy=INFO,oslo_messaging.rpc.client=ERROR
[database]
connection = $DB/heat?charset=utf8
[heat_api]
bind_host = 127.0.0.1
bind_port = $HEAT_PORT
workers = 1
[paste_deploy]
api_paste_config = $E/heat/api-paste.ini
[keystone_authtoken]
$(authtoken_section heat)
[trustee]
# no project here: heat scopes these credentials to a trust
auth_url = http://127.0.0.1:5000/v3
auth_type = password
user_domain_name = Default
username = heat
password = $DEVCLOUD_SERVICE_PASSWORD
[clients_keystone]
auth_uri = http://127.0.0.1:5000
[ec2authtoken]
auth_uri = http://127.0.0.1:5000/v3
[oslo_concurrency]
lock_path = $STATE/lock
EOF
}

# heat_database: needs MariaDB; runs beside start's own migrations
heat_database() {
  [ -f "$STATE/stamps/heat-database" ] && return 0
  log "heat: creating and migrating database heat (in the background)"
  sql "CREATE USER IF NOT EXISTS 'devcloud'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
       DROP DATABASE IF EXISTS heat; CREATE DATABASE heat CHARACTER SET utf8;
       GRANT ALL PRIVILEGES ON heat.* TO 'devcloud'@'127.0.0.1';"
  ( manage heat-manage --config-file "$E/heat/heat.conf" db_sync
    touch "$STATE/stamps/heat-database" ) & HEAT_DB_JOB=$!
}

# The Keystone side, with Debian's openstacksdk; finds before it creates.
HEAT_KEYSTONE_PY='
import os, openstack
auth = dict(auth_url="http://127.0.0.1:5000/v3", username="admin",
            password=os.environ["DEVCLOUD_ADMIN_PASSWORD"], project_name="admin",
            user_domain_name="Default", project_domain_name="Default")
idc = openstack.connect(region_name="RegionOne", **auth).identity
secret = os.environ["DEVCLOUD_SERVICE_PASSWORD"]
default = idc.find_domain("default")
admin_role = idc.find_role("admin")

def user(name, domain):
    return (idc.find_user(name, domain_id=domain.id)
            or idc.create_user(name=name, password=secret, domain_id=domain.id))

service_project = idc.find_project("service", domain_id=default.id)
idc.assign_project_role_to_user(service_project, user("heat", default), admin_role)
svc = idc.find_service("heat") or idc.create_service(name="heat", type="orchestration")
have = {e.interface for e in idc.endpoints(service_id=svc.id)}
for interface in ("public", "internal", "admin"):
    if interface not in have:
        idc.create_endpoint(service_id=svc.id, interface=interface, region_id="RegionOne",
                            url="http://127.0.0.1:8004/v1/%(tenant_id)s")
# stack users and their projects: domain heat, managed by heat_domain_admin
domain = idc.find_domain("heat") or idc.create_domain(
    name="heat", description="Heat: stack projects and users")
idc.assign_domain_role_to_user(domain, user("heat_domain_admin", domain), admin_role)
idc.find_role("heat_stack_user") or idc.create_role(name="heat_stack_user")
print("heat: user, orchestration endpoints, domain heat, role heat_stack_user ready")
'

# heat_keystone: needs Keystone and start's keystone bootstrap (project service)
heat_keystone() {
  local hash
  hash=$( { echo "$HEAT_KEYSTONE_PY"
            env | grep -E '^DEVCLOUD_(STATE|[A-Z]+_PASSWORD)=' | sort; } \
          | sha256sum | cut -c1-16)
  if [ "${DEVCLOUD_REFRESH:-0}" != 1 ] &&
     [ "$(cat "$STATE/stamps/heat-keystone" 2>/dev/null)" = "$hash" ]; then
    return 0
  fi
  log "heat: keystone user, catalog, stack domain (in the background)"
  ( manage "$PY" -P -c "$HEAT_KEYSTONE_PY"
    echo "$hash" > "$STATE/stamps/heat-keystone" ) & HEAT_KEYSTONE_JOB=$!
}

# heat_start: needs RabbitMQ, the database and the Keystone side
heat_start() {
  if [ -n "$HEAT_DB_JOB" ]; then
    wait "$HEAT_DB_JOB" || die "heat database migration failed (see $LOG/manage.log)"
    log "heat: database ready"
  fi
  if [ -n "$HEAT_KEYSTONE_JOB" ]; then
    wait "$HEAT_KEYSTONE_JOB" || die "heat keystone setup failed (see $LOG/manage.log)"
  fi
  # shellcheck disable=SC2154  # PORT: start's associative array
  PORT[heat-api]=$HEAT_PORT
  svc heat-engine "$E/heat/heat.conf" -- heat-engine --config-file "$E/heat/heat.conf"
  svc heat-api "$E/heat/heat.conf $E/heat/api-paste.ini" -- \
    heat-api --config-file "$E/heat/heat.conf"
}

# heat_engine_ready: the engine started by this run has registered itself
heat_engine_ready() {
  [ "$(sql "select count(*) from heat.service where deleted_at is null
            and created_at >= '$(cat "$RUN/heat-engine.started")'")" -gt 0 ]
}

heat_wait() {
  wait_for heat-api 120 http_ok "http://127.0.0.1:$HEAT_PORT/"
  case " $STARTED " in
    *" heat-engine "*) wait_for heat-engine 120 heat_engine_ready ;;
  esac
  log "heat answers (api on 127.0.0.1:$HEAT_PORT, engine registered)"
}
